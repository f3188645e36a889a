/**
 * Deadlines on the caller's side: a request on a connection answered by its deadline, and the arithmetic that
 * keeps a request's later steps (a dial, a retry elsewhere, a fallback to the relay) inside the budget the
 * caller gave its first step.
 *
 * `Invoke.timeoutMs` is relative (what is left when the frame is sent, as gRPC sends deadlines), so every hop
 * that spends time before sending on must send only what is left: `remainingOf` computes it from a start time
 * read from Effect's `Clock` (injected, so `TestClock` drives it), and `timedOut` is the answer once nothing is.
 *
 * Why the timer is skipped in process: there the handler starts at once under the request server's own
 * deadline, and a timer per request would cost more than the request itself (bench/RESULTS.md).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { crankError } from "../capabilities/CrankError.ts"
import { type Failure, failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection } from "../transports/Transport.ts"

/** A request on `connection`, answered `TIMEOUT` once `invoke.timeoutMs` has passed (which cancels it). */
export const callWithin = (connection: Connection, invoke: Invoke): Effect.Effect<Reply> =>
  connection.inProcess === true
    ? connection.call(invoke)
    : Effect.timeoutOrElse(connection.call(invoke), {
        duration: invoke.timeoutMs,
        orElse: () => Effect.succeed(timedOut(invoke, invoke.timeoutMs)),
      })

/**
 * The `TIMEOUT` answer to `invoke` after `budgetMs`, saying what was going on when time ran out.
 *
 * @example
 * ```ts
 * timedOut(invoke, 500, "the last attempt answered DRAINING")
 * ```
 */
export const timedOut = (invoke: Invoke, budgetMs: number, during?: string): Failure =>
  failureOf(
    invoke.id,
    crankError("TIMEOUT", `${invoke.capability}@${invoke.range} did not answer within ${budgetMs} ms${during === undefined ? "" : ` (${during})`}`),
  )

/**
 * `invoke` carrying what is left of its budget at `now`, given that it started at `startedAt` (both `Clock`
 * milliseconds), or `undefined` when nothing is left. The same object when no time has passed.
 *
 * @example
 * ```ts
 * const rest = remainingOf(invoke, startedAt, clock.currentTimeMillisUnsafe())
 * return rest === undefined ? Effect.succeed(timedOut(invoke, invoke.timeoutMs)) : relay(rest)
 * ```
 */
export const remainingOf = (invoke: Invoke, startedAt: number, now: number): Invoke | undefined => {
  const elapsed = now - startedAt
  if (elapsed <= 0) return invoke
  const left = invoke.timeoutMs - elapsed
  if (left <= 0) return undefined
  return { _tag: "Invoke", id: invoke.id, capability: invoke.capability, range: invoke.range, input: invoke.input, timeoutMs: left }
}

/**
 * A request whose connection has to be waited for first (a dial, perhaps shared with other callers): the wait
 * and the call together stay within `invoke.timeoutMs`. Giving up on the wait does not interrupt `connecting`'s
 * dial when it runs in a fiber of its own, so other callers still get it. `orElse` answers when no connection
 * comes, with what is left of the budget (`TIMEOUT` when nothing is).
 */
export const callAfter = <E, B = Reply>(
  connecting: Effect.Effect<Connection, E>,
  invoke: Invoke,
  orElse: (error: E, rest: Invoke) => Effect.Effect<B>,
): Effect.Effect<Reply | B> =>
  Clock.clockWith((clock) => {
    const startedAt = clock.currentTimeMillisUnsafe()
    return Effect.matchEffect(Effect.timeoutOption(connecting, invoke.timeoutMs), {
      onFailure: (error): Effect.Effect<Reply | B> => {
        const rest = remainingOf(invoke, startedAt, clock.currentTimeMillisUnsafe())
        return rest === undefined ? Effect.succeed(timedOut(invoke, invoke.timeoutMs, "while connecting")) : orElse(error, rest)
      },
      onSuccess: (connection): Effect.Effect<Reply | B> => {
        if (Option.isNone(connection)) return Effect.succeed(timedOut(invoke, invoke.timeoutMs, "while connecting"))
        const rest = remainingOf(invoke, startedAt, clock.currentTimeMillisUnsafe())
        return rest === undefined ? Effect.succeed(timedOut(invoke, invoke.timeoutMs, "while connecting")) : callWithin(connection.value, rest)
      },
    })
  })
