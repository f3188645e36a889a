/**
 * A circuit breaker for one worker, as a pure state machine over numbers: no clock, no fibers. The router that
 * owns it passes the time in (`Clock` milliseconds), so a test drives it through every state in virtual time.
 *
 * - **closed**: requests flow; `failures` consecutive failures that count (see {@link countsAgainst}) open it.
 * - **open**: the worker is skipped; after `coolDownMs` one probe may go (half-open).
 * - **half-open**: one request at a time goes; a success closes the breaker, a counted failure reopens it for a
 *   fresh cool-down. A probe that never reports back (its caller gave up) frees the slot after another cool-down.
 *
 * Only failures that say the worker itself is unwell count: `UNAVAILABLE` (its link dropped), `TIMEOUT` and
 * `INTERNAL`. A capability's declared error, `INVALID_INPUT`, `OVERLOADED` or `DRAINING` say the worker answered:
 * they neither count nor reset the run (except in half-open, where any answer closes the breaker: the worker is up).
 */

/** Closed 0, open 1, half-open 2: integers, so the routing hot path compares numbers. */
export const BreakerState = { closed: 0, open: 1, halfOpen: 2 } as const
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState]

/** The state as `crank.status`, `/metrics` and the dashboard name it. */
export type BreakerStateName = "closed" | "open" | "half-open"
const names: ReadonlyArray<BreakerStateName> = ["closed", "open", "half-open"]

/** What an attempt on the worker came to, for the breaker. */
export type Outcome = "success" | "failure" | "neutral"

const failureCodes: ReadonlySet<string> = new Set(["UNAVAILABLE", "TIMEOUT", "INTERNAL"])

/** Whether a failure code says the worker is unwell (and counts towards opening its breaker). */
export const countsAgainst = (code: string): boolean => failureCodes.has(code)

/** The outcome of a reply (`Result` or a `Failure`'s code) for the breaker. */
export const outcomeOf = (reply: { readonly _tag: "Result" } | { readonly _tag: "Failure"; readonly code: string }): Outcome =>
  reply._tag === "Result" ? "success" : countsAgainst(reply.code) ? "failure" : "neutral"

export interface BreakerOptions {
  /** Consecutive counted failures that open the breaker (0: never opens). */
  readonly failures: number
  /** How long an open breaker waits before letting one probe through. */
  readonly coolDownMs: number
}

export class Breaker {
  state: BreakerState = BreakerState.closed
  /** Consecutive counted failures while closed. */
  failures = 0
  /** When it last opened, or when the half-open probe went. */
  since = 0
  /** Half-open: a probe is out and has not reported. */
  probing = false

  constructor(readonly options: BreakerOptions) {}

  get name(): BreakerStateName {
    return names[this.state]!
  }

  /** Whether a request may go to the worker at `now`. Pure: call {@link picked} for the one request that goes. */
  allows(now: number): boolean {
    switch (this.state) {
      case BreakerState.closed:
        return true
      case BreakerState.open:
        return now - this.since >= this.options.coolDownMs
      default:
        return !this.probing || now - this.since >= this.options.coolDownMs
    }
  }

  /** The router chose this worker at `now`: an open breaker past its cool-down turns half-open, and its probe is out. */
  picked(now: number): void {
    if (this.state === BreakerState.closed) return
    this.state = BreakerState.halfOpen
    this.probing = true
    this.since = now
  }

  /** An attempt's outcome at `now`. */
  record(outcome: Outcome, now: number): void {
    if (outcome === "success") return this.close()
    if (this.state === BreakerState.closed) {
      if (outcome === "failure" && this.options.failures > 0 && ++this.failures >= this.options.failures) this.open(now)
      return
    }
    if (this.state === BreakerState.halfOpen) {
      // The probe answered: a counted failure reopens, any other answer shows the worker is up.
      if (outcome === "failure") this.open(now)
      else this.close()
    }
    // Open: late answers of requests sent before it opened change nothing.
  }

  private open(now: number): void {
    this.state = BreakerState.open
    this.since = now
    this.probing = false
    this.failures = 0
  }

  private close(): void {
    this.state = BreakerState.closed
    this.failures = 0
    this.probing = false
  }
}

/**
 * A breaker with the default tunables (`breakerFailures`, `breakerCoolDownMs`), or the ones given.
 *
 * @example
 * ```ts
 * const breaker = make({ failures: 5, coolDownMs: 5_000 })
 * if (breaker.allows(now)) { breaker.picked(now); send(); breaker.record(outcomeOf(reply), later) }
 * ```
 */
export const make = (options: BreakerOptions): Breaker => new Breaker(options)
