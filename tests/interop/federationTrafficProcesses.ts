/**
 * Controller traffic on the federation's subjects with 3 controllers and 1,000 workers, the workers in processes of
 * their own. Not a test: it prints figures (docs/federation.md quotes them).
 *
 *   npx tsx tests/interop/federationTrafficProcesses.ts      (CRANK_FED_WORKERS=999 by default, split over the three)
 *
 * tests/interop/federationTraffic.ts runs everything in one process; with about 1,000 workers there, the workers'
 * own beats saturated the two cores and the figures meant nothing. Here this process holds only the
 * three controllers (federated with the default timings: 1 s Alive, 250 ms delta check) on ws://127.0.0.1:0, and
 * each controller's workers run as one `crank worker examples/hello --replicas N/3` process, as they would be
 * deployed. Workers beat every `CRANK_FED_HEARTBEAT_MS` (default 5 s, so 200 beats a second reach the three
 * controllers together; the production default is 30 s).
 *
 * It counts what each controller sent (and received) on the federation subjects, from `Federation.traffic()`:
 * while the workers join (from spawning the processes until every worker is healthy, plus 1 s), then idle for
 * `CRANK_FED_WINDOW_MS` (default 10 s). It also prints the load average and this process's CPU share over the idle
 * window, so a reader can see whether the machine was saturated. Every wait is bounded; the worker processes and
 * nats-server are stopped at the end whatever happened.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { Effect, Exit, References, Scope } from "effect"
import * as Controller from "../../actors/Controller.ts"
import * as Federation from "../../actors/Federation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { startNatsServer } from "../support/natsServer.ts"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const totalWorkers = Number(process.env.CRANK_FED_WORKERS ?? "999")
const heartbeatIntervalMs = Number(process.env.CRANK_FED_HEARTBEAT_MS ?? "5000")
const windowMs = Number(process.env.CRANK_FED_WINDOW_MS ?? "10000")
const joinTimeoutMs = 180_000
const ids = ["a", "b", "c"] as const
const perController = Math.round(totalWorkers / ids.length)

interface Counts {
  readonly messages: number
  readonly bytes: number
}
const minus = (now: Counts, then: Counts): Counts => ({ messages: now.messages - then.messages, bytes: now.bytes - then.bytes })
const perSecond = (c: Counts, ms: number) => ({
  messagesPerSecond: +((c.messages * 1_000) / ms).toFixed(2),
  bytesPerSecond: Math.round((c.bytes * 1_000) / ms),
})

/** One `crank worker` process of `replicas` hello workers for the controller at `address`. */
const workerProcess = (address: string, node: string): ChildProcess => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("CRANK_")) env[key] = value
  const child = spawn(
    process.execPath,
    ["bin/crank.js", "worker", "examples/hello", "--replicas", String(perController), "--controller", address, "--node", node],
    { cwd: repoRoot, env: { ...env, NO_COLOR: "1" }, stdio: ["ignore", "ignore", "pipe"] },
  )
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4_000)))
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal === null) console.error(`worker process ${node} exited ${code}:\n${stderr}`)
  })
  return child
}

const stopProcess = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** Runs in the caller's scope, so the controllers outlive the worker processes (stopped first, they drain cleanly). */
const measure = (natsUrl: string, children: Array<ChildProcess>) =>
  Effect.gen(function* () {
    const running = yield* Effect.forEach(ids, (id) =>
      Effect.gen(function* () {
        const federation = yield* Federation.make({ nats: natsUrl, controllerId: id })
        const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:0"], elsewhere: federation.elsewhere })
        yield* federation.join(controller)
        return { id, federation, controller }
      }).pipe(Effect.orDie),
    )
    const sent = () => running.map((r) => r.federation.traffic().sent)
    const received = () => running.map((r) => r.federation.traffic().received)
    const healthy = () => running.map((r) => r.controller.workers().filter((w) => w.state === "healthy").length)
    yield* Effect.sleep(1_500)

    const beforeJoin = { sent: sent(), received: received() }
    const joinStarted = Date.now()
    for (const r of running) children.push(workerProcess(r.controller.address, `node-${r.id}`))
    while (healthy().some((n) => n < perController) && Date.now() - joinStarted < joinTimeoutMs) yield* Effect.sleep(100)
    const joinedAfterMs = Date.now() - joinStarted
    if (healthy().some((n) => n < perController)) return yield* Effect.die(new Error(`workers not all healthy after ${joinTimeoutMs} ms: ${healthy()}`))
    yield* Effect.sleep(1_000)
    const joinMs = Date.now() - joinStarted
    const join = sent().map((now, i) => minus(now, beforeJoin.sent[i]!))

    const beforeIdle = { sent: sent(), received: received(), cpu: process.cpuUsage(), at: Date.now() }
    yield* Effect.sleep(windowMs)
    const idleMs = Date.now() - beforeIdle.at
    const cpu = process.cpuUsage(beforeIdle.cpu)
    const idleSent = sent().map((now, i) => perSecond(minus(now, beforeIdle.sent[i]!), idleMs))
    const idleReceived = received().map((now, i) => perSecond(minus(now, beforeIdle.received[i]!), idleMs))
    return {
      workers: perController * ids.length,
      workerHeartbeatMs: heartbeatIntervalMs,
      healthy: healthy(),
      joinedAfterMs,
      join: join.map((c, i) => ({ controller: ids[i], messages: c.messages, bytes: c.bytes, ...perSecond(c, joinMs) })),
      idleSent: idleSent.map((c, i) => ({ controller: ids[i], ...c })),
      idleReceived: idleReceived.map((c, i) => ({ controller: ids[i], ...c })),
      controllersCpuPercentOfOneCore: +(((cpu.user + cpu.system) / 1_000 / idleMs) * 100).toFixed(1),
      loadAverage1m: +loadavg()[0]!.toFixed(2),
    }
  }).pipe(
    withTunables({ heartbeatIntervalMs, staleAfterMs: 4 * heartbeatIntervalMs }),
    Effect.provideService(Transport, WebSocketTransport.make()),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
  )

const server = await startNatsServer()
const children: Array<ChildProcess> = []
try {
  const scope = Effect.runSync(Scope.make())
  try {
    console.log(JSON.stringify(await Effect.runPromise(Scope.provide(measure(server.url, children), scope))))
  } finally {
    await Promise.all(children.map(stopProcess))
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
} finally {
  await server.stop()
}
