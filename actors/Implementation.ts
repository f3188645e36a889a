/**
 * What a worker author writes: a capability paired with a handler. The runtime does everything else
 * (validation, limits, deadlines, registration, heartbeats, drain).
 */
import type { Effect } from "effect"
import type { Capability } from "../capabilities/Capability.ts"
import type { CrankError } from "../capabilities/CrankError.ts"

export interface HandlerContext {
  readonly requestId: string
  readonly workerId: string
  /** Aborted when the caller cancels or the deadline passes: for Promise handlers (Effect handlers are interrupted). */
  readonly signal: AbortSignal
}

/**
 * A handler returns its output as an `Effect` (failing with a `CrankError` for a declared error), a Promise
 * (rejecting with a `CrankError` for one) or a plain value. Anything else it throws is a defect: the request
 * fails with `INTERNAL` and the worker keeps serving.
 */
export type Handler<I, O> = (input: I, context: HandlerContext) => Effect.Effect<O, CrankError> | PromiseLike<O> | O

export interface Implementation<I = any, O = any> {
  readonly capability: Capability<I, O>
  readonly handler: Handler<I, O>
}

/**
 * Pairs a capability with its handler; the handler's input and output types come from the capability.
 *
 * @example
 * ```ts
 * implement(HelloGreet, ({ message }, { workerId }) => ({ greeting: `Hello, ${message}`, worker: workerId }))
 * ```
 */
export const implement = <I, O>(capability: Capability<I, O>, handler: Handler<I, O>): Implementation<I, O> => ({
  capability,
  handler,
})
