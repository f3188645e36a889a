/**
 * The controller's `/metrics`: what it knows of the mesh as Prometheus text, built on each scrape from the
 * registry's plain views (no metric registry of its own to keep in step).
 *
 * | family | type | labels |
 * |---|---|---|
 * | `crank_workers` | gauge | `state` (every lifecycle state, zeros included) |
 * | `crank_requests_total` | counter | `capability`, `version`, `outcome` (`OK` or the failure code) |
 * | `crank_request_duration_seconds` | histogram | `capability`, `version` |
 * | `crank_worker_heartbeat_age_seconds` | gauge | `worker` |
 * | `crank_worker_in_flight` | gauge | `worker` |
 * | `crank_worker_breaker_open` | gauge | `worker` (1 while the relay's breaker for it is open or half-open, else 0) |
 *
 * Request counts come from the workers' heartbeats (cumulative per worker since it started), summed per
 * capability version. {@link RequestTotals} keeps those sums from falling when a worker leaves or restarts, so the
 * counter only resets when the controller does, as a Prometheus counter should.
 */
import type { BreakerStateName } from "../../actors/breaker.ts"
import type { WorkerView } from "../../actors/Controller.ts"
import { lifecycleStates } from "../../actors/workerLifecycle.ts"
import type { CapabilityStats } from "../../transports/Envelope.ts"
import { family, type Sample, statsSamples } from "./prometheusText.ts"

/** What the metrics are computed from: a subset of the controller's `WorkerView`, so tests can hand-write it. */
export type MetricsWorker = Pick<WorkerView, "id" | "state" | "inFlight" | "lastHeartbeatAt" | "stats"> & {
  /** The relay's breaker for the worker (the registry's views carry it; absent: no series for that worker). */
  readonly breaker?: BreakerStateName | undefined
}

export interface ControllerMetricsInput {
  readonly workers: ReadonlyArray<MetricsWorker>
  /** Milliseconds since the epoch, for heartbeat ages: read from Effect's `Clock` by the caller. */
  readonly now: number
  /** Request totals per capability version; default: the sum of `workers`' stats. */
  readonly totals?: ReadonlyArray<CapabilityStats>
  /** Peers the controller refused, by reason (limits, token, rate, silence); see `Controller.refusals`. */
  readonly refusals?: ReadonlyMap<string, number>
}

const keyOf = (stats: Pick<CapabilityStats, "capability" | "version">): string => `${stats.capability}\u0000${stats.version}`

interface MutableStats {
  capability: string
  version: string
  outcomes: Record<string, number>
  latencyBuckets: Array<number>
  latencySumMs: number
}

const add = (into: Map<string, MutableStats>, stats: CapabilityStats): void => {
  const key = keyOf(stats)
  let total = into.get(key)
  if (total === undefined) {
    total = { capability: stats.capability, version: stats.version, outcomes: {}, latencyBuckets: [], latencySumMs: 0 }
    into.set(key, total)
  }
  for (const [outcome, n] of Object.entries(stats.outcomes)) total.outcomes[outcome] = (total.outcomes[outcome] ?? 0) + n
  stats.latencyBuckets.forEach((n, i) => {
    total.latencyBuckets[i] = (total.latencyBuckets[i] ?? 0) + n
  })
  total.latencySumMs += stats.latencySumMs
}

/** Stats summed per capability version, sorted by capability then version. */
export const sumStats = (lists: Iterable<ReadonlyArray<CapabilityStats>>): Array<CapabilityStats> => {
  const totals = new Map<string, MutableStats>()
  for (const list of lists) for (const stats of list) add(totals, stats)
  return [...totals.values()].sort((a, b) => a.capability.localeCompare(b.capability) || a.version.localeCompare(b.version))
}

const requestsOf = (stats: CapabilityStats): number => Object.values(stats.outcomes).reduce((a, b) => a + b, 0)

/** True when `now` counts less than `before` anywhere: the worker started counting again (it restarted). */
const wentBack = (before: ReadonlyArray<CapabilityStats>, now: ReadonlyArray<CapabilityStats>): boolean => {
  const current = new Map(now.map((s) => [keyOf(s), s]))
  for (const old of before) {
    const fresh = current.get(keyOf(old))
    if (fresh === undefined) return true
    if (requestsOf(fresh) < requestsOf(old)) return true
    for (const [outcome, n] of Object.entries(old.outcomes)) if ((fresh.outcomes[outcome] ?? 0) < n) return true
  }
  return false
}

/**
 * Request totals that never go down while the controller lives: the last stats seen from a worker that has since
 * gone (drained, evicted) or restarted (its counts went back) are kept in a retired sum.
 *
 * What a worker served after the last observation before it left is lost, so observe often (the dashboard's
 * once-a-second tick does, as does every scrape).
 *
 * @example
 * ```ts
 * const totals = new RequestTotals()
 * const text = controllerMetrics({ workers, now: yield* Clock.currentTimeMillis, totals: totals.observe(workers) })
 * ```
 */
export class RequestTotals {
  private readonly last = new Map<string, ReadonlyArray<CapabilityStats>>()
  private readonly retired = new Map<string, MutableStats>()

  observe(workers: ReadonlyArray<Pick<WorkerView, "id" | "stats">>): Array<CapabilityStats> {
    const seen = new Set<string>()
    for (const worker of workers) {
      seen.add(worker.id)
      const before = this.last.get(worker.id)
      if (before !== undefined && before !== worker.stats && wentBack(before, worker.stats)) this.retire(before)
      this.last.set(worker.id, worker.stats)
    }
    for (const [id, stats] of this.last) {
      if (seen.has(id)) continue
      this.retire(stats)
      this.last.delete(id)
    }
    return sumStats([[...this.retired.values()], ...this.last.values()])
  }

  private retire(stats: ReadonlyArray<CapabilityStats>): void {
    for (const s of stats) add(this.retired, s)
  }
}

/**
 * The metrics text for `input`.
 *
 * @example
 * ```ts
 * controllerMetrics({ workers: controller.workers(), now: yield* Clock.currentTimeMillis })
 * // # HELP crank_workers Workers the controller knows, by lifecycle state.
 * // # TYPE crank_workers gauge
 * // crank_workers{state="starting"} 0 ...
 * ```
 */
export const controllerMetrics = (input: ControllerMetricsInput): string => {
  const byState = new Map<string, number>(lifecycleStates.map((s) => [s, 0]))
  for (const worker of input.workers) byState.set(worker.state, (byState.get(worker.state) ?? 0) + 1)
  const totals = input.totals ?? sumStats(input.workers.map((w) => w.stats))
  const workers = [...input.workers].sort((a, b) => a.id.localeCompare(b.id))

  const requests: Array<Sample> = []
  const durations: Array<Sample> = []
  for (const stats of totals) {
    const samples = statsSamples(stats)
    requests.push(...samples.requests)
    durations.push(...samples.durations)
  }

  return [
    family(
      "crank_workers",
      "gauge",
      "Workers the controller knows, by lifecycle state.",
      [...byState].map(([state, value]) => ({ labels: { state }, value })),
    ),
    family(
      "crank_requests_total",
      "counter",
      "Requests served by workers, by capability version and outcome (OK or the failure code), as of their last heartbeats.",
      requests,
    ),
    family(
      "crank_request_duration_seconds",
      "histogram",
      "Time workers spent serving requests, by capability version, as of their last heartbeats.",
      durations,
    ),
    family(
      "crank_worker_heartbeat_age_seconds",
      "gauge",
      "Seconds since the controller last heard a heartbeat from the worker.",
      workers.map((w) => ({ labels: { worker: w.id }, value: Math.max(0, input.now - w.lastHeartbeatAt) / 1_000 })),
    ),
    family(
      "crank_worker_in_flight",
      "gauge",
      "Requests the worker was serving at its last heartbeat.",
      workers.map((w) => ({ labels: { worker: w.id }, value: w.inFlight })),
    ),
    family(
      "crank_worker_breaker_open",
      "gauge",
      "1 while the controller's circuit breaker for the worker is open or half-open (its relay skips it but for one probe), else 0.",
      workers.flatMap((w) => (w.breaker === undefined ? [] : [{ labels: { worker: w.id }, value: w.breaker === "closed" ? 0 : 1 }])),
    ),
    family(
      "crank_refusals_total",
      "counter",
      "Peers the controller refused, by reason: a limit (capabilities, id, text, descriptor, host), a wrong token (unauthorized), too many control messages (rate), silence after connecting (silent), a bad frame.",
      [...(input.refusals ?? [])].sort(([a], [b]) => a.localeCompare(b)).map(([reason, value]) => ({ labels: { reason }, value })),
    ),
  ].join("")
}
