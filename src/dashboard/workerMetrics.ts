/**
 * A worker process's `/metrics`: each of its workers' lifecycle state, in-flight and completed requests, and
 * per-capability outcomes and latencies, labelled with `worker`.
 *
 * | family | type | labels |
 * |---|---|---|
 * | `crank_worker_state` | gauge (1 for the current state, 0 for the others) | `worker`, `state` |
 * | `crank_worker_in_flight` | gauge | `worker` |
 * | `crank_worker_requests_completed_total` | counter | `worker` |
 * | `crank_requests_total` | counter | `worker`, `capability`, `version`, `outcome` |
 * | `crank_request_duration_seconds` | histogram | `worker`, `capability`, `version` |
 *
 * The request families have the controller's names with a `worker` label more: scraping both, aggregate one or
 * the other (`sum without (worker)`), not both.
 */
import { lifecycleStates } from "../../actors/workerLifecycle.ts"
import type { CapabilityStats } from "../../transports/Envelope.ts"
import { family, type Sample, statsSamples } from "./prometheusText.ts"

export interface WorkerMetricsEntry {
  readonly id: string
  readonly state: string
  readonly inFlight: number
  readonly completed: number
  /** Live, as the worker counts them (its heartbeats carry the same numbers to the controller). */
  readonly stats: ReadonlyArray<CapabilityStats>
}

export const workerMetrics = (workers: ReadonlyArray<WorkerMetricsEntry>): string => {
  const sorted = [...workers].sort((a, b) => a.id.localeCompare(b.id))
  const requests: Array<Sample> = []
  const durations: Array<Sample> = []
  for (const worker of sorted) {
    for (const stats of worker.stats) {
      const samples = statsSamples(stats, { worker: worker.id })
      requests.push(...samples.requests)
      durations.push(...samples.durations)
    }
  }
  return [
    family(
      "crank_worker_state",
      "gauge",
      "The worker's lifecycle state as it sees itself: 1 for the current state, 0 for the others.",
      sorted.flatMap((w) => lifecycleStates.map((state) => ({ labels: { worker: w.id, state }, value: w.state === state ? 1 : 0 }))),
    ),
    family(
      "crank_worker_in_flight",
      "gauge",
      "Requests the worker is serving now.",
      sorted.map((w) => ({ labels: { worker: w.id }, value: w.inFlight })),
    ),
    family(
      "crank_worker_requests_completed_total",
      "counter",
      "Requests the worker has finished since it started, whatever their outcome.",
      sorted.map((w) => ({ labels: { worker: w.id }, value: w.completed })),
    ),
    family("crank_requests_total", "counter", "Requests served, by worker, capability version and outcome (OK or the failure code).", requests),
    family("crank_request_duration_seconds", "histogram", "Time spent serving requests, by worker and capability version.", durations),
  ].join("")
}
