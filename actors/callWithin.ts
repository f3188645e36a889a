/**
 * A request on a connection, answered by its deadline: the reply, or `TIMEOUT` once `invoke.timeoutMs` has
 * passed (interrupting the call, which cancels it on the serving side).
 *
 * Why the timer is skipped in process: there the handler starts at once under the request server's own
 * deadline, and a timer per request would cost more than the request itself (bench/RESULTS.md).
 */
import { Effect } from "effect"
import { crankError } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection } from "../transports/Transport.ts"

export const callWithin = (connection: Connection, invoke: Invoke): Effect.Effect<Reply> =>
  connection.inProcess === true
    ? connection.call(invoke)
    : Effect.timeoutOrElse(connection.call(invoke), {
        duration: invoke.timeoutMs,
        orElse: () => Effect.succeed(failureOf(invoke.id, crankError("TIMEOUT", `${invoke.capability}@${invoke.range} did not answer within ${invoke.timeoutMs} ms`))),
      })
