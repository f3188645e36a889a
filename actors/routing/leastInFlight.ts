/**
 * Least-in-flight: the eligible worker with the fewest requests outstanding, counting what this router sent
 * and has not had answered plus what the worker last reported serving (its heartbeat), where known. Ties go
 * round-robin, from `start`, so equal workers share the load.
 */
import { type Candidate, lowest } from "./Candidate.ts"

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
export const leastInFlight = (members: ReadonlyArray<Candidate>, start: number, now: number, except: Candidate | undefined, node: string | undefined): number =>
  lowest(members, start, now, except, node, loadOf)
