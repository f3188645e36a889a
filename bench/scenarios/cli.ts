/**
 * The command line as whole processes: what a user waits for when they type `crank --help`, or one
 * `crank invoke` against a running controller (Node's start-up, loading the built CLI, dialling, the request, a
 * clean close). Goals: `--help` under 0.3 s, `invoke` under 0.5 s. The anchor is a bare `node -e 0`, measured
 * in each row's run too, so a row can be read against the machine's own process start-up.
 *
 * Each command is spawned as `node bin/crank.js ...` (what `npx crank` runs) from the built dist/. For `invoke`,
 * a `crank dev` (a controller and two hello workers in one process) runs on a free 127.0.0.1 port, on core 0
 * when `pin`; the measured commands then run on core 1. Bounded: a fixed number of runs (7 a round, or 2 in a smoke
 * run), each with a 30 s timeout.
 */
import { awaitBuild } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"
import { type Child, freePort, percentile, start, startCrank, stopAll } from "./childProcesses.ts"

/** Wall time of `node <args>` to completion, in ms, `runs` times; it must exit 0. */
const time = async (args: ReadonlyArray<string>, runs: number, core: number | undefined): Promise<Array<number>> => {
  // The processes run dist/, which another `npm test` in this working tree may be rebuilding.
  await awaitBuild()
  const samples: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const began = performance.now()
    const child = start(process.execPath, args, { core })
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    const { code, signal } = await child.exited
    clearTimeout(timer)
    if (code !== 0) throw new Error(`node ${args.join(" ")} ended with ${code ?? signal}:\n${child.output().slice(-2_000)}`)
    samples.push(performance.now() - began)
  }
  return samples
}

const figuresOf = (samples: ReadonlyArray<number>, anchor: ReadonlyArray<number>): Figures => ({
  extra: {
    "median ms": Math.round(percentile(samples, 0.5)),
    "p90 ms": Math.round(percentile(samples, 0.9)),
    "node -e 0 median ms": Math.round(percentile(anchor, 0.5)),
    runs: samples.length,
  },
})

const runsOf = (options: RunOptions): number => (options.seconds < 0.5 ? 2 : 7)

const measure = async (options: RunOptions, args: ReadonlyArray<string>, core: number | undefined): Promise<Figures> => {
  const runs = runsOf(options)
  const anchor = await time(["-e", "0"], runs, core)
  return figuresOf(await time(args, runs, core), anchor)
}

const invoke = async (options: RunOptions): Promise<Figures> => {
  // The processes run dist/, which another `npm test` in this working tree may be rebuilding.
  await awaitBuild()
  const port = await freePort()
  const children: Array<Child> = []
  try {
    const dev = startCrank(["dev", "examples/hello", "--port", String(port)], { core: options.pin ? 0 : undefined })
    children.push(dev)
    await dev.waitFor("crank dev: controller on", 30_000)
    const args = ["bin/crank.js", "invoke", "hello.greet", '{"message":"bench"}', "--controller", `ws://127.0.0.1:${port}`]
    return await measure(options, args, options.pin ? 1 : undefined)
  } finally {
    await stopAll(children)
  }
}

export const cliScenarios: ReadonlyArray<Scenario> = [
  {
    id: "anchor.node.start",
    group: "command line",
    label: "`node -e 0` (anchor: process start-up)",
    run: async (options) => {
      const samples = await time(["-e", "0"], runsOf(options), options.pin ? 1 : undefined)
      return figuresOf(samples, samples)
    },
  },
  {
    id: "crank.cli.help",
    group: "command line",
    label: "`crank --help`",
    run: (options) => measure(options, ["bin/crank.js", "--help"], options.pin ? 1 : undefined),
  },
  {
    id: "crank.cli.invoke",
    group: "command line",
    label: "`crank invoke hello.greet` against a running controller",
    run: invoke,
  },
]
