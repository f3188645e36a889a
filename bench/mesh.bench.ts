/**
 * Mesh benchmark: what one request costs through each layer of the data path, from the bare handler up to a
 * client in this process calling a worker in another process over WebSocket.
 *
 *   npx tsx bench/mesh.bench.ts          (CRANK_BENCH_SECONDS=2 per measurement by default)
 *
 * Layers, each adding one thing to the previous:
 *   handler          the hello handler's Effect, run in this fiber
 *   request server   + input decode, deadline, output encode, in-flight counting (actors/RequestServer.ts)
 *   client, memory   + client encode/decode and routing table, direct to the worker (one process, `crank dev`)
 *   client, relay    the same through the controller's relay (direct: false)
 *   client, ws       worker and controller in this process, reached over WebSocket on 127.0.0.1
 *   client, ws, procs  controller and worker in two other processes (`crank controller`, `crank worker`)
 * Sequential requests give p50/p99 latency and rate; 256 in flight give throughput. Every loop is bounded by a
 * count and by time. The numbers go to bench/RESULTS.md by hand.
 */

import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { Clock, Effect, References, Schedule } from "effect"
import { awaitWorkers } from "../actors/awaitWorkers.ts"
import * as Client from "../actors/Client.ts"
import * as RequestServer from "../actors/RequestServer.ts"
import { withTunables } from "../actors/Tunables.ts"
import { declaredError } from "../capabilities/declaredError.ts"
import { HelloGreet } from "../examples/hello/capability.ts"
import hello, { greet } from "../examples/hello/index.ts"
import * as Node from "../src/Node.ts"
import { combine } from "../transports/combine.ts"
import * as MemoryTransport from "../transports/MemoryTransport.ts"
import { Transport } from "../transports/Transport.ts"
import * as WebSocketTransport from "../transports/WebSocketTransport.ts"

const seconds = Number(process.env.CRANK_BENCH_SECONDS ?? 2)
const maxRequests = 500_000
const inFlight = 256
const input = { message: "world", options: { exclamations: 1 } }

interface Row {
  readonly layer: string
  readonly p50Us: number
  readonly p99Us: number
  readonly sequentialPerSecond: number
  readonly concurrentPerSecond: number
}

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const measure = (layer: string, request: () => Effect.Effect<unknown, unknown>): Effect.Effect<Row> =>
  Effect.gen(function* () {
    for (let i = 0; i < 5_000; i++) yield* Effect.orDie(request()) // warm-up
    const samples = new Float64Array(maxRequests)
    let n = 0
    const started = performance.now()
    const deadline = started + seconds * 1_000
    while (n < maxRequests && performance.now() < deadline) {
      const t = performance.now()
      yield* Effect.orDie(request())
      samples[n++] = performance.now() - t
    }
    const sequentialPerSecond = n / ((performance.now() - started) / 1_000)
    const sorted = samples.subarray(0, n).sort()
    let done = 0
    const concurrentStart = performance.now()
    const concurrentDeadline = concurrentStart + seconds * 1_000
    const lane = Effect.gen(function* () {
      while (done < maxRequests && performance.now() < concurrentDeadline) {
        yield* Effect.orDie(request())
        done++
      }
    })
    yield* Effect.all(
      Array.from({ length: inFlight }, () => lane),
      { concurrency: "unbounded", discard: true },
    )
    const concurrentPerSecond = done / ((performance.now() - concurrentStart) / 1_000)
    return { layer, p50Us: percentile(sorted, 0.5) * 1_000, p99Us: percentile(sorted, 0.99) * 1_000, sequentialPerSecond, concurrentPerSecond }
  })

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

const crank = (args: ReadonlyArray<string>): ChildProcess =>
  spawn(process.execPath, ["bin/crank.js", ...args], { stdio: "ignore", env: { ...process.env, CRANK_HEARTBEAT_MS: "1000" } })

const program = Effect.gen(function* () {
  const rows: Array<Row> = []
  const context = {
    requestId: "b",
    workerId: "w",
    signal: new AbortController().signal,
    error: (code: "INVALID_INPUT", message: string) => declaredError(HelloGreet, code, message),
    dataDir: tmpdir(),
  }
  rows.push(yield* measure("handler", () => Effect.sync(() => greet.handler(input, context))))

  const server = RequestServer.make({ workerId: "w", implementations: [greet], maxInFlight: 10_000, clock: yield* Clock.Clock })
  let id = 0
  rows.push(
    yield* measure("request server", () => server.serve({ _tag: "Invoke", id: String(++id), capability: "hello.greet", range: "^1", input, timeoutMs: 5_000 })),
  )

  // One process, in memory: what `crank dev` and the test kit run.
  const memory = MemoryTransport.make()
  const local = yield* Node.start({
    nodeId: "bench",
    controller: { addresses: ["memory://controller"], logTransitions: false },
    workers: [hello],
    workerListen: "memory://",
    supervision: { onEvent: undefined },
  }).pipe(Effect.provideService(Transport, memory))
  yield* awaitWorkers(local.controller()!, (ws) => ws.length === 1 && ws[0]!.state === "healthy")
  const direct = yield* Client.make({ controller: "memory://controller" }).pipe(Effect.provideService(Transport, memory))
  rows.push(yield* measure("client, memory, direct", () => direct.invoke(HelloGreet, input)))
  const relayed = yield* Client.make({ controller: "memory://controller", direct: false }).pipe(Effect.provideService(Transport, memory))
  rows.push(yield* measure("client, memory, relay", () => relayed.invoke(HelloGreet, input)))

  // One process, over WebSocket on loopback.
  const ws = combine(MemoryTransport.make(), WebSocketTransport.make())
  const port = yield* Effect.promise(freePort)
  const wsNode = yield* Node.start({
    nodeId: "bench-ws",
    controller: { addresses: [`ws://127.0.0.1:${port}`], logTransitions: false },
    workers: [hello],
    workerListen: "ws://127.0.0.1:0",
    supervision: { onEvent: undefined },
  }).pipe(Effect.provideService(Transport, ws))
  yield* awaitWorkers(wsNode.controller()!, (w) => w.length === 1 && w[0]!.state === "healthy")
  const wsDirect = yield* Client.make({ controller: `ws://127.0.0.1:${port}` }).pipe(Effect.provideService(Transport, ws))
  rows.push(yield* measure("client, ws, direct (one process)", () => wsDirect.invoke(HelloGreet, input)))
  const wsRelay = yield* Client.make({ controller: `ws://127.0.0.1:${port}`, direct: false }).pipe(Effect.provideService(Transport, ws))
  rows.push(yield* measure("client, ws, relay (one process)", () => wsRelay.invoke(HelloGreet, input)))

  // Three processes: this client, a controller, a worker.
  const remotePort = yield* Effect.promise(freePort)
  const children = [crank(["controller", "--insecure", "--port", String(remotePort)])]
  children.push(crank(["worker", "examples/hello", "--controller", `ws://127.0.0.1:${remotePort}`]))
  yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach((c) => c.kill("SIGKILL"))))
  const remote = WebSocketTransport.make()
  const probe = Effect.gen(function* () {
    const c = yield* Client.make({ controller: `ws://127.0.0.1:${remotePort}`, direct: false }).pipe(Effect.provideService(Transport, remote))
    return yield* c.invoke(HelloGreet, input)
  }).pipe(Effect.scoped)
  // Wait (bounded) for the worker process to register.
  yield* probe.pipe(Effect.retry(Schedule.spaced(200).pipe(Schedule.upTo({ times: 100 }))))
  const procDirect = yield* Client.make({ controller: `ws://127.0.0.1:${remotePort}` }).pipe(Effect.provideService(Transport, remote))
  rows.push(yield* measure("client, ws, direct (3 processes)", () => procDirect.invoke(HelloGreet, input)))
  const procRelay = yield* Client.make({ controller: `ws://127.0.0.1:${remotePort}`, direct: false }).pipe(Effect.provideService(Transport, remote))
  rows.push(yield* measure("client, ws, relay (3 processes)", () => procRelay.invoke(HelloGreet, input)))

  console.log(`node ${process.version}, ${seconds} s per measurement, ${inFlight} in flight for throughput\n`)
  console.log("| layer | p50 µs | p99 µs | sequential req/s | 256 in flight req/s |")
  console.log("|---|---:|---:|---:|---:|")
  for (const r of rows) {
    console.log(
      `| ${r.layer} | ${r.p50Us.toFixed(1)} | ${r.p99Us.toFixed(1)} | ${Math.round(r.sequentialPerSecond).toLocaleString("en")} | ${Math.round(r.concurrentPerSecond).toLocaleString("en")} |`,
    )
  }
})

await Effect.runPromise(
  program.pipe(
    withTunables({ heartbeatIntervalMs: 1_000, staleAfterMs: 4_000, evictAfterMs: 10_000 }),
    Effect.scoped,
    Effect.provideService(References.MinimumLogLevel, "Warn"),
  ),
)
process.exit(0)
