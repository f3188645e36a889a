/**
 * What a worker author writes: a capability paired with a handler. The runtime does everything else
 * (validation, limits, deadlines, registration, heartbeats, drain).
 */
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Capability } from "../capabilities/Capability.ts"
import type { CrankError } from "../capabilities/CrankError.ts"
import type { DeclaredCode } from "../capabilities/declaredError.ts"

/**
 * `E` is the capability's declared error codes (see `Capability`). Plain `HandlerContext` (`never`) is the
 * context of any capability: a handler written apart and annotated with it fits every capability, and may
 * raise only `INVALID_INPUT` through it.
 */
export interface HandlerContext<E extends string = never> {
  readonly requestId: string
  readonly workerId: string
  /** Aborted when the caller cancels or the deadline passes: for Promise handlers (Effect handlers are interrupted). */
  readonly signal: AbortSignal
  /**
   * A failure with one of the capability's declared codes (or `INVALID_INPUT`), `retriable` as declared. A code
   * the capability does not declare is a compile error. Yield it (`yield* context.error(...)`), fail with it
   * (`Effect.fail(context.error(...))`), or throw or reject with it from a Promise handler.
   */
  readonly error: (code: DeclaredCode<E>, message: string) => CrankError
  /** The worker's own data directory (actors/dataDirectory.ts), made on first read: for what outlives a request. */
  readonly dataDir: string
}

/**
 * A handler returns its output as an `Effect` (failing with a `CrankError` for a declared error), a Promise
 * (rejecting with one) or a plain value. A `CrankError` with a declared code (or `INVALID_INPUT`) reaches the
 * caller as it is, however it was raised; any other code, and anything else thrown, rejected or died with,
 * reaches the caller as `INTERNAL`, logged on the worker, and the worker keeps serving.
 */
export type Handler<I, O, E extends string = never> = (input: I, context: HandlerContext<E>) => Effect.Effect<O, CrankError> | PromiseLike<O> | O

/**
 * A streaming capability's handler: its outputs as an Effect `Stream` (failing with a `CrankError` for a declared
 * error) or an async iterable (an `async function*`). The runtime pulls it only as fast as the caller consumes, so
 * a generator runs ahead of its caller by at most the caller's window; when the caller cancels or the deadline
 * passes, the stream is interrupted (a generator's `finally` runs) and `context.signal` aborts.
 */
export type StreamHandler<I, O, E extends string = never> = (input: I, context: HandlerContext<E>) => Stream.Stream<O, CrankError> | AsyncIterable<O>

/** A capability with one output and its handler (`implement`). */
export interface UnaryImplementation<I = any, O = any, E extends string = string> {
  readonly capability: Capability<I, O, E>
  readonly handler: Handler<I, O, E>
  readonly stream?: undefined
}

/** A streaming capability and its handler (`implementStream`). */
export interface StreamImplementation<I = any, O = any, E extends string = string> {
  readonly capability: Capability<I, O, E>
  readonly stream: StreamHandler<I, O, E>
  readonly handler?: undefined
}

/** Plain `Implementation` (any input, output and codes) is what workers and servers hold. */
export type Implementation<I = any, O = any, E extends string = string> = UnaryImplementation<I, O, E> | StreamImplementation<I, O, E>

/**
 * Pairs a capability with its handler; the handler's input and output types and the codes `context.error`
 * accepts come from the capability.
 *
 * @example
 * ```ts
 * implement(Divide, ({ a, b }, context) =>
 *   b === 0 ? Effect.fail(context.error("DIVIDE_BY_ZERO", "cannot divide by zero")) : Effect.succeed(a / b))
 * ```
 */
export const implement = <I, O, E extends string>(capability: Capability<I, O, E>, handler: Handler<I, O, NoInfer<E>>): UnaryImplementation<I, O, E> => {
  if (capability.stream === true) throw new Error(`${capability.id}@${capability.version} answers with a stream: implement it with implementStream`)
  return { capability, handler }
}

/**
 * Pairs a streaming capability (`defineCapability({ stream: true, ... })`) with its handler.
 *
 * @example
 * ```ts
 * implementStream(Count, async function* ({ to }) {
 *   for (let n = 1; n <= to; n++) yield { n }
 * })
 * ```
 */
export const implementStream = <I, O, E extends string>(
  capability: Capability<I, O, E>,
  handler: StreamHandler<I, O, NoInfer<E>>,
): StreamImplementation<I, O, E> => {
  if (capability.stream !== true)
    throw new Error(`${capability.id}@${capability.version} has one output: implement it with implement, or define it with stream: true`)
  return { capability, stream: handler }
}
