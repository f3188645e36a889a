/**
 * What mutual TLS costs the WebSocket transport, printed (not asserted):
 *
 *   node --import tsx tests/transports/measureTls.ts [seconds per measurement, default 2] [rounds, default 2]
 *
 * In one process on 127.0.0.1, the same echo request (bench/transport.bench.ts's input) over `ws://` and over
 * `wss://` with client certificates from a CA made here: sequential calls (p50/p99 latency, calls/s, and CPU time
 * per call from `process.cpuUsage`, which a machine shared with other work disturbs less than the wall clock), and
 * calls/s with 256 in flight. Then what opening a connection costs: `connect` until the link is usable, for `ws://`,
 * mutual TLS, and a bootstrap dial pinned by CA fingerprint. The two transports alternate `rounds` times so that
 * drift in the machine's load hits both. Every loop is bounded by a count and by time.
 */
import { Effect } from "effect"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import type { Handlers } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { issue, makeCa } from "./tlsFixtures.ts"

const seconds = Number(process.argv[2] ?? 2)
const rounds = Number(process.argv[3] ?? 2)
const maxCalls = 200_000
const inFlight = 256
const dials = 200

const input = { name: "world", times: 3 }
const invokeOf = (id: number): Invoke => ({ _tag: "Invoke", id: String(id), capability: "bench.echo", range: "*", input, timeoutMs: 5_000 })
const echo = (): Handlers => ({
  onMessage: () => {},
  serve: (request) => Effect.succeed<Reply>({ _tag: "Result", id: request.id, output: request.input }),
  onClose: () => {},
})

const ca = await makeCa()
const controller = await issue(ca, { role: "controller", id: "ctl" })
const worker = await issue(ca, { role: "worker", id: "w1" })
const pin = WebSocketTransport.caFingerprintOf(ca.certificatePem)

interface Side {
  readonly name: string
  readonly server: WebSocketTransport.WebSocketTransport
  readonly client: WebSocketTransport.WebSocketTransport
  readonly address: string
}

const sides: ReadonlyArray<Side> = [
  { name: "ws://", server: WebSocketTransport.make(), client: WebSocketTransport.make(), address: "ws://127.0.0.1:0" },
  {
    name: "wss:// mutual TLS",
    server: WebSocketTransport.make({ tls: { credentials: () => controller, allowAnonymous: true } }),
    client: WebSocketTransport.make({ tls: { credentials: () => worker, expectServer: { role: "controller" } } }),
    address: "wss://127.0.0.1:0",
  },
]

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const cpuUs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since)
  return used.user + used.system
}

const measureCalls = (side: Side) =>
  Effect.scoped(
    Effect.gen(function* () {
      const listener = yield* side.server.listen(side.address, echo)
      const connection = yield* side.client.connect(listener.address, echo)
      for (let i = 0; i < 2_000; i++) yield* connection.call(invokeOf(i))
      const samples = new Float64Array(maxCalls)
      const cpuBefore = process.cpuUsage()
      const started = performance.now()
      const deadline = started + seconds * 1_000
      let n = 0
      while (n < maxCalls) {
        const t0 = performance.now()
        yield* connection.call(invokeOf(n))
        const t1 = performance.now()
        samples[n++] = t1 - t0
        if (t1 > deadline) break
      }
      const elapsed = performance.now() - started
      const cpuPerCall = cpuUs(cpuBefore) / n
      const sorted = samples.subarray(0, n).sort()

      let next = 0
      const concurrentStarted = performance.now()
      const concurrentCpu = process.cpuUsage()
      const caller = Effect.gen(function* () {
        while (next < maxCalls && performance.now() < concurrentStarted + seconds * 1_000) yield* connection.call(invokeOf(next++))
      })
      yield* Effect.forEach(Array.from({ length: inFlight }), () => caller, { concurrency: "unbounded", discard: true })
      const concurrentPerSecond = (next / (performance.now() - concurrentStarted)) * 1_000
      const concurrentCpuPerCall = cpuUs(concurrentCpu) / next
      return {
        p50Us: percentile(sorted, 0.5) * 1_000,
        p99Us: percentile(sorted, 0.99) * 1_000,
        perSecond: (n / elapsed) * 1_000,
        cpuPerCall,
        concurrentPerSecond,
        concurrentCpuPerCall,
      }
    }),
  )

/** `connect` until the link answers a call, then close: per dial, wall and CPU. */
const measureDials = (name: string, server: WebSocketTransport.WebSocketTransport, address: string, client: WebSocketTransport.WebSocketTransport) =>
  Effect.scoped(
    Effect.gen(function* () {
      const listener = yield* server.listen(address, echo)
      const once = Effect.scoped(Effect.flatMap(client.connect(listener.address, echo), (connection) => connection.call(invokeOf(0))))
      for (let i = 0; i < 20; i++) yield* once
      const times = new Float64Array(dials)
      const cpuBefore = process.cpuUsage()
      for (let i = 0; i < dials; i++) {
        const t0 = performance.now()
        yield* once
        times[i] = performance.now() - t0
      }
      const cpuPerDial = cpuUs(cpuBefore) / dials / 1_000
      const sorted = times.sort()
      console.log(
        `  ${name.padEnd(34)} p50 ${percentile(sorted, 0.5).toFixed(2)} ms  p90 ${percentile(sorted, 0.9).toFixed(2)} ms  cpu ${cpuPerDial.toFixed(2)} ms/dial (both ends, ${dials} dials)`,
      )
    }),
  )

const program = Effect.gen(function* () {
  console.log(`calls (echo, one connection, ${seconds} s each, ${rounds} rounds alternating):`)
  for (let round = 1; round <= rounds; round++) {
    for (const side of sides) {
      const row = yield* measureCalls(side)
      console.log(
        `  ${side.name.padEnd(18)} sequential p50 ${row.p50Us.toFixed(1)} µs  p99 ${row.p99Us.toFixed(1)} µs  ${Math.round(row.perSecond)} calls/s  cpu ${row.cpuPerCall.toFixed(1)} µs/call` +
          ` | ${inFlight} in flight ${Math.round(row.concurrentPerSecond)} calls/s  cpu ${row.concurrentCpuPerCall.toFixed(1)} µs/call  (round ${round})`,
      )
    }
  }
  console.log("opening a connection (connect + first call + close):")
  yield* measureDials("ws://", sides[0]!.server, "ws://127.0.0.1:0", sides[0]!.client)
  yield* measureDials("wss:// mutual TLS", sides[1]!.server, "wss://127.0.0.1:0", sides[1]!.client)
  yield* measureDials(
    "wss:// bootstrap, pinned, no client cert",
    sides[1]!.server,
    "wss://127.0.0.1:0",
    WebSocketTransport.make({ tls: { credentials: () => undefined, caFingerprint: pin, expectServer: { role: "controller" } } }),
  )
})

await Effect.runPromise(program)
