/**
 * Serves `Invoke` requests on a worker: the data path's last step.
 *
 * In order, before any handler runs: refuse when draining (`DRAINING`) or full (`OVERLOADED`), find the
 * implementation for the capability and range (`NO_WORKER` if this worker has none), decode the input with the
 * capability's schema (`INVALID_INPUT`, with the schema's own message). Then run the handler under the
 * request's deadline (`TIMEOUT`) and encode its output (`INVALID_OUTPUT`). A handler defect is that request's
 * `INTERNAL` failure, logged, and nothing more.
 *
 * What a handler's failure becomes (`answerOfFailure`): a `CrankError` whose code the capability declares, or
 * `INVALID_INPUT`, reaches the caller with its message, `retriable` as the capability declares it; this holds
 * however it was raised (an Effect failure, a throw, a rejected Promise), because a Promise handler can raise
 * no other way. Any other code becomes `INTERNAL`, logged with the capability and the code: an undeclared code
 * is a contract the caller cannot know of, and a runtime code (`DRAINING`, `NO_WORKER`...) would make callers
 * think the handler never ran and run it again elsewhere.
 *
 * It runs in whatever fiber the transport calls it from (the caller's, in one process), so it counts in-flight
 * work itself: that count is what limits and drain rely on.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type ErrorSpec, keyOf } from "../capabilities/Capability.ts"
import { compareVersionsDescending, satisfies } from "../capabilities/CapabilityRef.ts"
import { CrankError, crankError, isCrankError, messageOf, reservedCodes } from "../capabilities/CrankError.ts"
import { type DeclaredCode, declaredError } from "../capabilities/declaredError.ts"
import { nearestIds } from "../capabilities/nearestIds.ts"
import { type CapabilityStats, failureOf, type Invoke, latencyBoundariesMs, type Reply } from "../transports/Envelope.ts"
import { defaultDataRoot, ensureDir, workerDataDir } from "./dataDirectory.ts"
import type { HandlerContext, Implementation } from "./Implementation.ts"

interface Served {
  readonly implementation: Implementation
  /** `demo.echo@1.0.0`, for messages and logs. */
  readonly key: string
  readonly stats: Stats
  readonly decode: (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly encode: (output: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly declared: ReadonlyMap<string, ErrorSpec>
  /** `context.error`, built once per capability so a request allocates no closure for it. */
  readonly error: (code: DeclaredCode<string>, message: string) => CrankError
}

/** What a handler sees of its request (not Effect's `Context`): ids, the abort signal, `error`. */
class RequestContext implements HandlerContext<string> {
  private abort: AbortController | undefined
  constructor(
    readonly requestId: string,
    readonly workerId: string,
    readonly error: (code: DeclaredCode<string>, message: string) => CrankError,
    private readonly workerDataDir: () => string,
  ) {}
  get dataDir(): string {
    return this.workerDataDir()
  }
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
    return {
      capability: this.capability,
      version: this.version,
      outcomes: { ...this.outcomes },
      latencyBuckets: [...this.latencyBuckets],
      latencySumMs: this.latencySumMs,
    }
  }
}

/** What a streaming handler's async iterable threw, when it is not a `CrankError`: a defect, as a throw from a handler. */
class HandlerDefect {
  constructor(readonly defect: unknown) {}
}

const isPromiseLike = (u: unknown): u is PromiseLike<unknown> => typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

export interface RequestServer {
  /** Serves `invoke` when the effect runs (each run is one request): for callers that build effects ahead. */
  readonly serve: (invoke: Invoke) => Effect.Effect<Reply>
  /** Serves a streaming request (`Invoke` with `stream`), for a transport's `serveStream` handler. */
  readonly serveStream: (invoke: Invoke) => Stream.Stream<unknown, CrankError>
  /** Serves `invoke` now, for a transport's `serve` handler: a plain-value handler's reply comes back as an `Exit`. */
  readonly answer: (invoke: Invoke) => Effect.Effect<Reply>
  readonly inFlight: () => number
  readonly completed: () => number
  /** Cumulative outcomes and latencies per capability version served. */
  readonly stats: () => Array<CapabilityStats>
  /** Refuse new requests from now on (`DRAINING`); in-flight ones finish. */
  readonly stopAccepting: () => void
  /** Completes when nothing is in flight (at once if idle). */
  readonly idle: Effect.Effect<void>
}

export const make = (options: {
  readonly workerId: string
  readonly implementations: ReadonlyArray<Implementation>
  readonly maxInFlight: number
  /** Where latencies are read from: the owner's `Clock` (a `TestClock` in tests). */
  readonly clock: Clock.Clock
  /** The worker's data directory, made on a handler's first `context.dataDir`; default the one under `.crank`. */
  readonly dataDir?: string
}): RequestServer => {
  const clock = options.clock
  let dataDirMade = false
  const dataDir = () => {
    const dir = options.dataDir ?? workerDataDir(defaultDataRoot(), options.workerId)
    if (!dataDirMade) dataDirMade = ensureDir(dir) !== undefined
    return dir
  }
  const byId = new Map<string, Array<Served>>()
  for (const implementation of options.implementations) {
    const capability = implementation.capability
    const list = byId.get(capability.id) ?? []
    list.push({
      implementation,
      key: keyOf(capability),
      stats: new Stats(capability.id, capability.version),
      decode: Schema.decodeUnknownExit(capability.input),
      encode: Schema.encodeUnknownExit(capability.output),
      declared: new Map(capability.errors.map((spec) => [spec.code, spec])),
      error: (code, message) => declaredError(capability, code, message),
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

  /** What this worker serves instead, for a `NO_WORKER` (built only then). */
  const notServed = (invoke: Invoke): string => {
    const asked = `worker ${options.workerId} does not serve ${invoke.capability}@${invoke.range}`
    const versions = byId.get(invoke.capability)
    if (versions !== undefined) return `${asked}; it serves ${invoke.capability} ${versions.map((s) => s.implementation.capability.version).join(", ")}`
    const near = nearestIds(invoke.capability, byId.keys())
    return near.length > 0 ? `${asked}; did you mean ${near.join(" or ")}?` : `${asked}; it serves ${[...byId.keys()].sort().join(", ")}`
  }

  let inFlight = 0
  let completed = 0
  let accepting = true
  /** Completed when in-flight work next reaches zero; made only when someone waits for it. */
  let idle: Deferred.Deferred<void> | undefined

  const settle = () => {
    inFlight--
    completed++
    if (inFlight === 0 && idle !== undefined) {
      const done = idle
      idle = undefined
      // This runs in the last request's onExit, before its fiber ends and the transport hands its reply over: a
      // drain woken here at once could close the link under that reply. A microtask later, the reply has left.
      queueMicrotask(() => Deferred.doneUnsafe(done, Exit.void))
    }
  }

  /** A handler's own `CrankError` as its caller gets it, by the rule in the header: declared codes and INVALID_INPUT pass, others are INTERNAL. */
  const callerErrorOf = (requestId: string, served: Served, error: CrankError): Effect.Effect<CrankError> => {
    if (error.code === "INVALID_INPUT") return Effect.succeed(error.retriable ? crankError("INVALID_INPUT", error.message) : error)
    const spec = reservedCodes.has(error.code) ? undefined : served.declared.get(error.code)
    if (spec !== undefined) {
      return Effect.succeed(
        error.retriable === spec.retriable ? error : new CrankError({ code: error.code, message: error.message, retriable: spec.retriable }),
      )
    }
    const why = reservedCodes.has(error.code) ? "a code only the runtime may use" : "a code the capability does not declare"
    return Effect.logWarning(`${served.key} handler failed with ${error.code}, ${why}; answered INTERNAL`).pipe(
      Effect.annotateLogs({ capability: served.key, code: error.code, requestId }),
      Effect.as(crankError("INTERNAL", `${served.key} handler raised ${error.code}, ${why}: ${error.message}`)),
    )
  }

  /** What a handler died with (a throw, a rejection): a `CrankError` goes by the rule above; anything else is logged, `INTERNAL`. */
  const defectErrorOf = (requestId: string, served: Served, defect: unknown): Effect.Effect<CrankError> =>
    isCrankError(defect)
      ? callerErrorOf(requestId, served, defect)
      : Effect.logError(`handler defect in ${served.key} (request ${requestId})`, defect).pipe(
          Effect.as(crankError("INTERNAL", `handler defect: ${messageOf(defect)}`)),
        )

  const handlerFailure = (invoke: Invoke, served: Served, error: CrankError): Effect.Effect<Reply> =>
    Effect.map(callerErrorOf(invoke.id, served, error), (caller) => failureOf(invoke.id, caller))

  /** A handler's output, encoded with its capability's schema: the `Result`, or `INVALID_OUTPUT`. */
  const resultOf = (invoke: Invoke, served: Served, output: unknown): Reply => {
    const encoded = served.encode(output)
    return Exit.isSuccess(encoded)
      ? { _tag: "Result", id: invoke.id, output: encoded.value }
      : failureOf(invoke.id, crankError("INVALID_OUTPUT", `${invoke.capability} handler returned invalid output: ${messageOf(Cause.squash(encoded.cause))}`))
  }

  const replyOf = (invoke: Invoke, served: Served, exit: Exit.Exit<unknown, CrankError>): Effect.Effect<Reply> => {
    if (Exit.isSuccess(exit)) return Effect.succeed(resultOf(invoke, served, exit.value))
    for (const reason of exit.cause.reasons) {
      if (reason._tag === "Fail") return handlerFailure(invoke, served, reason.error)
      if (reason._tag === "Die") return Effect.map(defectErrorOf(invoke.id, served, reason.defect), (error) => failureOf(invoke.id, error))
    }
    return Effect.succeed(failureOf(invoke.id, crankError("CANCELLED", `request ${invoke.id} was interrupted`)))
  }

  // Lazy and counted per run: building the effect does nothing (a caller may build it, then run it later, twice,
  // or never), and the in-flight count goes up and its `onExit` is registered in one uninterruptible step, so an
  // interruption (a caller timing out at the wrong moment) cannot leave a request counted forever.
  const serve = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const prepared = prepare(invoke)
        return typeof prepared === "function" ? prepared(restore) : Effect.succeed(prepared)
      }),
    )

  // Eager, for transports, which run what it returns at once: a request whose handler answers with a plain value is
  // served before this returns, as an `Exit`, so the transport answers it with no fiber of its own (the data path's
  // floor in one process). Only a handler that returns an Effect or a Promise gets a fiber.
  const answer = (invoke: Invoke): Effect.Effect<Reply> => {
    const prepared = prepare(invoke)
    return typeof prepared === "function" ? Effect.uninterruptibleMask(prepared) : Exit.succeed(prepared)
  }

  /**
   * Why `invoke` is refused before any handler runs (draining, full, not served, the wrong kind of call, input
   * that fails the schema), or what it asks for: the implementation and the decoded input.
   */
  const admit = (invoke: Invoke, streaming: boolean): CrankError | { readonly served: Served; readonly input: unknown } => {
    if (!accepting) return crankError("DRAINING", `worker ${options.workerId} is draining`)
    if (inFlight >= options.maxInFlight) {
      return crankError("OVERLOADED", `worker ${options.workerId} has ${inFlight} requests in flight (limit ${options.maxInFlight})`)
    }
    const served = find(invoke.capability, invoke.range)
    if (served === undefined) return crankError("NO_WORKER", notServed(invoke))
    if ((served.implementation.stream !== undefined) !== streaming) {
      return crankError(
        "INVALID_INPUT",
        streaming
          ? `${served.key} has one output: call it with invoke, not stream (crank invoke without --stream)`
          : `${served.key} answers with a stream: call it with stream, not invoke (crank invoke --stream)`,
      )
    }
    const input = served.decode(invoke.input)
    if (Exit.isFailure(input)) return crankError("INVALID_INPUT", messageOf(Cause.squash(input.cause)))
    return { served, input: input.value }
  }

  /** The reply, when it is known at once; otherwise the rest of the request, to run with `restore` for the handler. */
  const prepare = (invoke: Invoke): Reply | ((restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => Effect.Effect<Reply>) => {
    const admitted = admit(invoke, false)
    if (isCrankError(admitted)) return failureOf(invoke.id, admitted)
    const { served } = admitted
    const handler = served.implementation.handler!
    const context = new RequestContext(invoke.id, options.workerId, served.error, dataDir)
    const startedAt = clock.currentTimeMillisUnsafe()
    inFlight++
    let output: unknown
    try {
      output = handler(admitted.input, context)
    } catch (defect) {
      output = Effect.die(defect)
    }
    if (!Effect.isEffect(output) && !isPromiseLike(output)) {
      // A plain value: the handler has already finished, so there is no deadline to watch and no timer to arm.
      const reply = resultOf(invoke, served, output)
      settle()
      served.stats.record(reply._tag === "Result" ? "OK" : reply.code, clock.currentTimeMillisUnsafe() - startedAt)
      return reply
    }
    const promise = Effect.isEffect(output) ? undefined : (output as PromiseLike<unknown>)
    // A Promise cannot be stopped: a handler that ignores its abort signal goes on after its caller was answered
    // (TIMEOUT, CANCELLED). Its slot is held until the Promise really settles, so `maxInFlight` and drain count the
    // handler bodies that are running, not the requests still awaited.
    if (promise !== undefined) promise.then(settle, settle)
    const run: Effect.Effect<unknown, CrankError> = promise === undefined ? (output as Effect.Effect<unknown, CrankError>) : Effect.promise(() => promise)
    // The handler's outcome becomes a reply inside the deadline, so every failure `replyOf` sees is the
    // handler's own, and the runtime's TIMEOUT is never mistaken for a code the handler raised.
    return (restore) =>
      restore(
        run.pipe(
          Effect.exit,
          Effect.flatMap((exit) => replyOf(invoke, served, exit)),
          Effect.timeoutOrElse({
            duration: invoke.timeoutMs,
            orElse: () => Effect.succeed(failureOf(invoke.id, crankError("TIMEOUT", `${invoke.capability} did not finish within ${invoke.timeoutMs} ms`))),
          }),
        ),
      ).pipe(
        Effect.onExit((exit) => {
          if (promise === undefined) settle()
          const reply = Exit.isSuccess(exit) ? exit.value : undefined
          served.stats.record(reply === undefined ? "CANCELLED" : reply._tag === "Result" ? "OK" : reply.code, clock.currentTimeMillisUnsafe() - startedAt)
          if (reply === undefined) context.cancel(crankError("CANCELLED", `request ${invoke.id} was cancelled`))
          else if (reply._tag === "Failure" && reply.code === "TIMEOUT") context.cancel(crankError("TIMEOUT", reply.message))
          return Effect.void
        }),
      )
  }

  /**
   * Serves a streaming request: its items, each encoded with the capability's output schema (`INVALID_OUTPUT`
   * ends the stream), the whole stream within the request's deadline (`TIMEOUT`), the handler's failures by the
   * same rule as one output's. It holds its slot from the first pull until it ends, is cancelled or times out; then
   * the handler's stream is interrupted (a generator's `finally` runs) and its abort signal fires.
   */
  const serveStream = (invoke: Invoke): Stream.Stream<unknown, CrankError> =>
    Stream.suspend(() => {
      const admitted = admit(invoke, true)
      if (isCrankError(admitted)) return Stream.fail(admitted)
      const { served } = admitted
      const context = new RequestContext(invoke.id, options.workerId, served.error, dataDir)
      const startedAt = clock.currentTimeMillisUnsafe()
      inFlight++
      let source: Stream.Stream<unknown, unknown>
      try {
        const output = served.implementation.stream!(admitted.input, context)
        // A thrown non-CrankError from a generator is a defect, as a throw from a handler is.
        source = Stream.isStream(output) ? output : Stream.fromAsyncIterable(output, (error) => (isCrankError(error) ? error : new HandlerDefect(error)))
      } catch (defect) {
        source = Stream.die(defect)
      }
      const encodeItem = (item: unknown): Effect.Effect<unknown, CrankError> => {
        const encoded = served.encode(item)
        return Exit.isSuccess(encoded)
          ? Effect.succeed(encoded.value)
          : Effect.fail(crankError("INVALID_OUTPUT", `${invoke.capability} handler streamed an invalid item: ${messageOf(Cause.squash(encoded.cause))}`))
      }
      const deadline = Effect.andThen(
        Effect.sleep(invoke.timeoutMs),
        Effect.fail(crankError("TIMEOUT", `${invoke.capability} did not finish its stream within ${invoke.timeoutMs} ms`)),
      )
      return source.pipe(
        Stream.catchCause((cause): Stream.Stream<never, CrankError> => {
          for (const reason of cause.reasons) {
            if (reason._tag === "Fail") {
              const error = reason.error
              return Stream.fromEffect(
                Effect.flatMap(
                  error instanceof HandlerDefect ? defectErrorOf(invoke.id, served, error.defect) : callerErrorOf(invoke.id, served, error as CrankError),
                  Effect.fail,
                ),
              )
            }
            if (reason._tag === "Die") return Stream.fromEffect(Effect.flatMap(defectErrorOf(invoke.id, served, reason.defect), Effect.fail))
          }
          return Stream.failCause(cause as Cause.Cause<never>)
        }),
        Stream.mapEffect(encodeItem),
        Stream.interruptWhen(deadline),
        Stream.onExit((exit) =>
          Effect.sync(() => {
            settle()
            const outcome = Exit.isSuccess(exit) ? "OK" : (exit.cause.reasons.find((r) => r._tag === "Fail")?.error.code ?? "CANCELLED")
            served.stats.record(outcome, clock.currentTimeMillisUnsafe() - startedAt)
            if (outcome !== "OK") context.cancel(crankError(outcome === "TIMEOUT" ? "TIMEOUT" : "CANCELLED", `stream ${invoke.id} ended: ${outcome}`))
          }),
        ),
      )
    })

  return {
    serve,
    serveStream,
    answer,
    inFlight: () => inFlight,
    completed: () => completed,
    stats: () => [...byId.values()].flatMap((list) => list.map((s) => s.stats.view())),
    stopAccepting: () => {
      accepting = false
    },
    idle: Effect.suspend(() => (inFlight === 0 ? Effect.void : Deferred.await((idle ??= Deferred.makeUnsafe<void>())))),
  }
}
