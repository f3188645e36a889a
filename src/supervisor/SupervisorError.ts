/**
 * The one error a supervisor raises, with a `reason` that says which rule was broken.
 *
 * Like OTP's tagged exit reasons (`invalid_intensity`, `{shutdown, reached_max_restart_intensity}`), every
 * way a supervisor can refuse or give up is one `SupervisorError` whose `reason` is a stable string: the
 * validation reasons are raised by `start`/`startChild` before anything runs, the runtime reasons by the engine.
 * Recover it with `Effect.catchTag("SupervisorError", ...)` and branch on `reason`.
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"

/** Reasons raised while validating flags and child specs, before any child starts. */
export const ValidationReasons = [
  "InvalidName",
  "InvalidStrategy",
  "InvalidIntensity",
  "InvalidPeriod",
  "InvalidBackoff",
  "InvalidChildId",
  "DuplicateChildId",
  "InvalidStart",
  "InvalidRestart",
  "InvalidShutdown",
  "InvalidChildType",
  "InvalidReadiness",
] as const

/** Reasons raised by a running (or starting) supervisor. */
export const RuntimeReasons = [
  /** A child failed before it was started; the supervisor (or `startChild`/`restartChild`) gives up. */
  "StartFailure",
  /** More than `intensity` restarts within `periodMs`: the supervisor stopped its children and failed upward. */
  "MaxRestartIntensity",
  /** `restartChild`/`terminateChild`/`deleteChild` named an id the supervisor does not know. */
  "ChildNotFound",
  /** `restartChild`/`deleteChild` on a child that is running, as OTP's `{error, running}`. */
  "ChildRunning",
  /** The supervisor has stopped (its scope closed or it failed upward); it takes no more requests. */
  "NotRunning",
] as const

export type SupervisorErrorReason = (typeof ValidationReasons)[number] | (typeof RuntimeReasons)[number]

export class SupervisorError extends Data.TaggedError("SupervisorError")<{
  readonly reason: SupervisorErrorReason
  /** The supervisor's `name` flag. */
  readonly supervisor: string
  readonly message: string
  /** The child the error is about, when there is one. */
  readonly childId?: string | undefined
  /** What the child died of: its last failure for `MaxRestartIntensity`, its start failure for `StartFailure`. */
  readonly cause?: Cause.Cause<unknown> | undefined
}> {}

const validation: ReadonlySet<string> = new Set(ValidationReasons)

/** Whether the error was raised by validation, that is before anything started. */
export const isValidationError = (error: SupervisorError): boolean => validation.has(error.reason)
