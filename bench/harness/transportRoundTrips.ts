/**
 * Request/reply round trips over a transport, for the scripts that compare transports with each other and with their
 * floors (bench/transport.bench.ts, tests/interop/natsRoundTrips.ts): a listener and one connection in this process,
 * the serving side echoing the input back, measured with the harness's loops (`measure.ts`): sequential calls (p50
 * and p99 latency, calls/s), then `inFlight` calls kept in flight (calls/s). Every loop is bounded by a count and by
 * time; `CRANK_BENCH_SECONDS` (default 2) is the time of each measurement.
 */
import { Effect } from "effect"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import type { Handlers, Transport, TransportError } from "../../transports/Transport.ts"
import { concurrentAsync, concurrentEffect, inFlight, sequentialAsync, sequentialEffect } from "./measure.ts"
import type { Figures } from "./Scenario.ts"

export { inFlight }

/** Seconds per measurement. */
export const seconds = Number(process.env.CRANK_BENCH_SECONDS ?? 2)

/** One line of a comparison. */
export interface RoundTripRow {
  readonly name: string
  readonly p50Us: number
  readonly p99Us: number
  readonly sequentialPerSecond: number
  readonly concurrentPerSecond: number
}

const input = { name: "world", times: 3 }

/** The request every comparison sends, under request id `id`. */
export const echoInvoke = (id: number): Invoke => ({ _tag: "Invoke", id: String(id), capability: "bench.echo", range: "*", input, timeoutMs: 5_000 })

/** The serving side: every request answered at once with its own input. */
export const echoHandlers = (): Handlers => ({
  onMessage: () => {},
  serve: (request) => Effect.succeed<Reply>({ _tag: "Result", id: request.id, output: request.input }),
  onClose: () => {},
})

const rowOf = (name: string, sequential: Figures, concurrent: Figures): RoundTripRow => ({
  name,
  p50Us: sequential.p50Us ?? 0,
  p99Us: sequential.p99Us ?? 0,
  sequentialPerSecond: sequential.perSecond ?? 0,
  concurrentPerSecond: concurrent.perSecond ?? 0,
})

/** Promise-returning calls (a bare client's request, or a transport's call run as a Promise). */
export const measureAsync = async (name: string, call: () => Promise<unknown>): Promise<RoundTripRow> => {
  const sequential = await sequentialAsync(call, seconds)
  return rowOf(name, sequential, await concurrentAsync(call, seconds))
}

/**
 * A transport's echo at `address`. `drive` is how each call is made: `"effect"` yields it in a fiber (what the
 * transport itself costs an Effect caller); `"promise"` runs it with `Effect.runPromise` and checks the reply, as a
 * Promise client pays it, so that the row compares with a bare client's request measured by `measureAsync`.
 */
export const measureTransport = (
  name: string,
  transport: Transport,
  address: string,
  drive: "effect" | "promise" = "effect",
): Effect.Effect<RoundTripRow, TransportError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const listener = yield* transport.listen(address, echoHandlers)
      const connection = yield* transport.connect(listener.address, echoHandlers)
      let next = 0
      const call = () => connection.call(echoInvoke(next++))
      if (drive === "promise") {
        const check = (reply: Reply) => {
          if (reply._tag !== "Result") throw new Error(`${name}: ${JSON.stringify(reply)}`)
        }
        return yield* Effect.promise(() => measureAsync(name, () => Effect.runPromise(call()).then(check)))
      }
      const sequential = yield* sequentialEffect(call, seconds)
      return rowOf(name, sequential, yield* concurrentEffect(call, seconds))
    }),
  )

/** Prints a Markdown table, the first column left-aligned and the others right-aligned. */
export const printTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`
  console.log(line(header))
  console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`)
  for (const row of rows) console.log(line(row))
}

/** `n` with thousands separators and `digits` decimals. */
export const formatFigure = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
