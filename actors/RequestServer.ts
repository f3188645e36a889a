/**
 * Serves `Invoke` requests on a worker: the data path's last step.
 *
 * In order, before any handler runs: refuse when draining (`DRAINING`) or full (`OVERLOADED`), find the
 * implementation for the capability and range (`NO_WORKER` if this worker has none), decode the input with the
 * capability's schema (`INVALID_INPUT`, with the schema's own message). Then run the handler under the
 * request's deadline (`TIMEOUT`) and encode its output (`INVALID_OUTPUT`). A handler defect is that request's
 * `INTERNAL` failure, logged, and nothing more.
 *
 * It runs in whatever fiber the transport calls it from (the caller's, in one process), so it counts in-flight
 * work itself: that count is what limits and drain rely on.
 */
import { Cause, Effect, Exit, Schema } from "effect"
import { compareVersionsDescending, satisfies } from "../capabilities/CapabilityRef.ts"
import { crankError, isCrankError, messageOf, reservedCodes, type CrankError } from "../capabilities/CrankError.ts"
import { type CapabilityStats, failureOf, type Invoke, latencyBoundariesMs, type Reply } from "../transports/Envelope.ts"
import type { HandlerContext, Implementation } from "./Implementation.ts"

interface Served {
  readonly implementation: Implementation
  readonly stats: Stats
  readonly decode: (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly encode: (output: unknown) => Exit.Exit<unknown, Schema.SchemaError>
}

class Context implements HandlerContext {
  private abort: AbortController | undefined
  constructor(
    readonly requestId: string,
    readonly workerId: string,
  ) {}
  get signal(): AbortSignal {
    return (this.abort ??= new AbortController()).signal
  }
  cancel(reason: CrankError): void {
    this.abort?.abort(reason)
  }
}

/** Counts one capability version's outcomes and latencies, for heartbeats and /metrics. */
class Stats {
  readonly outcomes: Record<string, number> = {}
  readonly latencyBuckets: Array<number> = new Array<number>(latencyBoundariesMs.length + 1).fill(0)
  latencySumMs = 0
  constructor(
    readonly capability: string,
    readonly version: string,
  ) {}
  record(outcome: string, ms: number): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1
    let bucket = 0
    while (bucket < latencyBoundariesMs.length && ms > latencyBoundariesMs[bucket]!) bucket++
    this.latencyBuckets[bucket]!++
    this.latencySumMs += ms
  }
  view(): CapabilityStats {
    return { capability: this.capability, version: this.version, outcomes: { ...this.outcomes }, latencyBuckets: [...this.latencyBuckets], latencySumMs: this.latencySumMs }
  }
}



const isPromiseLike = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"


export interface RequestServer {
  readonly serve: (invoke: Invoke) => Effect.Effect<Reply>
  readonly inFlight: () => number
  readonly completed: () => number
  /** Cumulative outcomes and latencies per capability version served. */
  readonly stats: () => Array<CapabilityStats>
  /** Refuse new requests from now on (`DRAINING`); in-flight ones finish. */
  readonly stopAccepting: () => void
  /** Resolves when nothing is in flight (at once if idle). */
  readonly idle: () => Promise<void>
}

export const make = (options: {
  readonly workerId: string
  readonly implementations: ReadonlyArray<Implementation>
  readonly maxInFlight: number
}): RequestServer => {
  const byId = new Map<string, Array<Served>>()
  for (const implementation of options.implementations) {
    const list = byId.get(implementation.capability.id) ?? []
    list.push({
      implementation,
      stats: new Stats(implementation.capability.id, implementation.capability.version),
      decode: Schema.decodeUnknownExit(implementation.capability.input),
      encode: Schema.encodeUnknownExit(implementation.capability.output),
    })
    list.sort((a, b) => compareVersionsDescending(a.implementation.capability.version, b.implementation.capability.version))
    byId.set(implementation.capability.id, list)
  }
  const resolved = new Map<string, Served | null>()
  const find = (capability: string, range: string): Served | undefined => {
    const key = `${capability}@${range}`
    let served = resolved.get(key)
    if (served === undefined) {
      if (resolved.size >= 1_024) resolved.clear()
      served = byId.get(capability)?.find((s) => satisfies(s.implementation.capability.version, range)) ?? null
      resolved.set(key, served)
    }
    return served ?? undefined
  }

  let inFlight = 0
  let completed = 0
  let accepting = true
  let waiters: Array<() => void> = []

  const settle = () => {
    inFlight--
    completed++
    if (inFlight === 0 && waiters.length > 0) {
      const ready = waiters
      waiters = []
      for (const resolve of ready) resolve()
    }
  }

  /** A handler's own failure; a reserved code would make callers run it again elsewhere, so it becomes INTERNAL. */
  const handlerFailure = (invoke: Invoke, error: CrankError): Reply =>
    reservedCodes.has(error.code)
      ? failureOf(invoke.id, crankError("INTERNAL", `handler raised ${error.code}, a code only the runtime may use: ${error.message}`))
      : failureOf(invoke.id, error)

  const replyOf = (invoke: Invoke, served: Served, exit: Exit.Exit<unknown, CrankError>): Effect.Effect<Reply> => {
    if (Exit.isSuccess(exit)) {
      const encoded = served.encode(exit.value)
      return Effect.succeed(
        Exit.isSuccess(encoded)
          ? { _tag: "Result", id: invoke.id, output: encoded.value }
          : failureOf(invoke.id, crankError("INVALID_OUTPUT", `${invoke.capability} handler returned invalid output: ${messageOf(Cause.squash(encoded.cause))}`)),
      )
    }
    for (const reason of exit.cause.reasons) {
      if (reason._tag === "Fail") return Effect.succeed(handlerFailure(invoke, reason.error))
      if (reason._tag === "Die") {
        if (isCrankError(reason.defect)) return Effect.succeed(handlerFailure(invoke, reason.defect))
        return Effect.logError(`handler defect in ${invoke.capability} (request ${invoke.id})`, reason.defect).pipe(
          Effect.as(failureOf(invoke.id, crankError("INTERNAL", `handler defect: ${messageOf(reason.defect)}`))),
        )
      }
    }
    return Effect.succeed(failureOf(invoke.id, crankError("CANCELLED", `request ${invoke.id} was interrupted`)))
  }

  // Lazy and counted per run: building the effect does nothing (a caller may build it, then run it later, twice,
  // or never), and the in-flight count goes up and its `onExit` is registered in one uninterruptible step, so an
  // interruption (a caller timing out at the wrong moment) cannot leave a request counted forever.
  const serve = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.uninterruptibleMask((restore) => Effect.suspend(() => serveNow(invoke, restore)))

  const serveNow = (invoke: Invoke, restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>): Effect.Effect<Reply> => {
    if (!accepting) {
      return Effect.succeed(failureOf(invoke.id, crankError("DRAINING", `worker ${options.workerId} is draining`)))
    }
    if (inFlight >= options.maxInFlight) {
      return Effect.succeed(failureOf(invoke.id, crankError("OVERLOADED", `worker ${options.workerId} has ${inFlight} requests in flight (limit ${options.maxInFlight})`)))
    }
    const served = find(invoke.capability, invoke.range)
    if (served === undefined) {
      return Effect.succeed(failureOf(invoke.id, crankError("NO_WORKER", `worker ${options.workerId} does not serve ${invoke.capability}@${invoke.range}`)))
    }
    const input = served.decode(invoke.input)
    if (Exit.isFailure(input)) {
      return Effect.succeed(failureOf(invoke.id, crankError("INVALID_INPUT", messageOf(Cause.squash(input.cause)))))
    }
    const context = new Context(invoke.id, options.workerId)
    const startedAt = performance.now()
    inFlight++
    let output: unknown
    try {
      output = served.implementation.handler(input.value, context)
    } catch (defect) {
      output = Effect.die(defect)
    }
    if (!Effect.isEffect(output) && !isPromiseLike(output)) {
      // A plain value: the handler has already finished, so there is no deadline to watch and no timer to arm.
      const done = output
      return Effect.tap(replyOf(invoke, served, Exit.succeed(done)), (reply) =>
        Effect.sync(() => {
          settle()
          served.stats.record(reply._tag === "Result" ? "OK" : reply.code, performance.now() - startedAt)
        }),
      )
    }
    const run: Effect.Effect<unknown, CrankError> = Effect.isEffect(output)
      ? (output as Effect.Effect<unknown, CrankError>)
      : Effect.promise(() => output as PromiseLike<unknown>)
    return restore(
      run.pipe(
        Effect.timeoutOrElse({
          duration: invoke.timeoutMs,
          orElse: () => Effect.fail(crankError("TIMEOUT", `${invoke.capability} did not finish within ${invoke.timeoutMs} ms`)),
        }),
        Effect.exit,
        Effect.flatMap((exit) => replyOf(invoke, served, exit)),
      ),
    ).pipe(
      Effect.onExit((exit) => {
        settle()
        const reply = Exit.isSuccess(exit) ? exit.value : undefined
        served.stats.record(reply === undefined ? "CANCELLED" : reply._tag === "Result" ? "OK" : reply.code, performance.now() - startedAt)
        if (reply === undefined) context.cancel(crankError("CANCELLED", `request ${invoke.id} was cancelled`))
        else if (reply._tag === "Failure" && reply.code === "TIMEOUT") context.cancel(crankError("TIMEOUT", reply.message))
        return Effect.void
      }),
    )
  }

  return {
    serve,
    inFlight: () => inFlight,
    completed: () => completed,
    stats: () => [...byId.values()].flatMap((list) => list.map((s) => s.stats.view())),
    stopAccepting: () => {
      accepting = false
    },
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  }
}
