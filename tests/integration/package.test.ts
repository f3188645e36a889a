/**
 * Crank as a stranger installs it: `npm pack` the repository, install the tarball into an empty folder, and use
 * it from plain Node (no tsx, no TypeScript), from its `crank` bin, and with a TypeScript worker module of the
 * user's own. The bin run directly is also the command the README recommends under a process manager: SIGTERM
 * to its pid drains the worker and exits 0.
 *
 * `npm install` takes the dependencies from npm's cache when it has them (`npm ci` filled it).
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, repoRoot, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const scratch = mkdtempSync(join(tmpdir(), "crank-package-"))
const app = join(scratch, "app")
const npm = (args: ReadonlyArray<string>, cwd: string): string =>
  execFileSync("npm", [...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 })

/** The installed bin, run as a process manager would: one process, no npm launcher in between. */
const bin = () => ({ command: [join(app, "node_modules/.bin/crank")], cwd: app })

beforeAll(() => {
  // dist/ was built by `npm test` before the suite; packing must not rebuild it under the other test files' feet.
  const tarball = npm(["pack", "--ignore-scripts", "--pack-destination", scratch], repoRoot).trim().split("\n").pop()!
  mkdirSync(app)
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
  npm(["install", "--prefer-offline", "--no-audit", "--no-fund", join(scratch, tarball)], app)
}, 240_000)

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe("the packed package", () => {
  it("starts a mesh and invokes from a plain Node script, printing nothing of its own", () => {
    writeFileSync(
      join(app, "main.mjs"),
      `import { defineCapability, defineWorker, implement, startMesh } from "crank-mesh"
import { Schema } from "effect"
const Add = defineCapability({ id: "math.add", version: "1.0.0", input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number })
const adder = defineWorker({ name: "adder", implements: [implement(Add, ({ a, b }) => a + b)] })
const mesh = await startMesh({ workers: [adder] })
console.log(JSON.stringify({ sum: await mesh.invoke(Add, { a: 2, b: 3 }) }))
await mesh.stop()
`,
    )
    const output = execFileSync(process.execPath, ["main.mjs"], { cwd: app, encoding: "utf8", timeout: 30_000 })
    expect(output).toBe('{"sum":5}\n')
  })

  it("exports the test kit as crank-mesh/testing", () => {
    writeFileSync(
      join(app, "kit.mjs"),
      `import { callHandler } from "crank-mesh/testing"
import { defineCapability, defineWorker, implement } from "crank-mesh"
import { Schema } from "effect"
const Twice = defineCapability({ id: "math.twice", version: "1.0.0", input: Schema.Number, output: Schema.Number })
const worker = defineWorker({ name: "twice", implements: [implement(Twice, (n) => 2 * n)] })
console.log(await callHandler(worker, Twice, 21))
`,
    )
    expect(execFileSync(process.execPath, ["kit.mjs"], { cwd: app, encoding: "utf8", timeout: 30_000 })).toBe("42\n")
  })

  it("answers npx crank --help", () => {
    const help = execFileSync("npx", ["--no-install", "crank", "--help"], { cwd: app, encoding: "utf8", timeout: 30_000 })
    expect(help).toMatch(/^Usage: crank <command>/m)
  })

  it("runs the user's TypeScript worker module; SIGTERM to the bin's pid drains it and it exits 0", async () => {
    writeFileSync(
      join(app, "shout.ts"),
      `import { defineCapability, defineWorker, implement } from "crank-mesh"
import { Schema } from "effect"
export const Shout = defineCapability({ id: "text.shout", version: "1.0.0", input: Schema.Struct({ text: Schema.String }), output: Schema.String })
export default defineWorker({ name: "shout", implements: [implement(Shout, ({ text }: { text: string }) => text.toUpperCase())] })
`,
    )
    const port = await freePort()
    const controller = `ws://127.0.0.1:${port}`
    const control = processes.start(["controller", "--insecure", "--port", String(port)], bin())
    await control.waitForLine("controller listening", 30_000)
    const worker = processes.start(["worker", "shout.ts", "--controller", controller], bin())
    await worker.waitForLine("joining", 30_000)
    await control.waitForLine(/shout-1: registered → healthy/, 30_000)
    const answer = await processes.run(["invoke", "text.shout", '{"text":"hi"}', "--json", "--controller", controller], bin())
    expect(answer.code, answer.stderr).toBe(0)
    expect(JSON.parse(answer.stdout)).toBe("HI")

    worker.child.kill("SIGTERM")
    expect(await worker.exited).toEqual({ code: 0, signal: null })
    // The controller heard it drain and leave, rather than lose it.
    await control.waitForLine(/shout-1: draining → stopped \(DRAINED\)/, 30_000)
  }, 120_000)
})
