/**
 * What a request's handler answers once it has finished, whatever way it finished.
 *
 * Shared by every transport so that a handler behaves the same in one process and over the network: its own
 * reply when it succeeded; `INTERNAL` for that request only when it died (or threw before returning an
 * effect); `CANCELLED` when it was interrupted from inside. The caller is never left without an answer.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import { crankError, messageOf } from "../capabilities/CrankError.ts"
import { failureOf, type Reply } from "./Envelope.ts"

/** The `INTERNAL` failure for a handler of request `id` that died or threw `defect`. */
export const defectReply = (id: string, defect: unknown): Reply =>
  failureOf(id, crankError("INTERNAL", `request ${id} failed in its handler: ${messageOf(defect)}`))

/** The answer for request `id` from its handler fiber's exit. */
export const replyOfExit = (id: string, exit: Exit.Exit<Reply>): Reply => {
  if (Exit.isSuccess(exit)) {
    const reply = exit.value
    // A handler that answers under another id would leave its caller waiting forever.
    return reply.id === id ? reply : { ...reply, id }
  }
  if (Cause.hasInterruptsOnly(exit.cause)) return failureOf(id, crankError("CANCELLED", `request ${id} was interrupted in its handler`))
  return defectReply(id, Cause.squash(exit.cause))
}
