/**
 * What a supervisor reports about its children, as OTP's supervisor reports (`child_terminated`,
 * `start_error`, `shutdown`...) are data, not log lines: a tagged union handed to the `onEvent` flag.
 *
 * `logEvent` turns each event into one Effect log line at a level that matches it, so a node can pass
 * `onEvent: Supervisor.logEvent` and get its supervision tree into its Logger.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Strategy } from "./Strategy.ts"
import type { SupervisorError } from "./SupervisorError.ts"

/** How a child's `start` effect ended: completed, failed (typed error), died (defect), or was interrupted. */
export type ExitReason = "normal" | "failure" | "defect" | "interrupt"

export type SupervisorEvent =
  /** The child is running; `restarts` counts its starts after the first. */
  | { readonly _tag: "ChildStarted"; readonly supervisor: string; readonly id: string; readonly restarts: number }
  /** The child failed before it was started. */
  | { readonly _tag: "ChildStartFailed"; readonly supervisor: string; readonly id: string; readonly cause: Cause.Cause<unknown> }
  /** The child stopped on its own. */
  | {
      readonly _tag: "ChildExited"
      readonly supervisor: string
      readonly id: string
      readonly reason: ExitReason
      readonly exit: Exit.Exit<unknown, unknown>
    }
  /** The supervisor stopped the child; `timedOut` means its finalizers outlived `shutdown` and were abandoned. */
  | { readonly _tag: "ChildTerminated"; readonly supervisor: string; readonly id: string; readonly timedOut: boolean }
  /** A restart was counted; `delayMs` is the backoff before the children are started again. */
  | {
      readonly _tag: "RestartScheduled"
      readonly supervisor: string
      readonly id: string
      readonly strategy: Strategy
      readonly restartsInPeriod: number
      readonly delayMs: number
    }
  /** The supervisor stopped all its children; `error` is set when it failed upward. */
  | { readonly _tag: "SupervisorStopped"; readonly supervisor: string; readonly error: SupervisorError | undefined }

/** Classifies an exit; a cause with both a failure and a defect counts as a defect. */
export const exitReason = (exit: Exit.Exit<unknown, unknown>): ExitReason => {
  if (Exit.isSuccess(exit)) return "normal"
  if (Cause.hasDies(exit.cause)) return "defect"
  if (Cause.hasFails(exit.cause)) return "failure"
  return "interrupt"
}

/** A one-line summary of a cause, for messages (the full cause stays on the event or error). */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const squashed = Cause.squash(cause)
  return squashed instanceof Error ? squashed.message || squashed.name : String(squashed)
}

/**
 * Logs an event through Effect's Logger: starts at Info, exits and restarts at Warning, a supervisor failing
 * upward at Error. Annotated with `supervisor` and `child`.
 *
 * @example
 * ```ts
 * yield* Supervisor.start({ name: "node", onEvent: Supervisor.logEvent }, children)
 * ```
 */
export const logEvent = (event: SupervisorEvent): Effect.Effect<void> => {
  const annotations = event._tag === "SupervisorStopped" ? { supervisor: event.supervisor } : { supervisor: event.supervisor, child: event.id }
  let log: Effect.Effect<void>
  switch (event._tag) {
    case "ChildStarted":
      // A first start is routine (debug); a restart is news (info).
      log = event.restarts === 0 ? Effect.logDebug("child started") : Effect.logInfo(`child restarted (${event.restarts})`)
      break
    case "ChildStartFailed":
      log = Effect.logWarning(`child failed to start: ${describeCause(event.cause)}`)
      break
    case "ChildExited":
      log =
        event.reason === "normal"
          ? Effect.logInfo("child exited normally")
          : Effect.logWarning(`child exited (${event.reason}): ${Exit.isFailure(event.exit) ? describeCause(event.exit.cause) : ""}`)
      break
    case "ChildTerminated":
      log = event.timedOut ? Effect.logWarning("child terminated: shutdown timeout exceeded, finalizers abandoned") : Effect.logDebug("child terminated")
      break
    case "RestartScheduled":
      log = Effect.logWarning(`restarting (${event.strategy}, ${event.restartsInPeriod} in period${event.delayMs > 0 ? `, in ${event.delayMs} ms` : ""})`)
      break
    case "SupervisorStopped":
      log = event.error === undefined ? Effect.logDebug("supervisor stopped") : Effect.logError(`supervisor failed: ${event.error.message}`)
      break
  }
  return Effect.annotateLogs(log, annotations)
}
