/**
 * Latency-aware routing: an exponentially weighted moving average of the latencies a router observed per
 * worker, and the choice of the worker expected to answer soonest.
 *
 * The score is `(ewma + 1 ms) × (pending + 1)`: a fast worker already holding many requests loses to a slower
 * idle one (as Finagle's peak-EWMA balancer weighs latency by load). A worker never measured is scored with the
 * best average measured so far: it gets a fair chance, no head start (an unmeasured worker scored 0 would take
 * every request sent before its first answer came back) and no starvation.
 */
import { type Candidate, eligible, localOnly } from "./Candidate.ts"

/** Weight of each new sample: 0.3 follows a change within a handful of requests and smooths single outliers. */
export const defaultAlpha = 0.3

export class Ewma {
  /** The average in ms; `NaN` until the first sample. */
  value = Number.NaN
  samples = 0
  constructor(readonly alpha: number = defaultAlpha) {}

  get measured(): boolean {
    return this.samples > 0
  }

  observe(sampleMs: number): void {
    this.value = this.samples === 0 ? sampleMs : this.value + this.alpha * (sampleMs - this.value)
    this.samples++
  }
}

/**
 * The index of the eligible worker with the lowest expected latency, or `-1`. Ties go round-robin from `start`.
 *
 * @example
 * ```ts
 * route.latency.observe(now - startedAt) // after each answer
 * const at = latencyAware(members, next, now, undefined, undefined)
 * ```
 */
export const latencyAware = (
  members: ReadonlyArray<Candidate>,
  start: number,
  now: number,
  except: Candidate | undefined,
  node: string | undefined,
): number => {
  const local = localOnly(members, now, except, node)
  const n = members.length
  let floor = Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const latency = members[i]!.latency
    if (latency?.measured && latency.value < floor) floor = latency.value
  }
  if (floor === Number.POSITIVE_INFINITY) floor = 0
  let best = -1
  let bestScore = Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const at = (start + i) % n
    const m = members[at]!
    if ((local && m.nodeId !== node) || !eligible(m, now, except)) continue
    const expected = m.latency?.measured ? m.latency.value : floor
    const score = (expected + 1) * ((m.pending ?? 0) + 1)
    if (score < bestScore) {
      best = at
      bestScore = score
    }
  }
  return best
}
