/**
 * The text of a `NO_WORKER` failure: what the mesh has instead of what was asked for, so the caller knows what to
 * fix. Three cases, checked in order:
 *
 * - no worker offers the id: the nearest ids (`did you mean hello.greet?`), else the ids that exist;
 * - the id exists but no version satisfies the range: the versions that exist;
 * - versions match but no worker serving them is routable: how many are in which state (`1 stale, 1 draining`).
 *
 * Pure, and called only on the failure path: routing itself never builds these strings.
 */
import { compareVersionsDescending, satisfies } from "./CapabilityRef.ts"
import { nearestIds } from "./nearestIds.ts"

/** One worker offering one capability version, in the state the router sees it in. */
export interface Offer {
  readonly workerId: string
  readonly id: string
  readonly version: string
  /** `healthy`, `stale`, `draining`, `registered` (no heartbeat yet), `unreachable` (healthy, link closed)... */
  readonly state: string
}

/** How many ids to list when none is near the one asked for. */
const listedIds = 8

/**
 * @example
 * ```ts
 * noWorkerMessage("hello.gret", "*", offers) // no capability "hello.gret" in the mesh; did you mean hello.greet?
 * noWorkerMessage("hello.greet", "^2", offers) // hello.greet@^2: no version matches; the mesh has hello.greet 1.0.0
 * noWorkerMessage("hello.greet", "^1", offers) // no healthy worker serves hello.greet@^1 (1 stale, 1 draining)
 * ```
 */
export const noWorkerMessage = (capability: string, range: string, offers: Iterable<Offer>): string => {
  const ids = new Set<string>()
  const versions = new Set<string>()
  const matching: Array<Offer> = []
  for (const offer of offers) {
    ids.add(offer.id)
    if (offer.id !== capability) continue
    versions.add(offer.version)
    if (satisfies(offer.version, range)) matching.push(offer)
  }
  if (versions.size === 0) {
    const asked = `no capability "${capability}" in the mesh`
    if (ids.size === 0) return `${asked}; no worker has registered any (is a worker running?)`
    const near = nearestIds(capability, ids)
    if (near.length > 0) return `${asked}; did you mean ${near.join(" or ")}?`
    const sorted = [...ids].sort()
    const more = sorted.length > listedIds ? ` and ${sorted.length - listedIds} more` : ""
    return `${asked}; it offers ${sorted.slice(0, listedIds).join(", ")}${more}`
  }
  if (matching.length === 0) {
    const list = [...versions].sort(compareVersionsDescending).join(", ")
    return `${capability}@${range}: no version matches; the mesh has ${capability} ${list}`
  }
  return `no healthy worker serves ${capability}@${range} (${stateCounts(matching)})`
}

/** `1 stale, 1 draining`: each worker once, however many matching versions it serves. */
const stateCounts = (offers: ReadonlyArray<Offer>): string => {
  const seen = new Set<string>()
  const counts = new Map<string, number>()
  for (const offer of offers) {
    if (seen.has(offer.workerId)) continue
    seen.add(offer.workerId)
    counts.set(offer.state, (counts.get(offer.state) ?? 0) + 1)
  }
  return [...counts].map(([state, n]) => `${n} ${state}`).join(", ")
}
