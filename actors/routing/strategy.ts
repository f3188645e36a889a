/**
 * Routing strategies: how a router chooses among the workers of one version group (the router has already
 * chosen the highest compatible version that has an eligible worker). One sentence each:
 *
 * - `round-robin` (default): each eligible worker in turn.
 * - `least-in-flight`: the worker with the fewest requests outstanding (this router's own count plus what the
 *   worker last reported).
 * - `latency-aware`: the lowest expected latency (EWMA of observed latencies, weighed by outstanding requests);
 *   a worker never measured competes as the best measured one.
 * - `affinity`: the owner of the request's key on a consistent-hash ring; without a key, round-robin.
 *
 * Every strategy skips workers that are not routable or whose breaker is open, and all but `affinity` prefer the
 * caller's node when an eligible worker is there (affinity keeps a key on one worker wherever the caller is).
 */

import { type Placement, type StrategyName, strategyNames } from "../../capabilities/Capability.ts"
import { type Candidate, eligible } from "./Candidate.ts"
import { latencyAware } from "./ewma.ts"
import { HashRing } from "./hashRing.ts"
import { leastInFlight } from "./leastInFlight.ts"
import { roundRobin } from "./roundRobin.ts"

export { type StrategyName, strategyNames } from "../../capabilities/Capability.ts"

export const isStrategyName = (u: unknown): u is StrategyName => typeof u === "string" && (strategyNames as ReadonlyArray<string>).includes(u)

/** How one request is to be routed, beyond its capability and range; every field optional. */
export interface Choice {
  /** Default: the capability's own strategy, else `round-robin`. */
  readonly strategy?: StrategyName | undefined
  /** The affinity key. */
  readonly key?: string | undefined
  /** The caller's node: preferred when an eligible worker is there. */
  readonly node?: string | undefined
  /** What the worker must offer for this call (a GPU, labels), beyond the capability's own placement. */
  readonly placement?: Placement | undefined
}

/** A set of workers to choose among: the rotation's position, and the hash ring, built on first use by `affinity`. */
export interface Group<W extends Candidate> {
  readonly members: ReadonlyArray<W>
  /** Where round-robin (and the tie-breaks of the others) start. */
  readonly next: number
  /** Cleared by the owner whenever `members` changes. */
  ring: HashRing<W> | undefined
}

/**
 * The index in `group.members` of the worker to use, or `-1` when none is eligible.
 *
 * @example
 * ```ts
 * const group = { members, next: 0, ring: undefined }
 * const at = choose("affinity", String(input.userId), undefined, group, now, undefined)
 * ```
 */
export const choose = <W extends Candidate>(
  strategy: StrategyName | undefined,
  key: string | undefined,
  node: string | undefined,
  group: Group<W>,
  now: number,
  except: W | undefined,
): number => {
  const members = group.members
  const start = group.next
  switch (strategy) {
    case "least-in-flight":
      return leastInFlight(members, start, now, except, node)
    case "latency-aware":
      return latencyAware(members, start, now, except, node)
    case "affinity": {
      if (key === undefined) return roundRobin(members, start, now, except, node)
      group.ring ??= new HashRing(members)
      const owner = group.ring.lookup(key, (w) => eligible(w, now, except))
      return owner === undefined ? -1 : members.indexOf(owner)
    }
    default:
      return roundRobin(members, start, now, except, node)
  }
}
