/**
 * Least-in-flight: the eligible worker with the fewest requests outstanding, counting what this router sent
 * and has not had answered plus what the worker last reported serving (its heartbeat), where known. Ties go
 * round-robin, from `start`, so equal workers share the load.
 */
import { type Candidate, eligible, localOnly } from "./Candidate.ts"

/** Outstanding requests on `worker` as this router knows them. */
export const loadOf = (worker: Candidate): number => (worker.pending ?? 0) + (worker.reportedInFlight ?? 0)

/**
 * The index of the least loaded eligible worker, or `-1`.
 *
 * @example
 * ```ts
 * const at = leastInFlight(members, next, now, undefined, localNode)
 * ```
 */
export const leastInFlight = (
  members: ReadonlyArray<Candidate>,
  start: number,
  now: number,
  except: Candidate | undefined,
  node: string | undefined,
): number => {
  const local = localOnly(members, now, except, node)
  const n = members.length
  let best = -1
  let bestLoad = Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const at = (start + i) % n
    const m = members[at]!
    if ((local && m.nodeId !== node) || !eligible(m, now, except)) continue
    const load = loadOf(m)
    if (load < bestLoad) {
      best = at
      bestLoad = load
    }
  }
  return best
}
