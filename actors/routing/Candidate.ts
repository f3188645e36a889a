/**
 * What a routing strategy sees of a worker: the fields every router's entries share (the controller's
 * `WorkerRecord`, the client's direct `Route`). Optional fields are simply not used when absent.
 */
import type { Breaker } from "../breaker.ts"
import type { Ewma } from "./ewma.ts"

export interface Candidate {
  readonly id: string
  /** False while stale, draining, registered-but-not-yet-healthy, or taken out after a failure. */
  readonly routable: boolean
  /** The node the worker runs on, for preferring the caller's own. */
  readonly nodeId?: string | undefined
  /** This worker's breaker in this router: open, it is skipped. */
  readonly breaker?: Breaker | undefined
  /** Requests this router sent to the worker and has not had answered. */
  readonly pending?: number | undefined
  /** What the worker itself last reported serving (heartbeats), where known. */
  readonly reportedInFlight?: number | undefined
  /** Latencies this router observed on the worker. */
  readonly latency?: Ewma | undefined
}

/** Whether `worker` may be chosen at `now`: routable, not `except`, and its breaker (if any) allows it. */
export const eligible = (worker: Candidate, now: number, except: Candidate | undefined): boolean =>
  worker.routable && worker !== except && (worker.breaker === undefined || worker.breaker.allows(now))

/**
 * Whether to restrict a choice to workers on `node`: only when one of them is eligible. Prefer-local is a
 * preference: a caller whose node has no healthy worker is served elsewhere.
 */
export const localOnly = (members: ReadonlyArray<Candidate>, now: number, except: Candidate | undefined, node: string | undefined): boolean => {
  if (node === undefined) return false
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!
    if (m.nodeId === node && eligible(m, now, except)) return true
  }
  return false
}

/**
 * The index of the eligible worker with the lowest `score`, scanning from `start` so ties rotate; on `node` only
 * when one there is eligible; `-1` when none is. What least-in-flight and latency-aware share.
 */
export const lowest = (
  members: ReadonlyArray<Candidate>,
  start: number,
  now: number,
  except: Candidate | undefined,
  node: string | undefined,
  score: (worker: Candidate) => number,
): number => {
  const local = localOnly(members, now, except, node)
  const n = members.length
  let best = -1
  let bestScore = Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const at = (start + i) % n
    const m = members[at]!
    if ((local && m.nodeId !== node) || !eligible(m, now, except)) continue
    const value = score(m)
    if (value < bestScore) {
      best = at
      bestScore = value
    }
  }
  return best
}
