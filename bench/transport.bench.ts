/**
 * Transport benchmark: what a request costs on each transport, against the floor of a raw `ws` echo.
 *
 *   npx tsx bench/transport.bench.ts            (CRANK_BENCH_SECONDS=2 by default per measurement)
 *
 * In one process, on 127.0.0.1: sequential `call` round trips (p50/p99 latency and calls/s) and throughput
 * with 256 calls in flight, over the WebSocket transport and the in-memory transport (bench/harness/
 * transportRoundTrips.ts, the measuring shared with tests/interop/natsRoundTrips.ts) and a raw `ws` echo of the
 * same frames (plain, and corked per tick as the transport writes; driven by plain callbacks, so its own loop).
 * Then the frame decoders `frameCodec.ts` chose between. Every loop is bounded by a count and by time. The numbers
 * go to bench/RESULTS.md by hand; this script only prints them.
 */
import { createRequire } from "node:module"
import { Effect, Result, Schema } from "effect"
import WebSocket, { WebSocketServer } from "ws"
import { Envelope, Invoke as InvokeSchema, Result as ResultSchema } from "../transports/Envelope.ts"
import { decodeFrame } from "../transports/frameCodec.ts"
import * as MemoryTransport from "../transports/MemoryTransport.ts"
import * as WebSocketTransport from "../transports/WebSocketTransport.ts"
import { echoInvoke, formatFigure as fmt, inFlight, measureTransport, printTable, type RoundTripRow, seconds } from "./harness/transportRoundTrips.ts"

/** The raw echo's own loop stops at this many calls, whatever the time. */
const maxCalls = 200_000

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/**
 * Sends with `ws`, optionally corking the TCP socket until the end of the tick as `WebSocketTransport` does,
 * so that the table can tell what the batching buys from what the protocol costs.
 */
const sender = (socket: WebSocket, cork: boolean): ((data: string | Buffer) => void) => {
  if (!cork) return (data) => socket.send(data, { binary: false })
  const tcp = (socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket
  let corked = false
  const uncork = () => {
    corked = false
    tcp.uncork()
  }
  return (data) => {
    if (!corked) {
      corked = true
      tcp.cork()
      process.nextTick(uncork)
    }
    socket.send(data, { binary: false })
  }
}

/** The floor: a `ws` server that echoes each frame back, driven by plain callbacks (no Effect, no Schema). */
const measureRawWs = async (cork: boolean): Promise<RoundTripRow> => {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  server.on("connection", (socket) => {
    const send = sender(socket, cork)
    socket.on("message", (data) => send(data as Buffer))
  })
  const { port } = server.address() as { port: number }
  const socket = new WebSocket(`ws://127.0.0.1:${port}`)
  await new Promise<void>((resolve) => socket.once("open", () => resolve()))
  const send = sender(socket, cork)
  const frame = JSON.stringify(echoInvoke(1))
  try {
    // Sequential: send, wait for the echo, send again.
    const seq = await new Promise<{ p50Us: number; p99Us: number; perSecond: number }>((resolve) => {
      const samples = new Float64Array(maxCalls)
      let warm = 2_000
      let n = 0
      let t0 = 0
      let started = 0
      let deadline = 0
      const onMessage = (): void => {
        const t1 = performance.now()
        if (warm > 0) {
          if (--warm === 0) {
            started = performance.now()
            deadline = started + seconds * 1_000
          }
        } else {
          samples[n++] = t1 - t0
          if (n >= maxCalls || t1 > deadline) {
            socket.off("message", onMessage)
            const sorted = samples.subarray(0, n).sort()
            return resolve({
              p50Us: percentile(sorted, 0.5) * 1_000,
              p99Us: percentile(sorted, 0.99) * 1_000,
              perSecond: (n / (performance.now() - started)) * 1_000,
            })
          }
        }
        t0 = performance.now()
        send(frame)
      }
      socket.on("message", onMessage)
      t0 = performance.now()
      send(frame)
    })
    // 256 in flight: each echo sends the next frame until the budget is spent.
    const perSecond = await new Promise<number>((resolve) => {
      const started = performance.now()
      const deadline = started + seconds * 1_000
      let sent = 0
      let received = 0
      const onMessage = (): void => {
        received++
        if (sent < maxCalls && performance.now() < deadline) {
          sent++
          send(frame)
        } else if (received === sent) {
          socket.off("message", onMessage)
          resolve((received / (performance.now() - started)) * 1_000)
        }
      }
      socket.on("message", onMessage)
      for (; sent < inFlight; sent++) send(frame)
    })
    return {
      name: cork ? "raw ws echo, corked per tick" : "raw ws echo (floor)",
      p50Us: seq.p50Us,
      p99Us: seq.p99Us,
      sequentialPerSecond: seq.perSecond,
      concurrentPerSecond: perSecond,
    }
  } finally {
    socket.terminate()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** ns per decoded frame for each way of decoding, over an `Invoke` and a `Result`. */
const measureCodec = (): Array<readonly [string, number]> => {
  const frames = [JSON.stringify(echoInvoke(12_345)), JSON.stringify({ _tag: "Result", id: "12345", output: { greeting: "hello world" } })]
  const fromJson = Schema.decodeUnknownResult(Schema.fromJsonString(Envelope))
  const union = Schema.decodeUnknownResult(Envelope)
  const invokeOnly = Schema.decodeUnknownResult(InvokeSchema)
  const resultOnly = Schema.decodeUnknownResult(ResultSchema)
  const decoders: Array<readonly [string, (text: string) => unknown]> = [
    ["JSON.parse alone (the floor)", (text) => JSON.parse(text)],
    ["Schema.fromJsonString(Envelope)", (text) => fromJson(text)],
    ["JSON.parse + decodeUnknownResult(Envelope)", (text) => union(JSON.parse(text))],
    ["JSON.parse + member decoder (hand-picked)", (text) => (text.charCodeAt(9) === 73 ? invokeOnly : resultOnly)(JSON.parse(text))],
    ["frameCodec.decodeFrame (per-_tag table)", (text) => decodeFrame(text)],
  ]
  // Each decoder must decode both frames, or the comparison is meaningless.
  for (const [name, decode] of decoders) {
    for (const text of frames) {
      const out = decode(text) as { _tag?: string } | Result.Result<unknown, unknown>
      if (Result.isResult(out) ? Result.isFailure(out) : out._tag === "BadFrame") throw new Error(`${name} failed to decode ${text}`)
    }
  }
  return decoders.map(([name, decode]) => {
    for (let i = 0; i < 50_000; i++) decode(frames[i & 1]!)
    const started = performance.now()
    const deadline = started + seconds * 500
    let n = 0
    while (n < 2_000_000) {
      for (let i = 0; i < 1_000; i++) decode(frames[i & 1]!)
      n += 1_000
      if (performance.now() > deadline) break
    }
    return [name, ((performance.now() - started) * 1e6) / n] as const
  })
}

const main = Effect.gen(function* () {
  const require = createRequire(import.meta.url)
  const versions = `node ${process.version}, effect ${(require("effect/package.json") as { version: string }).version}, ws ${(require("ws/package.json") as { version: string }).version}`
  console.log(`Transport benchmark (${versions}); ${seconds} s per measurement; ${inFlight} in flight\n`)

  const raw = yield* Effect.promise(() => measureRawWs(false))
  const rawCorked = yield* Effect.promise(() => measureRawWs(true))
  const ws = yield* measureTransport("WebSocketTransport", WebSocketTransport.make(), "ws://127.0.0.1:0")
  const memory = yield* measureTransport("MemoryTransport", MemoryTransport.make(), "memory://")

  const header = ["transport", "seq p50 µs", "seq p99 µs", "seq calls/s", `${inFlight} in flight calls/s`, "vs raw ws (seq / in flight)"]
  const rows = [raw, rawCorked, ws, memory].map((row) => [
    row.name,
    fmt(row.p50Us, 1),
    fmt(row.p99Us, 1),
    fmt(row.sequentialPerSecond),
    fmt(row.concurrentPerSecond),
    `${fmt(row.sequentialPerSecond / raw.sequentialPerSecond, 2)}× / ${fmt(row.concurrentPerSecond / raw.concurrentPerSecond, 2)}×`,
  ])
  printTable(header, rows)

  console.log("\nFrame decoding (an Invoke and a Result, alternately)\n")
  printTable(
    ["decoder", "ns/frame"],
    measureCodec().map(([name, ns]) => [name, fmt(ns)]),
  )
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
