/**
 * The restart-intensity bookkeeping, OTP's `add_restart`: the timestamps of recent restarts, newest first,
 * trimmed to the period. Pure functions, so the rule can be read (and tested) apart from the engine.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { Backoff, RestartType } from "./ChildSpec.ts"
import { exitReason } from "./SupervisorEvent.ts"

/**
 * Records a restart at `nowMs` and drops those older than the window. As in OTP, a restart exactly
 * `periodMs` ago still counts (`t >= now - period`), and timestamps never go backwards: a clock that
 * steps back is clamped to the newest recorded restart, so the window cannot be widened or skipped.
 *
 * @example
 * ```ts
 * addRestart([1000, 0], 5000, 5000) // [5000, 1000, 0]
 * addRestart([1000, 0], 5001, 5000) // [5001, 1000]
 * ```
 */
export const addRestart = (restarts: ReadonlyArray<number>, nowMs: number, periodMs: number): ReadonlyArray<number> => {
  const newest = restarts[0]
  const now = newest !== undefined && newest > nowMs ? newest : nowMs
  const threshold = now - periodMs
  const kept: Array<number> = [now]
  for (const t of restarts) {
    if (t < threshold) break // newest first: everything after is older still
    kept.push(t)
  }
  return kept
}

/** Whether the restarts recorded in the window exceed the intensity, so the supervisor must give up. */
export const exceedsIntensity = (restarts: ReadonlyArray<number>, intensity: number): boolean => restarts.length > intensity

/**
 * The delay before the n-th restart within the window (n ≥ 1): `min(maxMs, initialMs * 2^(n-1))`.
 *
 * @example
 * ```ts
 * backoffDelay({ initialMs: 100, maxMs: 250 }, 1) // 100
 * backoffDelay({ initialMs: 100, maxMs: 250 }, 3) // 250 (400 capped)
 * ```
 */
export const backoffDelay = (backoff: Backoff, n: number): number => {
  if (backoff.initialMs <= 0 || n < 1) return 0
  // 2^(n-1) overflows to Infinity for large n, which the cap absorbs.
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** (n - 1))
}

/** Whether a child that ended with `exit` is restarted, by its `restart` type (OTP's permanent, transient, temporary). */
export const shouldRestart = (restart: RestartType, exit: Exit.Exit<unknown, unknown>): boolean => {
  switch (restart) {
    case "permanent":
      return true
    case "temporary":
      return false
    case "transient": {
      const reason = exitReason(exit)
      return reason === "failure" || reason === "defect"
    }
  }
}

/** Monotonic time in milliseconds, from Effect's `Clock`: what the restart window is measured in. */
export const nowMs: Effect.Effect<number> = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1_000_000)
