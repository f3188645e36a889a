/**
 * The `crank` command line as a user meets it: real processes, their exit statuses and what they print.
 * Nothing here needs a running mesh; commands that would dial a controller are pointed at a closed port.
 *
 * The list of commands comes from the CLI's own table (src/cli/commands.ts), and the lifecycle states from the
 * exported machine, so a new command or state is checked without editing this file.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { workerLifecycle } from "../../actors/workerLifecycle.ts"
import { commands } from "../../src/cli/commands.ts"
import { freePort, useProcesses } from "../support/processes.ts"

const processes = useProcesses()

const states = Object.keys(workerLifecycle.config.states ?? {})

/** Runs `f` over `items`, two at a time: each is a process start, and the budget is two cores. */
const twoAtATime = async <A, B>(items: ReadonlyArray<A>, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const results: Array<B> = new Array(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await f(items[i]!)
    }
  }
  await Promise.all([lane(), lane()])
  return results
}

let closedController = ""
let scratch = ""

beforeAll(async () => {
  closedController = `ws://127.0.0.1:${await freePort()}`
  scratch = mkdtempSync(join(tmpdir(), "crank-cli-"))
})

afterAll(() => {
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true })
})

describe("crank CLI", () => {
  it("lists every command in crank --help, and each answers --help with its usage and exit 0", async () => {
    expect(commands.map((c) => c.name)).toEqual(expect.arrayContaining(["dev", "controller", "worker", "invoke", "status", "drain", "diagram"]))
    const overview = await processes.run(["--help"])
    expect(overview.code).toBe(0)
    expect(overview.stdout).toMatch(/^Usage: crank <command>/m)
    for (const command of commands) expect(overview.stdout).toMatch(new RegExp(`^  ${command.name} +\\S`, "m"))

    const helps = await twoAtATime(commands, (command) => processes.run([command.name, "--help"], { env: { CRANK_CONTROLLER_URL: closedController } }))
    helps.forEach((help, i) => {
      const command = commands[i]!
      expect({ command: command.name, code: help.code, stderr: help.stderr }).toEqual({ command: command.name, code: 0, stderr: "" })
      expect(help.stdout).toContain(`crank ${command.name}`)
      expect(help.stdout.trim()).toBe(command.usage.trim())
    })
  })

  it("exits 2 with error USAGE for no command, an unknown command, and invoke without a capability", async () => {
    const [none, unknown, bareInvoke] = await twoAtATime([[], ["frobnicate"], ["invoke"]], (args) =>
      processes.run(args, { env: { CRANK_CONTROLLER_URL: closedController } }),
    )
    expect(none!.code).toBe(2)
    expect(none!.stdout).toMatch(/^Usage: crank <command>/m)

    expect(unknown!.code).toBe(2)
    expect(unknown!.stderr).toMatch(/^error USAGE: unknown command "frobnicate"/m)

    expect(bareInvoke!.code).toBe(2)
    expect(bareInvoke!.stderr).toMatch(/^error USAGE: missing <capability/m)
    // The command's usage follows the error, so the user sees how to call it.
    expect(bareInvoke!.stderr).toContain("crank invoke <capability[@range]>")
    expect(bareInvoke!.stdout).toBe("")
  })

  it("exits 3 with error INVALID_INPUT for input that is not JSON, before dialling anything", async () => {
    const result = await processes.run(["invoke", "hello.greet", "not json"], { env: { CRANK_CONTROLLER_URL: closedController } })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^error INVALID_INPUT: input is not JSON/m)
    expect(result.stdout).toBe("")
  })

  it("draws the lifecycle machine: Mermaid on stdout with every state, SVG to a file", async () => {
    const svgFile = join(scratch, "lifecycle.svg")
    const [mermaid, svg] = await twoAtATime(
      [
        ["diagram", "--format", "mermaid"],
        ["diagram", "--format", "svg", "--out", svgFile],
      ],
      (args) => processes.run(args),
    )
    expect(states.length).toBeGreaterThan(0)

    expect(mermaid!.code).toBe(0)
    const lines = mermaid!.stdout.split("\n").map((l) => l.trim())
    expect(lines[0]).toBe("stateDiagram-v2")
    expect(lines).toContain(`[*] --> ${String(workerLifecycle.config.initial)}`)
    for (const state of states) {
      // Declared as a node, and reached or left by at least one transition.
      expect(lines, state).toContain(state)
      expect(
        lines.some((l) => l.includes("-->") && l.split(/\s+/).includes(state)),
        state,
      ).toBe(true)
    }

    expect(svg!.code).toBe(0)
    expect(svg!.stdout).toBe("")
    const text = readFileSync(svgFile, "utf8")
    expect(text).toMatch(/<svg[\s>]/)
    expect(text.trimEnd()).toMatch(/<\/svg>$/)
    for (const state of states) expect(text, state).toContain(`>${state}<`)
  })
})
