/**
 * Scale: one controller, in its own process, tracking 1,000 and then 10,000 registered workers that heartbeat
 * every second; what it costs the controller: its CPU share (utime + stime from /proc over a steady interval, as
 * % of one core) and its memory per worker ((RSS with N workers − RSS idle) ÷ N). The goal: 10,000
 * workers under 25 % of one core and under 2 KiB per worker.
 *
 * The workers are simulated (simulatedWorkers.mjs): one WebSocket each, a real `Register` frame with the
 * descriptor of `hello.greet`, then a `Heartbeat` every second, spread over the second. Up to 5,000 per load
 * process. With `pin`, the controller runs on core 0 and the load on core 1.
 *
 * Bounded: registration may take at most 45 s (10 s in a smoke run); what was reached is reported either way.
 * The smoke run (`seconds` < 0.5) simulates 50 workers and measures for a moment.
 */
import { descriptorOf } from "../../capabilities/Capability.ts"
import { awaitBuild } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"
import { awaitControllerUp, type Child, cpuMs, freePort, healthyWorkers, rssBytes, sleep, start, startCrank, stopAll, until } from "./childProcesses.ts"

const perLoadProcess = 5_000
const openFiles = 65_536

/** The load processes' last progress lines, summed: `opened N registered N closed N`. */
const socketsOf = (loads: ReadonlyArray<Child>): { opened: number; registered: number; closed: number } => {
  let opened = 0
  let registered = 0
  let closed = 0
  for (const load of loads) {
    const lines = [...load.output().matchAll(/opened (\d+) registered (\d+) closed (\d+)/g)]
    const last = lines.at(-1)
    opened += Number(last?.[1] ?? 0)
    registered += Number(last?.[2] ?? 0)
    closed += Number(last?.[3] ?? 0)
  }
  return { opened, registered, closed }
}

const simulate = async (workers: number, options: RunOptions): Promise<Figures> => {
  const smoke = options.seconds < 0.5
  const count = smoke ? Math.min(workers, 50) : workers
  const registrationBudgetMs = smoke ? 10_000 : 45_000
  const steadyMs = smoke ? 0 : 3_000
  const measureMs = smoke ? 300 : Math.max(3_000, options.seconds * 1_000)
  // The processes run dist/, which another `npm test` in this working tree may be rebuilding.
  await awaitBuild()
  const port = await freePort()
  const httpBase = `http://127.0.0.1:${port}`
  const children: Array<Child> = []
  try {
    const controller = startCrank(
      ["controller", "--insecure", "--port", String(port), "--heartbeat-ms", "1000", "--stale-after-ms", "4000", "--evict-after-ms", "10000"],
      {
        core: options.pin ? 0 : undefined,
        openFiles,
      },
    )
    children.push(controller)
    await awaitControllerUp(controller, httpBase)
    // Idle: let start-up garbage settle before the baseline.
    await sleep(smoke ? 100 : 1_000)
    const idleRss = rssBytes(controller.pid)

    // Imported here, not at the top: the example imports `crank-mesh`, which resolves to dist/ (awaited above).
    const { HelloGreet } = await import("../../examples/hello/capability.ts")
    const descriptor = JSON.stringify(descriptorOf(HelloGreet))
    const loads: Array<Child> = []
    const cpuAtStart = cpuMs(controller.pid)
    const began = performance.now()
    for (let first = 0, n = 0; first < count; first += perLoadProcess, n++) {
      const size = Math.min(perLoadProcess, count - first)
      loads.push(
        start(process.execPath, ["bench/scenarios/simulatedWorkers.mjs", `ws://127.0.0.1:${port}`, String(size), String(first), `sim-node-${n}`], {
          core: options.pin ? 1 : undefined,
          openFiles,
          env: { BENCH_DESCRIPTOR: descriptor },
        }),
      )
      children.push(loads.at(-1)!)
    }
    let healthy = 0
    const allHealthy = await until(
      async () => {
        healthy = await healthyWorkers(httpBase)
        return healthy >= count
      },
      registrationBudgetMs,
      // /metrics lists every worker: asking often would load the controller being measured.
      smoke ? 50 : count > 2_000 ? 1_000 : 500,
    )
    const registrationMs = performance.now() - began
    const registrationCpu = (cpuMs(controller.pid) - cpuAtStart) / registrationMs
    await sleep(steadyMs)

    // The measurement: no polling of the controller inside the interval.
    const cpuBefore = cpuMs(controller.pid)
    const t0 = performance.now()
    await sleep(measureMs)
    const cpuAfter = cpuMs(controller.pid)
    const wallMs = performance.now() - t0
    const rss = rssBytes(controller.pid)
    const healthyAfter = await healthyWorkers(httpBase, 10_000).catch(() => Number.NaN)
    const sockets = socketsOf(loads)
    return {
      extra: {
        workers: count,
        "workers healthy": healthyAfter,
        "cpu % of one core": Math.round(((cpuAfter - cpuBefore) / wallMs) * 1_000) / 10,
        // Per worker the controller holds: accepted and still connected, as the load side counts them.
        "bytes per worker": Math.round((rss - idleRss) / Math.max(1, sockets.registered)),
        "controller RSS MiB": Math.round(rss / 104_857.6) / 10,
        "idle RSS MiB": Math.round(idleRss / 104_857.6) / 10,
        [allHealthy ? "s to all healthy" : "s spent registering (budget ran out)"]: Math.round(registrationMs / 100) / 10,
        "cpu % while registering": Math.round(registrationCpu * 1_000) / 10,
        "registered (load side)": sockets.registered,
        "sockets closed (load side)": sockets.closed,
      },
    }
  } finally {
    await stopAll(children)
  }
}

export const scaleScenarios: ReadonlyArray<Scenario> = [1_000, 10_000].map((workers) => ({
  id: `crank.scale.${workers}`,
  group: "scale",
  label: `controller tracking ${workers.toLocaleString("en")} workers, 1 s heartbeats`,
  run: (options: RunOptions) => simulate(workers, options),
}))
