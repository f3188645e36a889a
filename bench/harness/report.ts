/**
 * bench/RESULTS.md's top section from a run: per-figure medians of the rounds, one table per group, the ratios
 * with their goals. Only the text between the markers is replaced; the rest of the file is kept.
 */
import { goalText, holds, type Ratio, ratioOf } from "./goals.ts"
import type { Figures, Scenario } from "./Scenario.ts"

export const startMarker = "<!-- bench:start -->"
export const endMarker = "<!-- bench:end -->"

/** One scenario's figures in each round (undefined where it failed or was skipped), and its errors. */
export interface Outcome {
  readonly scenario: Scenario
  readonly rounds: ReadonlyArray<Figures | undefined>
  readonly errors: ReadonlyArray<string>
}

export const median = (values: ReadonlyArray<number>): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const defined = <A>(values: ReadonlyArray<A | undefined>): Array<A> => values.filter((v): v is A => v !== undefined)

/** The median of each figure over the rounds that produced it. */
export const medianFigures = (rounds: ReadonlyArray<Figures | undefined>): Figures | undefined => {
  const ok = defined(rounds)
  if (ok.length === 0) return undefined
  const of = (pick: (f: Figures) => number | undefined) => median(defined(ok.map(pick)))
  const extraKeys = [...new Set(ok.flatMap((f) => Object.keys(f.extra ?? {})))]
  const perSecond = of((f) => f.perSecond)
  const p50Us = of((f) => f.p50Us)
  const p99Us = of((f) => f.p99Us)
  return {
    ...(perSecond === undefined ? {} : { perSecond }),
    ...(p50Us === undefined ? {} : { p50Us }),
    ...(p99Us === undefined ? {} : { p99Us }),
    ...(extraKeys.length === 0 ? {} : { extra: Object.fromEntries(extraKeys.map((k) => [k, of((f) => f.extra?.[k]) ?? Number.NaN])) }),
  }
}

export const formatNumber = (n: number | undefined): string => {
  if (n === undefined || Number.isNaN(n)) return "—"
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** `skipped` or `failed`, for a round without figures. */
const missing = (o: Outcome, index: number): string => (o.errors.some((e) => e.startsWith(`round ${index + 1} skipped`)) ? "skipped" : "failed")

/** The rows marked ¹: which rounds were skipped (the budget) or failed, and why (each failure's first line). */
const notes = (outcomes: ReadonlyArray<Outcome>): Array<string> =>
  outcomes.flatMap((o) => {
    const skipped = o.errors.filter((e) => / skipped/.test(e)).map((e) => e.split(" ")[1])
    const failed = o.errors.filter((e) => !/ skipped/.test(e)).map((e) => (e.split("\n")[0] ?? "").slice(0, 200))
    return [
      ...(skipped.length === 0 ? [] : [`- ¹ ${o.scenario.label}: round ${skipped.join(", ")} skipped (the run's time budget)`]),
      ...failed.map((e) => `- ¹ ${o.scenario.label}: ${e}`),
    ]
  })

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`

const groupTable = (outcomes: ReadonlyArray<Outcome>): Array<string> => {
  const measured = outcomes.flatMap((o) => defined(o.rounds))
  const extraKeys = [...new Set(measured.flatMap((f) => Object.keys(f.extra ?? {})))]
  // The columns some row of the group has: a scale table has no msgs/s, a request table no extra figures.
  const base = (
    [
      ["msgs/s", (f: Figures | undefined) => f?.perSecond],
      ["p50 µs", (f: Figures | undefined) => f?.p50Us],
      ["p99 µs", (f: Figures | undefined) => f?.p99Us],
    ] as const
  ).filter(([, pick]) => measured.some((f) => pick(f) !== undefined))
  const rates = measured.some((f) => f.perSecond !== undefined)
  const lines = [
    row(["scenario", ...base.map(([name]) => name), ...extraKeys, ...(rates ? ["msgs/s in each round"] : [])]),
    row(["---", ...base.map(() => "---:"), ...extraKeys.map(() => "---:"), ...(rates ? ["---:"] : [])]),
  ]
  for (const o of outcomes) {
    const m = medianFigures(o.rounds)
    const perRound = o.rounds.map((f, i) => (f === undefined ? missing(o, i) : formatNumber(f.perSecond))).join(" / ")
    const label = o.errors.length === 0 ? o.scenario.label : `${o.scenario.label} ¹`
    lines.push(
      row([label, ...base.map(([, pick]) => formatNumber(pick(m))), ...extraKeys.map((k) => formatNumber(m?.extra?.[k])), ...(rates ? [perRound] : [])]),
    )
  }
  return lines
}

const ratioTable = (outcomes: ReadonlyArray<Outcome>, ratios: ReadonlyArray<Ratio>): Array<string> => {
  const byId = new Map(outcomes.map((o) => [o.scenario.id, o]))
  const lines = [row(["ratio", "value", "goal", "holds", "in each round"]), row(["---", "---:", "---:", ":---:", "---:"])]
  for (const ratio of ratios) {
    const a = byId.get(ratio.numerator)
    const b = byId.get(ratio.denominator)
    if (a === undefined || b === undefined) continue
    const perRound = a.rounds.map((f, i) => ratioOf(ratio, f, b.rounds[i]))
    const value = median(defined(perRound))
    const verdict = value === undefined ? undefined : holds(ratio, value)
    lines.push(
      row([
        `${ratio.group}: ${ratio.label}`,
        value === undefined ? "—" : `${value.toFixed(2)}×`,
        goalText(ratio),
        verdict === undefined ? "—" : verdict ? "yes" : "**no**",
        perRound.map((v) => (v === undefined ? "—" : v.toFixed(2))).join(" / "),
      ]),
    )
  }
  return lines
}

export interface RunInfo {
  readonly date: string
  readonly machine: string
  readonly node: string
  readonly loadBefore: string
  readonly loadAfter: string
  readonly command: string
  readonly seconds: number
  readonly pin: boolean
  readonly rounds: number
  readonly wallSeconds: number
}

export const section = (info: RunInfo, outcomes: ReadonlyArray<Outcome>, ratios: ReadonlyArray<Ratio>): string => {
  const groups = [...new Set(outcomes.map((o) => o.scenario.group))]
  const lines = [
    startMarker,
    `## Latest run: \`${info.command}\` — ${info.date}`,
    "",
    "Written by `bench/run.ts`; everything between the bench markers is replaced by the next run.",
    "",
    `- Machine: ${info.machine}; Node ${info.node}`,
    `- Load average before the run: ${info.loadBefore} (after: ${info.loadAfter}); the machine is shared, so compare rows of this run with each other`,
    `- ${info.seconds} s per measurement; ${info.rounds} rounds interleaved (round 1 of every scenario, then round 2, then round 3), each figure the median of the rounds; ${info.wallSeconds.toFixed(0)} s in all`,
    `- Pinning: ${info.pin ? "on (taskset): the client (this process) on core 0 while it measures, the other process of a pair (ws echo server, Moleculer server broker, crank worker) on core 1; the crank controller, idle on the direct path, is left to the scheduler" : "off (no taskset, or CRANK_BENCH_PIN=0)"}`,
    "- Payload: hello.greet's input `{ message: \"world\", options: { exclamations: 1 } }`, its output `{ greeting, worker }` (the ws echo returns the request frame); latency is per request, under the scenario's load (256 in flight: the time each request waited too)",
    "",
  ]
  for (const group of groups) {
    const inGroup = outcomes.filter((o) => o.scenario.group === group)
    const marked = notes(inGroup)
    lines.push(`### ${group}`, "", ...groupTable(inGroup), "", ...(marked.length === 0 ? [] : [...marked, ""]))
  }
  const ratioLines = ratioTable(outcomes, ratios)
  if (ratioLines.length > 2) {
    lines.push("### Ratios (issue 10's goals)", "", "Median of the per-round ratios (each round's rows ran under the same load).", "", ...ratioLines, "")
  }
  lines.push(endMarker)
  return lines.join("\n")
}

/** `file` with its marked section replaced by `text` (or `text` put after the title when there are no markers). */
export const replaceSection = (file: string, text: string): string => {
  const start = file.indexOf(startMarker)
  const end = file.indexOf(endMarker)
  if (start !== -1 && end > start) return file.slice(0, start) + text + file.slice(end + endMarker.length)
  const titleEnd = file.startsWith("# ") ? file.indexOf("\n") + 1 : 0
  return `${file.slice(0, titleEnd)}\n${text}\n\n${file.slice(titleEnd).replace(/^\n+/, "")}`
}
