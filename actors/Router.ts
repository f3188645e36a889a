/**
 * Chooses a worker for a capability id and semver range: the highest compatible version that has a routable
 * worker, round-robin among that version's workers.
 *
 * Kept apart from the controller so every party that holds a routing table (the controller, and clients that
 * dial workers directly) routes the same way. Hot path: `pick` does no allocation; the semver work happens
 * once per (id, range) and is cached until membership changes.
 */
import { compareVersionsDescending, satisfies } from "../capabilities/CapabilityRef.ts"

export interface Routable {
  readonly id: string
  readonly capabilities: ReadonlyArray<{ readonly id: string; readonly version: string }>
  /** False while stale, draining or registered-but-not-yet-healthy: skipped without re-indexing. */
  readonly routable: boolean
}

interface VersionGroup<W> {
  readonly version: string
  readonly members: Array<W>
  next: number
}

export class Router<W extends Routable> {
  private readonly byCapability = new Map<string, Array<VersionGroup<W>>>()
  /** Capability id → range → the groups that satisfy it: nested, so the hot path builds no key string. */
  private readonly resolved = new Map<string, Map<string, ReadonlyArray<VersionGroup<W>>>>()
  private resolvedCount = 0

  add(worker: W): void {
    for (const capability of worker.capabilities) {
      let groups = this.byCapability.get(capability.id)
      if (groups === undefined) this.byCapability.set(capability.id, (groups = []))
      let group = groups.find((g) => g.version === capability.version)
      if (group === undefined) {
        groups.push((group = { version: capability.version, members: [], next: 0 }))
        groups.sort((a, b) => compareVersionsDescending(a.version, b.version))
      }
      if (!group.members.includes(worker)) group.members.push(worker)
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
        if (at !== -1) group.members.splice(at, 1)
        if (group.members.length === 0) groups.splice(i, 1)
      }
      if (groups.length === 0) this.byCapability.delete(capability.id)
    }
    this.clearResolved()
  }

  /** A routable worker for `capabilityId@range`, or `undefined` when none can serve. */
  pick(capabilityId: string, range: string): W | undefined {
    const groups = this.groupsFor(capabilityId, range)
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!
      const members = group.members
      const n = members.length
      for (let i = 0; i < n; i++) {
        const at = (group.next + i) % n
        const worker = members[at]!
        if (worker.routable) {
          group.next = (at + 1) % n
          return worker
        }
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
