/**
 * Round-robin: the first eligible worker from the rotation's position on. The default strategy and the hot
 * path: no allocation, one pass at most (two when preferring the caller's node).
 */
import { type Candidate, eligible } from "./Candidate.ts"

/**
 * The index of the next eligible worker in `members`, scanning from `start`; on `node` first when one there is
 * eligible; `-1` when none is.
 *
 * @example
 * ```ts
 * const at = roundRobin(group.members, group.next, now, undefined, undefined)
 * if (at !== -1) group.next = (at + 1) % group.members.length
 * ```
 */
export const roundRobin = (members: ReadonlyArray<Candidate>, start: number, now: number, except: Candidate | undefined, node: string | undefined): number => {
  const n = members.length
  if (node !== undefined) {
    for (let i = 0; i < n; i++) {
      const at = (start + i) % n
      const m = members[at]!
      if (m.nodeId === node && eligible(m, now, except)) return at
    }
  }
  for (let i = 0; i < n; i++) {
    const at = (start + i) % n
    if (eligible(members[at]!, now, except)) return at
  }
  return -1
}
