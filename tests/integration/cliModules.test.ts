/**
 * The CLI as a worker author meets it: `crank new worker` scaffolds a worker whose contract test passes as
 * generated and is found by the repository's own test run; `crank dev <module>` serves any worker module through
 * the same loader as `crank worker`; a module that fails to load, an unknown option and an unreachable controller
 * each say what went wrong and what to do. Real processes, 127.0.0.1 only.
 */
import { spawn } from "node:child_process"
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort, repoRoot, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const scratch = join(repoRoot, "tmp", `cli-modules-${process.pid}`)
const made: Array<string> = []

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true })
  for (const folder of made) rmSync(folder, { recursive: true, force: true })
})

/** Runs vitest in its own process with the repository's config, as `npm test` does; resolves with its output. */
const vitest = (args: ReadonlyArray<string>): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, "node_modules/vitest/vitest.mjs"), "run", ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1", CI: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })

describe("crank new worker", () => {
  it("scaffolds a worker whose contract tests pass as generated and are found by the repository's test run", async () => {
    const name = `scaffolded${process.pid}`
    // workers/ is where the command puts workers by default, and where the repository's vitest config looks.
    const folder = join(repoRoot, "workers", name)
    made.push(folder)
    const created = await processes.run(["new", "worker", name])
    expect(created.code, created.stderr).toBe(0)
    expect(readdirSync(folder).sort()).toEqual(["README.md", "capability.ts", "index.ts", `${name}.test.ts`])
    expect(created.stdout).toContain(`created workers/${name}/index.ts`)

    const run = await vitest([`workers/${name}/`])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/Tests\s+4 passed \(4\)/)

    const again = await processes.run(["new", "worker", name])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/^error USAGE: .*already exists/m)
  }, 120_000)

  it("refuses a name that cannot be a capability id", async () => {
    const result = await processes.run(["new", "worker", "Bad_Name", "--in", scratch])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^error USAGE: "Bad_Name" is not a worker name/m)
  })
})

describe("crank dev <module>", () => {
  it("serves the worker a module exports, found through the same loader as crank worker", async () => {
    const port = await freePort()
    const dev = processes.start(["dev", "examples/hello", "--port", String(port), "--replicas", "1"])
    // The catalog, as the controller sees it once the worker is healthy: one hello.greet worker.
    await dev.waitForLine(/^hello\.greet\s+1\.0\.0\s+1\s/, 30_000)
    const answer = await processes.run(["invoke", "hello.greet", '{"message":"dev"}', "--json", "--controller", `ws://127.0.0.1:${port}`])
    expect(answer.code, answer.stderr).toBe(0)
    expect(JSON.parse(answer.stdout)).toEqual({ greeting: "Hello, dev", worker: "dev/hello-1" })
  }, 60_000)

  it("streams a streaming capability's items as JSON lines with invoke --stream, and says to use it otherwise", async () => {
    const port = await freePort()
    const dev = processes.start(["dev", "tests/support/countWorker.ts", "--port", String(port), "--replicas", "1"])
    await dev.waitForLine(/^test\.count\s+1\.0\.0\s+1\s/, 30_000)
    const controller = `ws://127.0.0.1:${port}`
    const streamed = await processes.run(["invoke", "test.count", '{"to":5}', "--stream", "--controller", controller])
    expect(streamed.code, streamed.stderr).toBe(0)
    expect(
      streamed.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })))
    const unary = await processes.run(["invoke", "test.count", '{"to":5}', "--controller", controller])
    expect(unary.code).toBe(3)
    expect(unary.stderr).toMatch(/^error INVALID_INPUT: test\.count@1\.0\.0 answers with a stream: .*crank invoke --stream/m)
  }, 60_000)

  it("runs every worker a module lists in its `workers` export: both registrations of image.classify", async () => {
    const port = await freePort()
    const dev = processes.start(["dev", "examples/image-classify", "--port", String(port), "--replicas", "1"])
    await dev.waitForLine(/^image\.classify\s+1\.0\.0\s+2\s/, 30_000)
    const status = await processes.run(["status", "--json", "--controller", `ws://127.0.0.1:${port}`])
    expect(status.code, status.stderr).toBe(0)
    const ids = (JSON.parse(status.stdout) as { workers: Array<{ id: string }> }).workers.map((w) => w.id).sort()
    expect(ids).toEqual(["dev/image-classify-1", "dev/image-classify-gpu-1"])
  }, 60_000)

  it("is a usage error for an unknown option, and for a module that is not there", async () => {
    const [option, missing] = await Promise.all([processes.run(["dev", "--frobnicate"]), processes.run(["dev", join(scratch, "nowhere")])])
    expect(option.code).toBe(2)
    expect(option.stderr).toMatch(/^error USAGE: Unknown option '--frobnicate'/m)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^error USAGE: no worker module at /m)
  })

  it("reports a module that throws on import with its path and error, under its own exit code", async () => {
    mkdirSync(scratch, { recursive: true })
    const broken = join(scratch, "broken.mjs")
    writeFileSync(broken, 'throw new Error("boom while importing")\n')
    const notAWorker = join(scratch, "empty.mjs")
    writeFileSync(notAWorker, "export const nothing = 1\n")
    const [dev, worker] = await Promise.all([processes.run(["dev", broken]), processes.run(["worker", notAWorker])])
    expect(dev.code).toBe(14)
    expect(dev.stderr).toContain(`error WORKER_MODULE: cannot load the worker module ${broken}: Error: boom while importing`)
    expect(worker.code).toBe(14)
    expect(worker.stderr).toContain(`error WORKER_MODULE: ${notAWorker} does not export a worker`)
  })
})

describe("an unreachable controller", () => {
  it("is UNAVAILABLE with the next step to take", async () => {
    const closed = `ws://127.0.0.1:${await freePort()}`
    const result = await processes.run(["invoke", "hello.greet", "{}", "--controller", closed])
    expect(result.code).toBe(6)
    expect(result.stderr).toMatch(/^error UNAVAILABLE: /m)
    expect(result.stderr).toContain("is a controller running there? Start one with `crank controller`")
    expect(result.stderr).toContain("--controller URL (env CRANK_CONTROLLER_URL)")
  })
})
