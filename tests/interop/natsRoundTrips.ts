/**
 * How a request over NATS compares with one over WebSocket, in one process on 127.0.0.1. Not a test: it prints
 * figures (docs/nats.md quotes them).
 *
 *   npx tsx tests/interop/natsRoundTrips.ts          (CRANK_BENCH_SECONDS=2 by default per measurement)
 *
 * Starts its own nats-server on a free loopback port (tests/support/natsServer.ts) and stops it after. For each of
 * the WebSocket transport, the NATS transport and a bare NATS request/reply (`nc.request` to a subscriber that
 * answers at once: the floor NATS itself sets), it measures sequential round trips (p50/p99 latency and calls/s)
 * and throughput with 256 calls in flight, with bench/harness/transportRoundTrips.ts (the input and loops
 * `bench/transport.bench.ts` uses). Each transport call is an `Effect.runPromise`, as the bare request is a Promise.
 * Every loop is bounded by a count and by time.
 */
import { connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import {
  echoInvoke,
  formatFigure,
  inFlight,
  measureAsync,
  measureTransport,
  printTable,
  type RoundTripRow,
  seconds,
} from "../../bench/harness/transportRoundTrips.ts"
import * as NatsTransport from "../../transports/NatsTransport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { startNatsServer } from "../support/natsServer.ts"

/** The floor: `nc.request` to a subscriber on the same server that answers each message with its own bytes. */
const measureRawNats = async (server: string): Promise<RoundTripRow> => {
  const responder = await natsConnect({ servers: server })
  const caller = await natsConnect({ servers: server })
  try {
    responder.subscribe("bench.echo", { callback: (_error, msg) => void msg.respond(msg.data) })
    await responder.flush()
    const frame = JSON.stringify(echoInvoke(1))
    return await measureAsync("bare NATS request/reply (floor)", () => caller.request("bench.echo", frame, { timeout: 5_000 }))
  } finally {
    await caller.close()
    await responder.close()
  }
}

const nats = await startNatsServer()
try {
  const rows = [
    await Effect.runPromise(measureTransport("WebSocketTransport", WebSocketTransport.make(), "ws://127.0.0.1:0/bench", "promise")),
    await Effect.runPromise(measureTransport("NatsTransport", NatsTransport.make(), `${nats.url}/bench`, "promise")),
    await measureRawNats(`127.0.0.1:${nats.port}`),
  ]
  console.log(`Node ${process.version}, ${seconds} s per measurement, ${inFlight} in flight for throughput`)
  printTable(
    ["path", "p50 µs", "p99 µs", "sequential calls/s", `calls/s, ${inFlight} in flight`],
    rows.map((r) => [r.name, formatFigure(r.p50Us), formatFigure(r.p99Us), formatFigure(r.sequentialPerSecond), formatFigure(r.concurrentPerSecond)]),
  )
} finally {
  await nats.stop()
}
