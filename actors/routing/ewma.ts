/**
 * Latency-aware routing: an exponentially weighted moving average of the latencies a router observed per
 * worker, and the choice of the worker expected to answer soonest.
 *
 * The score is `(ewma + 1 ms) × (pending + 1)`: a fast worker already holding many requests loses to a slower
 * idle one (as Finagle's peak-EWMA balancer weighs latency by load). A worker never measured is scored with the
 * best average measured so far: it gets a fair chance, no head start (an unmeasured worker scored 0 would take
 * every request sent before its first answer came back) and no starvation.
 */
import { type Candidate, lowest } from "./Candidate.ts"

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
  // Workers never measured are expected to answer as fast as the fastest measured one: they get their chance.
  let floor = Number.POSITIVE_INFINITY
  for (let i = 0; i < members.length; i++) {
    const latency = members[i]!.latency
    if (latency?.measured && latency.value < floor) floor = latency.value
  }
  if (floor === Number.POSITIVE_INFINITY) floor = 0
  return lowest(members, start, now, except, node, (m) => ((m.latency?.measured ? m.latency.value : floor) + 1) * ((m.pending ?? 0) + 1))
}
