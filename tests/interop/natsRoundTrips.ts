/**
 * How a request over NATS compares with one over WebSocket, in one process on 127.0.0.1. Not a test: it prints
 * figures (docs/nats.md quotes them).
 *
 *   npx tsx tests/interop/natsRoundTrips.ts          (CRANK_BENCH_SECONDS=2 by default per measurement)
 *
 * Starts its own nats-server on a free loopback port (tests/support/natsServer.ts) and stops it after. For each of
 * the WebSocket transport, the NATS transport and a bare NATS request/reply (`nc.request` to a subscriber that
 * answers at once: the floor NATS itself sets), it measures sequential round trips (p50/p99 latency and calls/s)
 * and throughput with 256 calls in flight, with the input `bench/transport.bench.ts` uses. Every loop is bounded by
 * a count and by time.
 */
import { connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import * as NatsTransport from "../../transports/NatsTransport.ts"
import type { Handlers, Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { startNatsServer } from "../support/natsServer.ts"

const seconds = Number(process.env.CRANK_BENCH_SECONDS ?? 2)
const maxCalls = 200_000
const inFlight = 256
const warmUp = 2_000

interface Row {
  readonly name: string
  readonly p50Us: number
  readonly p99Us: number
  readonly sequentialPerSecond: number
  readonly concurrentPerSecond: number
}

const input = { name: "world", times: 3 }
const invokeOf = (id: number): Invoke => ({ _tag: "Invoke", id: String(id), capability: "bench.echo", range: "*", input, timeoutMs: 5_000 })

const echoHandlers = (): Handlers => ({
  onMessage: () => {},
  serve: (request) => Effect.succeed<Reply>({ _tag: "Result", id: request.id, output: request.input }),
  onClose: () => {},
})

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** Sequential calls for `seconds` (at most `maxCalls`), after a warm-up: latency percentiles and rate. */
const sequential = async (call: (id: number) => Promise<unknown>) => {
  for (let i = 0; i < warmUp; i++) await call(i)
  const samples = new Float64Array(maxCalls)
  const started = performance.now()
  const deadline = started + seconds * 1_000
  let n = 0
  while (n < maxCalls) {
    const t0 = performance.now()
    await call(n)
    const t1 = performance.now()
    samples[n++] = t1 - t0
    if (t1 > deadline) break
  }
  const elapsed = performance.now() - started
  const sorted = samples.subarray(0, n).sort()
  return { p50Us: percentile(sorted, 0.5) * 1_000, p99Us: percentile(sorted, 0.99) * 1_000, perSecond: (n / elapsed) * 1_000 }
}

/** `inFlight` callers sharing a budget of `seconds` and `maxCalls`: calls/s. */
const concurrent = async (call: (id: number) => Promise<unknown>) => {
  let next = 0
  const started = performance.now()
  const deadline = started + seconds * 1_000
  const worker = async () => {
    while (next < maxCalls && performance.now() < deadline) await call(next++)
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return (next / (performance.now() - started)) * 1_000
}

const row = async (name: string, call: (id: number) => Promise<unknown>): Promise<Row> => {
  const seq = await sequential(call)
  const perSecond = await concurrent(call)
  return { name, p50Us: seq.p50Us, p99Us: seq.p99Us, sequentialPerSecond: seq.perSecond, concurrentPerSecond: perSecond }
}

/** A transport's echo: a listener and one connection, each call an `Effect.runPromise` of `connection.call`. */
const measureTransport = (name: string, transport: Transport, address: string): Promise<Row> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const listener = yield* transport.listen(address, echoHandlers)
        const connection = yield* transport.connect(listener.address, echoHandlers)
        return yield* Effect.promise(() =>
          row(name, (id) =>
            Effect.runPromise(connection.call(invokeOf(id))).then((reply) => {
              if (reply._tag !== "Result") throw new Error(`${name}: ${JSON.stringify(reply)}`)
            }),
          ),
        )
      }),
    ),
  )

/** The floor: `nc.request` to a subscriber on the same server that answers each message with its own bytes. */
const measureRawNats = async (server: string): Promise<Row> => {
  const responder = await natsConnect({ servers: server })
  const caller = await natsConnect({ servers: server })
  try {
    responder.subscribe("bench.echo", { callback: (_error, msg) => void msg.respond(msg.data) })
    await responder.flush()
    const frame = JSON.stringify(invokeOf(1))
    return await row("bare NATS request/reply (floor)", () => caller.request("bench.echo", frame, { timeout: 5_000 }))
  } finally {
    await caller.close()
    await responder.close()
  }
}

const nats = await startNatsServer()
try {
  const rows = [
    await measureTransport("WebSocketTransport", WebSocketTransport.make(), "ws://127.0.0.1:0/bench"),
    await measureTransport("NatsTransport", NatsTransport.make(), `${nats.url}/bench`),
    await measureRawNats(`127.0.0.1:${nats.port}`),
  ]
  const fixed = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
  console.log(`Node ${process.version}, ${seconds} s per measurement, ${inFlight} in flight for throughput`)
  console.log("| path | p50 µs | p99 µs | sequential calls/s | calls/s, 256 in flight |")
  console.log("|------|-------:|-------:|-------------------:|-----------------------:|")
  for (const r of rows) {
    console.log(`| ${r.name} | ${fixed(r.p50Us)} | ${fixed(r.p99Us)} | ${fixed(r.sequentialPerSecond)} | ${fixed(r.concurrentPerSecond)} |`)
  }
} finally {
  await nats.stop()
}
