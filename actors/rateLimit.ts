/**
 * A fixed-window rate limit: at most `limit` events in each window of `windowMs`. Pure: the caller passes the
 * time (from Effect's `Clock`), so tests drive it without waiting.
 *
 * The controller gives each connection one, so a peer flooding control messages is cut off rather than queued
 * without end.
 */
export type Verdict = "ok" | "over" | "overFirst"

export class FixedWindow {
  private windowStart = Number.NEGATIVE_INFINITY
  private count = 0

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts one event at `now`: `ok`, or `overFirst` for the first one past the limit in this window, `over` after. */
  take(now: number): Verdict {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now
      this.count = 0
    }
    this.count++
    return this.count <= this.limit ? "ok" : this.count === this.limit + 1 ? "overFirst" : "over"
  }
}
