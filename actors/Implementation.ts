/**
 * What a worker author writes: a capability paired with a handler. The runtime does everything else
 * (validation, limits, deadlines, registration, heartbeats, drain).
 */
import type * as Effect from "effect/Effect"
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

/** Plain `Implementation` (any input, output and codes) is what workers and servers hold. */
export interface Implementation<I = any, O = any, E extends string = string> {
  readonly capability: Capability<I, O, E>
  readonly handler: Handler<I, O, E>
}

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
export const implement = <I, O, E extends string>(capability: Capability<I, O, E>, handler: Handler<I, O, NoInfer<E>>): Implementation<I, O, E> => ({
  capability,
  handler,
})
