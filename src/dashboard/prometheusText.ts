/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: a family is `# HELP`, `# TYPE` and its
 * samples; label values and help text are escaped as the format requires. Small on purpose: `/metrics` of the
 * controller and of a worker process are built from plain views of what they know, on each scrape, so there is no
 * metric registry to keep in step with the registry of workers.
 *
 * `promtool check metrics` accepts what this writes (tests/unit/metrics.test.ts runs it).
 */
import { type CapabilityStats, latencyBoundariesMs } from "../../transports/Envelope.ts"

export const contentType = "text/plain; version=0.0.4; charset=utf-8"

export type Labels = Readonly<Record<string, string>>

export interface Sample {
  /** Appended to the family's name: `_bucket`, `_sum`, `_count` for histograms; empty otherwise. */
  readonly suffix?: string
  readonly labels: Labels
  readonly value: number
}

export type MetricType = "gauge" | "counter" | "histogram"

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

export const formatValue = (value: number): string => (Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value))

const formatLabels = (labels: Labels): string => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

/**
 * One metric family as text, ending with a newline.
 *
 * @example
 * ```ts
 * family("crank_workers", "gauge", "Workers by state.", [{ labels: { state: "healthy" }, value: 3 }])
 * // # HELP crank_workers Workers by state.
 * // # TYPE crank_workers gauge
 * // crank_workers{state="healthy"} 3
 * ```
 */
export const family = (name: string, type: MetricType, help: string, samples: ReadonlyArray<Sample>): string => {
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`]
  for (const sample of samples) lines.push(`${name}${sample.suffix ?? ""}${formatLabels(sample.labels)} ${formatValue(sample.value)}`)
  return `${lines.join("\n")}\n`
}

/**
 * The bucket upper bounds in seconds, Prometheus's base unit for time (promtool rejects `_ms` in names as an
 * abbreviated unit), from the millisecond boundaries workers count with.
 */
export const latencyBoundariesSeconds: ReadonlyArray<number> = latencyBoundariesMs.map((ms) => ms / 1_000)

/**
 * The samples of one histogram series from a worker's per-bucket (not cumulative) millisecond counts, the last
 * being the overflow bucket: cumulative `_bucket{le=...}` lines ending with `+Inf`, then `_sum` (seconds) and
 * `_count`.
 */
export const histogramSamples = (labels: Labels, buckets: ReadonlyArray<number>, sumMs: number): Array<Sample> => {
  const samples: Array<Sample> = []
  let cumulative = 0
  latencyBoundariesSeconds.forEach((le, i) => {
    cumulative += buckets[i] ?? 0
    samples.push({ suffix: "_bucket", labels: { ...labels, le: formatValue(le) }, value: cumulative })
  })
  // Buckets beyond the known boundaries (an older or newer worker) all count towards +Inf.
  for (let i = latencyBoundariesSeconds.length; i < buckets.length; i++) cumulative += buckets[i] ?? 0
  samples.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: cumulative })
  samples.push({ suffix: "_sum", labels, value: sumMs / 1_000 })
  samples.push({ suffix: "_count", labels, value: cumulative })
  return samples
}

/**
 * The `crank_requests_total` and `crank_request_duration_seconds` samples of one capability version's stats,
 * with `labels` (a worker, say) before the capability's own.
 */
export const statsSamples = (stats: CapabilityStats, labels: Labels = {}): { readonly requests: Array<Sample>; readonly durations: Array<Sample> } => {
  const own = { ...labels, capability: stats.capability, version: stats.version }
  return {
    requests: Object.keys(stats.outcomes)
      .sort()
      .map((outcome) => ({ labels: { ...own, outcome }, value: stats.outcomes[outcome]! })),
    durations: histogramSamples(own, stats.latencyBuckets, stats.latencySumMs),
  }
}
