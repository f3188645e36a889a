/**
 * The one error type that crosses the mesh.
 *
 * Every failure a caller can see, whether raised by the runtime (`NO_WORKER`, `TIMEOUT`...) or declared by a
 * capability and raised by its handler (`hello.greet` has none; an email capability might declare
 * `MAILBOX_FULL`), is a `CrankError` with a stable `code`. It is Schema-backed so it travels as data over any
 * transport and is recovered with `Effect.catchTag("CrankError", ...)`.
 *
 * The runtime codes are listed in `docs/errors.md`; their meaning is public API, like ws's `WS_ERR_*` codes.
 */
import * as Schema from "effect/Schema"

/** Codes the runtime itself raises. Capabilities may declare more of their own. */
export const SystemErrorCodes = [
  "BAD_FRAME",
  "INVALID_INPUT",
  "INVALID_OUTPUT",
  "NO_WORKER",
  "OVERLOADED",
  "TIMEOUT",
  "CANCELLED",
  "UNAVAILABLE",
  "DRAINING",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "LIMIT_EXCEEDED",
  "INTERNAL",
] as const

export type SystemErrorCode = (typeof SystemErrorCodes)[number]

/**
 * Whether a caller may safely try a system failure again (possibly on another worker).
 * Why these: the request never reached a handler (`NO_WORKER`, `OVERLOADED`, `DRAINING`) or the link broke
 * (`UNAVAILABLE`); all others either ran the handler or will fail the same way again.
 */
const retriableByDefault: Record<SystemErrorCode, boolean> = {
  BAD_FRAME: false,
  INVALID_INPUT: false,
  INVALID_OUTPUT: false,
  NO_WORKER: true,
  OVERLOADED: true,
  TIMEOUT: false,
  CANCELLED: false,
  UNAVAILABLE: true,
  DRAINING: true,
  UNAUTHORIZED: false,
  FORBIDDEN: false,
  LIMIT_EXCEEDED: false,
  INTERNAL: false,
}

export class CrankError extends Schema.TaggedError<CrankError>()("CrankError", {
  code: Schema.String,
  message: Schema.String,
  retriable: Schema.Boolean,
}) {}

/**
 * Builds a runtime failure with its default retriability. A handler raising one of its capability's own codes
 * uses `context.error` (or `declaredError`) instead, which checks the code against the capability.
 *
 * @example
 * ```ts
 * yield* crankError("NO_WORKER", "no healthy worker serves hello.greet@^1")
 * ```
 */
export const crankError = (code: SystemErrorCode, message: string): CrankError => new CrankError({ code, message, retriable: retriableByDefault[code] })

export const isCrankError = (u: unknown): u is CrankError => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "CrankError"

/**
 * Codes that say a request never reached a handler: it may go to another worker whatever the capability.
 * Only the runtime raises them (a handler that does becomes `INTERNAL`), so a retry can never run a handler twice.
 * `UNAVAILABLE` is not here: the link may have dropped after the handler started, so only idempotent
 * capabilities are retried on it.
 */
export const neverRanCodes: ReadonlySet<string> = new Set(["DRAINING", "OVERLOADED", "NO_WORKER"])

/** Codes only the runtime may raise. */
export const reservedCodes: ReadonlySet<string> = new Set([...neverRanCodes, "UNAVAILABLE"])

/**
 * Whether a failed request may be sent to another worker: it never ran, or it was cut off by a dropped link and
 * the capability is idempotent.
 */
export const mayRetryElsewhere = (code: string, idempotent: boolean): boolean => neverRanCodes.has(code) || (code === "UNAVAILABLE" && idempotent)

/** The message of anything thrown or failed with: an `Error`'s message, or the value as text. */
export const messageOf = (u: unknown): string => (u instanceof Error ? u.message : String(u))
