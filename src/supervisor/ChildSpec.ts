/**
 * The two maps that make up a supervisor's contract, as in OTP: the supervisor flags and the child spec, their
 * defaults (`defaultFlags`, `defaultChildSpec`) and their validation.
 *
 * Validation is all-or-nothing and happens before anything starts: `resolveFlags` and `resolveChildSpecs` either
 * return every field filled in with its default, or fail with the first broken rule as a tagged
 * `SupervisorError` (`InvalidIntensity`, `DuplicateChildId`, ...), like OTP's `check_flags`/`check_childspecs`.
 * The meaning of each key is documented on the types below and in `Supervisor.ts`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type Strategy, strategies } from "./Strategy.ts"
import { SupervisorError, type SupervisorErrorReason } from "./SupervisorError.ts"
import type { SupervisorEvent } from "./SupervisorEvent.ts"

export type { Strategy } from "./Strategy.ts"
/** permanent: always restarted; transient: only after a failure; temporary: never (and forgotten when it exits). */
export type RestartType = "permanent" | "transient" | "temporary"
/** Informational, except that it picks the defaults of `shutdown` and `readiness`. */
export type ChildType = "worker" | "supervisor"
/** Milliseconds to wait for a stopping child's finalizers, or `"infinity"` to wait as long as they take. */
export type Shutdown = number | "infinity"
/** spawn: started once its fiber runs to its first suspension; signal: started when it calls `Supervisor.signalReady`. */
export type Readiness = "spawn" | "signal"

/** Capped exponential delay before a restart: `min(maxMs, initialMs * 2^(n-1))` for the n-th restart in the window. */
export interface Backoff {
  readonly initialMs: number
  readonly maxMs: number
}

/**
 * A child: what to run and how to treat it when it stops.
 *
 * `R` is what `start` needs besides the `Scope` the supervisor gives it; the supervisor needs it too.
 */
export interface ChildSpec<R = never> {
  /** Required, unique within the supervisor, non-empty. */
  readonly id: string
  /**
   * Required. Runs the child: it is running while this effect runs. It gets a `Scope` of its own that is
   * closed when it stops or is restarted. Completing is a normal exit; failing or dying is a crash.
   */
  readonly start: Effect.Effect<unknown, unknown, R | Scope.Scope>
  /** Default `"permanent"`. */
  readonly restart?: RestartType | undefined
  /** Default 5000 for a worker, `"infinity"` for a supervisor (its own children have their own bounds). */
  readonly shutdown?: Shutdown | undefined
  /** Default `"worker"`. */
  readonly type?: ChildType | undefined
  /** Default `"spawn"` for a worker, `"signal"` for a supervisor (`Supervisor.run` signals once its children are up). */
  readonly readiness?: Readiness | undefined
}

/** The supervisor flags. Every key is optional. */
export interface SupervisorFlags {
  /** Names the supervisor in errors and events. Default `"supervisor"`. */
  readonly name?: string | undefined
  /** Default `"one-for-one"`. */
  readonly strategy?: Strategy | undefined
  /** Maximum restarts within `periodMs`; an integer ≥ 0. Default 1. */
  readonly intensity?: number | undefined
  /** The restart window in milliseconds; an integer > 0. Default 5000. */
  readonly periodMs?: number | undefined
  /** Default `{ initialMs: 0, maxMs: 0 }`: restart at once. */
  readonly backoff?: Backoff | undefined
  /** Called, in the supervisor's fiber, for every event; its failures are ignored. `Supervisor.logEvent` logs them. */
  readonly onEvent?: ((event: SupervisorEvent) => Effect.Effect<void>) | undefined
}

/** A child spec with every default filled in. */
export interface ResolvedChildSpec<R = never> {
  readonly id: string
  readonly start: Effect.Effect<unknown, unknown, R | Scope.Scope>
  readonly restart: RestartType
  readonly shutdown: Shutdown
  readonly type: ChildType
  readonly readiness: Readiness
}

/** Flags with every default filled in. */
export interface ResolvedFlags {
  readonly name: string
  readonly strategy: Strategy
  readonly intensity: number
  readonly periodMs: number
  readonly backoff: Backoff
  readonly onEvent: ((event: SupervisorEvent) => Effect.Effect<void>) | undefined
}

/** OTP's `default_flags`: one restart in five seconds, restarted at once. */
export const defaultFlags = {
  name: "supervisor",
  strategy: "one-for-one",
  intensity: 1,
  periodMs: 5000,
  backoff: { initialMs: 0, maxMs: 0 },
} as const satisfies Omit<ResolvedFlags, "onEvent">

/** OTP's `default_child_spec`; the entries keyed by type depend on `type`. */
export const defaultChildSpec = {
  restart: "permanent",
  type: "worker",
  shutdown: { worker: 5000, supervisor: "infinity" },
  readiness: { worker: "spawn", supervisor: "signal" },
} as const

const restartTypes: ReadonlyArray<unknown> = ["permanent", "transient", "temporary"]
const childTypes: ReadonlyArray<unknown> = ["worker", "supervisor"]
const readinesses: ReadonlyArray<unknown> = ["spawn", "signal"]

const isNonNegativeInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0
const isNonNegativeMs = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

const invalid = (supervisor: string, reason: SupervisorErrorReason, message: string, childId?: string) =>
  Effect.fail(new SupervisorError({ reason, supervisor, message, childId }))

/**
 * Fills in the flags' defaults, or fails with the first invalid key.
 *
 * @example
 * ```ts
 * const flags = yield* resolveFlags({ strategy: "one-for-all", intensity: 3 })
 * // flags.periodMs === 5000
 * ```
 */
export const resolveFlags = (flags: SupervisorFlags): Effect.Effect<ResolvedFlags, SupervisorError> =>
  Effect.suspend(() => {
    const name = flags.name ?? defaultFlags.name
    if (typeof name !== "string" || name.length === 0) {
      return invalid(String(name), "InvalidName", `invalid supervisor name ${JSON.stringify(name)}: must be a non-empty string`)
    }
    const strategy = flags.strategy ?? defaultFlags.strategy
    if (!(strategies as ReadonlyArray<unknown>).includes(strategy)) {
      return invalid(name, "InvalidStrategy", `invalid strategy ${JSON.stringify(strategy)}: expected one of ${strategies.join(", ")}`)
    }
    const intensity = flags.intensity ?? defaultFlags.intensity
    if (!isNonNegativeInt(intensity)) {
      return invalid(name, "InvalidIntensity", `invalid intensity ${String(intensity)}: must be an integer >= 0`)
    }
    const periodMs = flags.periodMs ?? defaultFlags.periodMs
    if (!isNonNegativeInt(periodMs) || periodMs === 0) {
      return invalid(name, "InvalidPeriod", `invalid periodMs ${String(periodMs)}: must be an integer > 0`)
    }
    const backoff = flags.backoff ?? defaultFlags.backoff
    if (
      typeof backoff !== "object" ||
      backoff === null ||
      !isNonNegativeMs(backoff.initialMs) ||
      !isNonNegativeMs(backoff.maxMs) ||
      backoff.maxMs < backoff.initialMs
    ) {
      return invalid(name, "InvalidBackoff", `invalid backoff ${JSON.stringify(backoff)}: needs 0 <= initialMs <= maxMs, both finite`)
    }
    return Effect.succeed({ name, strategy, intensity, periodMs, backoff, onEvent: flags.onEvent })
  })

/**
 * Fills in one child spec's defaults, or fails with the first invalid key. Does not check uniqueness.
 */
export const resolveChildSpec = <R>(supervisor: string, spec: ChildSpec<R>): Effect.Effect<ResolvedChildSpec<R>, SupervisorError> =>
  Effect.suspend(() => {
    const id: unknown = spec?.id
    if (typeof id !== "string" || id.length === 0) {
      return invalid(supervisor, "InvalidChildId", `invalid child id ${JSON.stringify(id)}: must be a non-empty string`)
    }
    if (!Effect.isEffect(spec.start)) {
      return invalid(supervisor, "InvalidStart", `child "${id}": start must be an Effect`, id)
    }
    const restart = spec.restart ?? defaultChildSpec.restart
    if (!restartTypes.includes(restart)) {
      return invalid(supervisor, "InvalidRestart", `child "${id}": invalid restart ${JSON.stringify(restart)}`, id)
    }
    const type = spec.type ?? defaultChildSpec.type
    if (!childTypes.includes(type)) {
      return invalid(supervisor, "InvalidChildType", `child "${id}": invalid type ${JSON.stringify(type)}`, id)
    }
    const shutdown = spec.shutdown ?? defaultChildSpec.shutdown[type]
    if (shutdown !== "infinity" && !isNonNegativeMs(shutdown)) {
      return invalid(supervisor, "InvalidShutdown", `child "${id}": invalid shutdown ${String(shutdown)}: must be ms >= 0 or "infinity"`, id)
    }
    const readiness = spec.readiness ?? defaultChildSpec.readiness[type]
    if (!readinesses.includes(readiness)) {
      return invalid(supervisor, "InvalidReadiness", `child "${id}": invalid readiness ${JSON.stringify(readiness)}`, id)
    }
    return Effect.succeed({ id, start: spec.start, restart, shutdown, type, readiness })
  })

/**
 * Resolves a list of child specs, failing on the first invalid spec or on an id seen twice (also against
 * `existing` ids, for `startChild`).
 */
export const resolveChildSpecs = <R>(
  supervisor: string,
  specs: ReadonlyArray<ChildSpec<R>>,
  existing: Iterable<string> = [],
): Effect.Effect<ReadonlyArray<ResolvedChildSpec<R>>, SupervisorError> =>
  Effect.gen(function* () {
    if (!Array.isArray(specs)) {
      return yield* invalid(supervisor, "InvalidChildId", "children must be an array of child specs")
    }
    const seen = new Set(existing)
    const resolved: Array<ResolvedChildSpec<R>> = []
    for (const spec of specs) {
      const child = yield* resolveChildSpec<R>(supervisor, spec)
      if (seen.has(child.id)) {
        return yield* invalid(supervisor, "DuplicateChildId", `duplicate child id "${child.id}"`, child.id)
      }
      seen.add(child.id)
      resolved.push(child)
    }
    return resolved
  })
