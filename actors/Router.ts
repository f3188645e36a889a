/**
 * Chooses a worker for a capability id and semver range: the highest compatible version that has an eligible
 * worker, then a worker of that version by the routing strategy (actors/routing/strategy.ts; round-robin unless
 * the call or the capability says otherwise). Eligible: routable, and its breaker (actors/breaker.ts) not open.
 * A worker is indexed only under the capabilities whose placement it meets (actors/routing/placement.ts).
 *
 * Kept apart from the controller so every party that holds a routing table (the controller, and clients that
 * dial workers directly) routes the same way. Hot path: `pick` with round-robin does no allocation; the semver
 * work happens once per (id, range) and is cached until membership changes.
 */
import type { Placement } from "../capabilities/Capability.ts"
import { compareVersionsDescending, satisfies } from "../capabilities/CapabilityRef.ts"
import type { Candidate } from "./routing/Candidate.ts"
import type { HashRing } from "./routing/hashRing.ts"
import { meets } from "./routing/placement.ts"
import { type Choice, choose, type StrategyName } from "./routing/strategy.ts"

export interface Routable extends Candidate {
  readonly id: string
  readonly capabilities: ReadonlyArray<{
    readonly id: string
    readonly version: string
    /** The capability's own strategy, used when a call names none. */
    readonly strategy?: StrategyName | undefined
    /** What the capability requires of its workers; checked against the worker's `placement`. */
    readonly placement?: Placement | undefined
  }>
  /** What the worker offers (labels, a GPU). */
  readonly placement?: Placement | undefined
  /** False while stale, draining or registered-but-not-yet-healthy: skipped without re-indexing. */
  readonly routable: boolean
}

interface VersionGroup<W extends Routable> {
  readonly version: string
  readonly members: Array<W>
  next: number
  strategy: StrategyName | undefined
  /** Built on the first affinity pick, dropped when membership changes. */
  ring: HashRing<W> | undefined
}

export class Router<W extends Routable> {
  private readonly byCapability = new Map<string, Array<VersionGroup<W>>>()
  /** Capability id → range → the groups that satisfy it: nested, so the hot path builds no key string. */
  private readonly resolved = new Map<string, Map<string, ReadonlyArray<VersionGroup<W>>>>()
  private resolvedCount = 0

  add(worker: W): void {
    for (const capability of worker.capabilities) {
      // A worker that does not offer what the capability requires is never routed it, whatever it advertises.
      if (!meets(capability.placement, worker.placement)) continue
      let groups = this.byCapability.get(capability.id)
      if (groups === undefined) this.byCapability.set(capability.id, (groups = []))
      let group = groups.find((g) => g.version === capability.version)
      if (group === undefined) {
        groups.push((group = { version: capability.version, members: [], next: 0, strategy: undefined, ring: undefined }))
        groups.sort((a, b) => compareVersionsDescending(a.version, b.version))
      }
      if (capability.strategy !== undefined) group.strategy = capability.strategy
      if (!group.members.includes(worker)) {
        group.members.push(worker)
        group.ring = undefined
      }
    }
    this.clearResolved()
  }

  remove(worker: W): void {
    for (const capability of worker.capabilities) {
      const groups = this.byCapability.get(capability.id)
      if (groups === undefined) continue
      for (let i = groups.length - 1; i >= 0; i--) {
        const group = groups[i]!
        const at = group.members.indexOf(worker)
        if (at !== -1) {
          group.members.splice(at, 1)
          group.ring = undefined
        }
        if (group.members.length === 0) groups.splice(i, 1)
      }
      if (groups.length === 0) this.byCapability.delete(capability.id)
    }
    this.clearResolved()
  }

  /**
   * An eligible worker for `capabilityId@range` at `now` (`Clock` ms, for breakers), other than `except`, chosen
   * by `choice` (strategy, key, caller's node), or `undefined` when none can serve.
   */
  pick(capabilityId: string, range: string, now = 0, choice?: Choice, except?: W): W | undefined {
    const groups = this.groupsFor(capabilityId, range)
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!
      const members = group.members
      const at =
        choice === undefined
          ? choose(group.strategy, undefined, undefined, group, now, except)
          : choose(choice.strategy ?? group.strategy, choice.key, choice.node, group, now, except)
      if (at !== -1) {
        group.next = (at + 1) % members.length
        const worker = members[at]!
        worker.breaker?.picked(now)
        return worker
      }
    }
    return undefined
  }

  /** Every worker that advertises a version of `capabilityId` in `range`, highest version first. */
  candidates(capabilityId: string, range: string): ReadonlyArray<W> {
    return this.groupsFor(capabilityId, range).flatMap((g) => g.members)
  }

  private groupsFor(capabilityId: string, range: string): ReadonlyArray<VersionGroup<W>> {
    let byRange = this.resolved.get(capabilityId)
    let groups = byRange?.get(range)
    if (groups === undefined) {
      // Ranges come from callers: bound the cache so arbitrary ranges cannot grow it without limit.
      if (this.resolvedCount >= 1_024) {
        this.clearResolved()
        byRange = undefined
      }
      groups = (this.byCapability.get(capabilityId) ?? []).filter((g) => satisfies(g.version, range))
      if (byRange === undefined) this.resolved.set(capabilityId, (byRange = new Map()))
      byRange.set(range, groups)
      this.resolvedCount++
    }
    return groups
  }

  private clearResolved(): void {
    this.resolved.clear()
    this.resolvedCount = 0
  }
}
