/**
 * What a controller tells its federation about itself: a summary per capability version of its routable workers
 * (how many, in flight, capacity), and the difference between two summaries (a delta). Pure.
 *
 * Why a summary, not the workers: a peer forwards to a controller, never to one of its workers, so it needs the
 * count and the load, and a controller with 300 workers of one capability sends one entry, not 300.
 */
import type { WorkerView } from "../WorkerView.ts"
import type { SummaryEntry } from "./federationProtocol.ts"

/** Summary entries by `capability@version`. */
export type Summary = ReadonlyMap<string, SummaryEntry>

export const summaryKey = (capability: string, version: string): string => `${capability}@${version}`

/** Workers a peer may count on: registered or healthy (not stale, draining or gone). */
const isRoutable = (worker: WorkerView): boolean => worker.state === "registered" || worker.state === "healthy"

/**
 * @example
 * ```ts
 * summaryOf(controller.workers()).get("hello.greet@1.0.0") // { workers: 2, inFlight: 1, maxInFlight: 128, ... }
 * ```
 */
export const summaryOf = (workers: Iterable<WorkerView>): Summary => {
  const byKey = new Map<string, { capability: string; version: string; workers: number; inFlight: number; maxInFlight: number }>()
  for (const worker of workers) {
    if (!isRoutable(worker)) continue
    for (const { id, version } of worker.capabilities) {
      const key = summaryKey(id, version)
      const entry = byKey.get(key)
      if (entry === undefined) byKey.set(key, { capability: id, version, workers: 1, inFlight: worker.inFlight, maxInFlight: worker.maxInFlight })
      else {
        entry.workers++
        entry.inFlight += worker.inFlight
        entry.maxInFlight += worker.maxInFlight
      }
    }
  }
  return byKey
}

/** The entries of `next` that differ from `previous`, and a `workers: 0` entry for each one `next` lost. */
export const diffSummaries = (previous: Summary, next: Summary): ReadonlyArray<SummaryEntry> => {
  const changes: Array<SummaryEntry> = []
  for (const [key, entry] of next) {
    const before = previous.get(key)
    if (before === undefined || before.workers !== entry.workers || before.inFlight !== entry.inFlight || before.maxInFlight !== entry.maxInFlight) {
      changes.push(entry)
    }
  }
  for (const [key, entry] of previous) {
    if (!next.has(key)) changes.push({ capability: entry.capability, version: entry.version, workers: 0, inFlight: 0, maxInFlight: 0 })
  }
  return changes
}
