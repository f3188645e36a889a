/**
 * Failure detection, with real processes:
 *
 * - a worker process (`crank worker examples/hello`) is SIGKILLed: how long until the controller (its own
 *   process) takes it out of the healthy set, read from the controller's `/api/events` stream (the first
 *   `transition` event of that worker out of `healthy`), timed from the kill with `performance.now()` in the bench;
 *   beside it, how long until the worker's exit reaches the parent (the OS's share: the socket closes then). The
 *   issue's goal: out of the healthy set within 50 ms of its socket closing. Three kills a round (one in a smoke run),
 *   medians; the workers start together, then die one at a time.
 * - `npm start` (`node bin/crank.js dev`): from spawn to the line `crank dev: controller on`, which the dev
 *   command prints once every example worker is healthy. Goal: under 2 s. Measured both through `npm start` and
 *   as `node bin/crank.js dev` (npm's own start-up is the difference).
 *
 * With `pin`, the controller runs on core 0 and the workers on core 1.
 */
import { request } from "node:http"
import { awaitBuild } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"
import { awaitControllerUp, type Child, freePort, percentile, sleep, start, startCrank, stopAll, until } from "./childProcesses.ts"

interface Transition {
  readonly workerId: string
  readonly from: string
  readonly to: string
  /** performance.now() in this process when the event arrived. */
  readonly seenAt: number
}

/** Follows `/api/events`, keeping every `transition` event with the time it arrived. */
const followTransitions = (httpBase: string): Promise<{ readonly seen: Array<Transition>; readonly close: () => void }> =>
  new Promise((resolve, reject) => {
    const seen: Array<Transition> = []
    const req = request(`${httpBase}/api/events`, { headers: { accept: "text/event-stream" } }, (response) => {
      if (response.statusCode !== 200) return reject(new Error(`GET /api/events: ${response.statusCode}`))
      let buffer = ""
      response.setEncoding("utf8").on("data", (chunk: string) => {
        const at = performance.now()
        buffer += chunk
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = frame.split("\n")
          if (!lines.includes("event: transition")) continue
          const data = lines.find((line) => line.startsWith("data: "))
          if (data === undefined) continue
          const event = JSON.parse(data.slice(6)) as { workerId: string; from: string; to: string }
          seen.push({ workerId: event.workerId, from: event.from, to: event.to, seenAt: at })
        }
      })
      response.on("error", () => undefined)
      resolve({ seen, close: () => req.destroy() })
    })
    req.on("error", reject)
    req.setTimeout(10_000, () => req.destroy(new Error("GET /api/events: no answer in 10 s")))
    req.end()
  })

const round = (ms: number): number => Math.round(ms * 10) / 10

const killDetection = async (options: RunOptions): Promise<Figures> => {
  const kills = options.seconds < 0.5 ? 1 : 3
  // The processes run dist/, which another `npm test` in this working tree may be rebuilding.
  await awaitBuild()
  const port = await freePort()
  const httpBase = `http://127.0.0.1:${port}`
  const children: Array<Child> = []
  let stream: { readonly seen: Array<Transition>; readonly close: () => void } | undefined
  try {
    const controller = startCrank(
      ["controller", "--insecure", "--port", String(port), "--heartbeat-ms", "1000", "--stale-after-ms", "4000", "--evict-after-ms", "10000"],
      {
        core: options.pin ? 0 : undefined,
      },
    )
    children.push(controller)
    await awaitControllerUp(controller, httpBase)
    stream = await followTransitions(httpBase)
    const seen = stream.seen
    const workers = Array.from({ length: kills }, (_, i) => {
      const node = `bench-kill-${i}`
      const child = startCrank(["worker", "examples/hello", "--controller", `ws://127.0.0.1:${port}`, "--node", node], { core: options.pin ? 1 : undefined })
      children.push(child)
      return { node, child }
    })
    const healthy = (node: string) => seen.some((t) => t.workerId.startsWith(`${node}/`) && t.to === "healthy")
    if (!(await until(async () => workers.every((w) => healthy(w.node)), 30_000, 20)))
      throw new Error(`workers not healthy within 30 s:\n${workers.map((w) => w.child.output()).join("\n")}`)
    await sleep(200)

    const outOfHealthy: Array<number> = []
    const exitSeen: Array<number> = []
    for (const worker of workers) {
      const killedAt = performance.now()
      worker.child.kill("SIGKILL")
      const exited = await worker.child.exited
      exitSeen.push(exited.at - killedAt)
      const left = () => seen.find((t) => t.workerId.startsWith(`${worker.node}/`) && t.from === "healthy" && t.seenAt >= killedAt)
      if (await until(async () => left() !== undefined, 10_000, 1)) outOfHealthy.push(left()!.seenAt - killedAt)
      await sleep(100)
    }
    return {
      extra: {
        kills,
        "ms kill → out of healthy set (median)": round(percentile(outOfHealthy, 0.5)),
        "ms kill → out of healthy set (max)": round(Math.max(...outOfHealthy)),
        "ms kill → exit seen by parent (median)": round(percentile(exitSeen, 0.5)),
        "ms exit → out of healthy set (median)": round(percentile(outOfHealthy, 0.5) - percentile(exitSeen, 0.5)),
        detected: outOfHealthy.length,
      },
    }
  } finally {
    stream?.close()
    await stopAll(children)
  }
}

/**
 * Spawn to `crank dev: all N workers healthy`, in ms, `runs` times, through `command`, after one start that is not
 * measured: the first start on a machine trains the email classifier's model (tens of seconds), later ones load it.
 */
const devStart = async (command: "npm" | "node", runs: number): Promise<Array<number>> => {
  // The processes run dist/, which another `npm test` in this working tree may be rebuilding.
  await awaitBuild()
  const samples: Array<number> = []
  for (let i = -1; i < runs; i++) {
    const port = await freePort()
    const began = performance.now()
    // `npm start` runs `exec node bin/crank.js dev` in a shell of its own: its own process group, killed whole.
    const child =
      command === "npm" ? start("npm", ["start", "--silent", "--", "--port", String(port)], { detached: true }) : startCrank(["dev", "--port", String(port)])
    try {
      await child.waitFor(/crank dev: all \d+ workers healthy/, i < 0 ? 300_000 : 30_000)
      if (i >= 0) samples.push(performance.now() - began)
    } finally {
      await stopAll([child])
    }
  }
  return samples
}

const devStartScenario = async (options: RunOptions): Promise<Figures> => {
  const runs = options.seconds < 0.5 ? 1 : 2
  const npm = await devStart("npm", runs)
  const node = await devStart("node", runs)
  return {
    extra: {
      "ms npm start → all healthy (median)": Math.round(percentile(npm, 0.5)),
      "ms node bin/crank.js dev → all healthy (median)": Math.round(percentile(node, 0.5)),
      runs,
    },
  }
}

export const failureScenarios: ReadonlyArray<Scenario> = [
  { id: "crank.failure.sigkill", group: "failure detection", label: "SIGKILL of a worker process → out of the healthy set", run: killDetection },
  { id: "crank.failure.dev-start", group: "failure detection", label: "`npm start` → every example worker healthy", run: devStartScenario },
]
