/**
 * The one retry policy of the data path, used by the controller's relay and by the client's direct path: a
 * request that failed may be sent to another worker when it never ran (`DRAINING`, `OVERLOADED`, `NO_WORKER`), or
 * when its link dropped (`UNAVAILABLE`) and the capability is idempotent; it goes with what is left of the caller's
 * deadline, and at most `retriesElsewhere` times. Anything else stands: retrying could run a handler twice.
 */
import { mayRetryElsewhere } from "../capabilities/CrankError.ts"
import type { Invoke, Reply } from "../transports/Envelope.ts"
import { remainingOf } from "./callWithin.ts"

/** Further workers a relayed request may be tried on after the first. */
export const retriesElsewhere = 2

/**
 * The request to send elsewhere after `reply`, carrying what is left of its budget at `now` (it started at
 * `startedAt`, both `Clock` milliseconds), or `undefined` when the reply must stand.
 *
 * @example
 * ```ts
 * const again = retryOf(invoke, reply, worker.idempotent(invoke.capability), startedAt, clock.currentTimeMillisUnsafe())
 * ```
 */
export const retryOf = (invoke: Invoke, reply: Reply, idempotent: boolean, startedAt: number, now: number): Invoke | undefined =>
  goesElsewhere(reply, idempotent) ? remainingOf(invoke, startedAt, now) : undefined

/** Whether `reply` may be tried on another worker (the client's direct path sends such a request to the relay). */
export const goesElsewhere = (reply: Reply, idempotent: boolean): boolean => reply._tag === "Failure" && mayRetryElsewhere(reply.code, idempotent)
