/**
 * Chooses a worker for a capability id and semver range: the highest compatible version that has an eligible
 * worker, then a worker of that version by the routing strategy (actors/routing/strategy.ts; round-robin unless
 * the call or the capability says otherwise). Eligible: routable, and its breaker (actors/breaker.ts) not open.
 * A worker is indexed only under the capabilities whose placement it meets (actors/routing/placement.ts). A call
 * may ask for more (`placement` in its `Choice`): only workers that meet it are considered. A worker offering a GPU
 * is reserved for work that asks for one (by the capability's placement or the call's), as Kubernetes keeps GPU
 * nodes for pods that tolerate their taint: an expensive worker is never taken by work any worker could do.
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
  /** The workers any call of this version may use. */
  readonly members: Array<W>
  /** Reserved workers (a GPU) hosting this version for calls that ask for what they offer. */
  readonly reserved: Array<W>
  next: number
  strategy: StrategyName | undefined
  /** Built on the first affinity pick, dropped when membership changes. */
  ring: HashRing<W> | undefined
}

/** A worker kept for work that asks for what it offers: one with a GPU. */
const isReserved = (offered: Placement | undefined): boolean => offered?.gpu === true || offered?.labels?.gpu === "true"

/** Whether work with this requirement may use a reserved worker. */
const asksForReserved = (required: Placement | undefined): boolean => required?.gpu === true || required?.labels?.gpu === "true"

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
        groups.push((group = { version: capability.version, members: [], reserved: [], next: 0, strategy: undefined, ring: undefined }))
        groups.sort((a, b) => compareVersionsDescending(a.version, b.version))
      }
      if (capability.strategy !== undefined) group.strategy = capability.strategy
      const list = isReserved(worker.placement) && !asksForReserved(capability.placement) ? group.reserved : group.members
      if (!list.includes(worker)) {
        list.push(worker)
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
        for (const list of [group.members, group.reserved]) {
          const at = list.indexOf(worker)
          if (at !== -1) {
            list.splice(at, 1)
            group.ring = undefined
          }
        }
        if (group.members.length === 0 && group.reserved.length === 0) groups.splice(i, 1)
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
    if (choice?.placement !== undefined) return this.pickPlaced(groups, choice.placement, now, choice, except)
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

  /**
   * A call that asks for a placement: among each version's workers, reserved ones included, those that meet it.
   * Builds a group per call (the rotation kept on the version group): the placement path is not the hot path.
   */
  private pickPlaced(groups: ReadonlyArray<VersionGroup<W>>, placement: Placement, now: number, choice: Choice, except: W | undefined): W | undefined {
    for (const group of groups) {
      const pool = asksForReserved(placement) ? [...group.members, ...group.reserved] : group.members
      const members = pool.filter((worker) => meets(placement, worker.placement))
      if (members.length === 0) continue
      const at = choose(
        choice.strategy ?? group.strategy,
        choice.key,
        choice.node,
        { members, next: group.next % members.length, ring: undefined },
        now,
        except,
      )
      if (at !== -1) {
        group.next = (group.next + 1) % Math.max(1, group.members.length + group.reserved.length)
        const worker = members[at]!
        worker.breaker?.picked(now)
        return worker
      }
    }
    return undefined
  }

  /** Every worker that advertises a version of `capabilityId` in `range`, highest version first, reserved ones last. */
  candidates(capabilityId: string, range: string): ReadonlyArray<W> {
    return this.groupsFor(capabilityId, range).flatMap((g) => [...g.members, ...g.reserved])
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
