/**
 * Reading `/metrics` text the way a scraper does, with the npm parser `parse-prometheus-text-format` (no Debian
 * tools: `promtool` and a real Prometheus server judge the same text in `npm run test:interop`).
 *
 * The parser throws on a line it cannot read (a broken label set, a TYPE line with extra words) but is lenient
 * about the rest, and it folds a labelled histogram's series into one. So the text is read twice: once as
 * written (the families, their TYPE and HELP), and once with histogram/summary TYPE lines read as untyped (every
 * series with its own labels and value). On top, the checks the exposition format requires and the parser skips:
 * numeric values, valid metric and label names, a known TYPE declared for every sample, no series written twice,
 * and histograms whose buckets are cumulative with `+Inf` equal to `_count` and a `_sum` beside them.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format"

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped"

export interface Family {
  readonly name: string
  readonly type: MetricType
  readonly help: string
}

export interface Exposition {
  readonly families: ReadonlyMap<string, Family>
  /** Every series, keyed `name{label="value",...}` with the labels in the order written. */
  readonly series: ReadonlyMap<string, number>
  /** The value of the series `name` with exactly `labels` (any order), or undefined. */
  readonly value: (name: string, labels?: Readonly<Record<string, string>>) => number | undefined
  /** The series of `name` whose labels include `labels`. */
  readonly select: (
    name: string,
    labels?: Readonly<Record<string, string>>,
  ) => ReadonlyArray<{ readonly labels: Readonly<Record<string, string>>; readonly value: number }>
}

const types = new Set<string>(["counter", "gauge", "histogram", "summary", "untyped"])
const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const number = (raw: string | undefined, where: string): number => {
  if (raw === "+Inf") return Number.POSITIVE_INFINITY
  if (raw === "-Inf") return Number.NEGATIVE_INFINITY
  if (raw === "NaN") return Number.NaN
  const value = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw)
  if (Number.isNaN(value)) throw new Error(`not a number: ${JSON.stringify(raw)} in ${where}`)
  return value
}

const keyOf = (name: string, labels: Readonly<Record<string, string>>): string => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? name : `${name}{${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`
}

const sameLabels = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)

/** Parses and checks exposition text; throws, naming what is wrong, when a scraper would reject it. */
export const readExposition = (text: string): Exposition => {
  const families = new Map<string, Family>()
  for (const family of parsePrometheusTextFormat(text)) {
    const type = family.type.toLowerCase()
    if (!metricName.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`)
    if (!types.has(type)) throw new Error(`unknown TYPE ${family.type} for ${family.name}`)
    if (families.has(family.name)) throw new Error(`family ${family.name} written twice`)
    families.set(family.name, { name: family.name, type: type as MetricType, help: family.help })
  }
  const flat = parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) (histogram|summary)[ \t]*$/gim, "# TYPE $1 untyped"))
  const series = new Map<string, number>()
  const list: Array<{ name: string; labels: Record<string, string>; value: number }> = []
  for (const family of flat) {
    for (const sample of family.metrics) {
      const labels = { ...(sample.labels ?? {}) }
      for (const name of Object.keys(labels)) if (!labelName.test(name)) throw new Error(`invalid label name ${JSON.stringify(name)} on ${family.name}`)
      const key = keyOf(family.name, labels)
      const value = number(sample.value, key)
      if (series.has(key)) throw new Error(`series written twice: ${key}`)
      series.set(key, value)
      list.push({ name: family.name, labels, value })
    }
  }
  // The parser merges a series written twice in a row into one: count the sample lines to catch that.
  const sampleLines = text.split("\n").filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#")).length
  if (sampleLines !== series.size) throw new Error(`${sampleLines} sample lines but ${series.size} distinct series: a series is written twice`)

  // Every sample belongs to a family declared with TYPE (a histogram's or summary's suffixes to theirs).
  const familyOf = (name: string): Family | undefined => {
    const direct = families.get(name)
    if (direct !== undefined) return direct
    const base = name.replace(/_(bucket|sum|count)$/, "")
    const family = families.get(base)
    if (family === undefined) return undefined
    if (family.type === "histogram" || (family.type === "summary" && !name.endsWith("_bucket"))) return family
    return undefined
  }
  for (const { name } of list) {
    if (familyOf(name) === undefined) throw new Error(`sample ${name} has no TYPE line of its own`)
  }
  for (const family of families.values()) {
    if (family.type === "untyped") throw new Error(`family ${family.name} has no TYPE`)
    if (family.type !== "histogram") continue
    const buckets = list.filter((s) => s.name === `${family.name}_bucket`)
    const groups = new Map<string, { labels: Record<string, string>; les: Array<[number, number]> }>()
    for (const bucket of buckets) {
      const { le, ...rest } = bucket.labels
      if (le === undefined) throw new Error(`${family.name}_bucket without le`)
      const key = keyOf(family.name, rest)
      const group = groups.get(key) ?? { labels: rest, les: [] }
      group.les.push([number(le, `le of ${key}`), bucket.value])
      groups.set(key, group)
    }
    for (const [key, group] of groups) {
      const les = group.les.sort((a, b) => a[0] - b[0])
      for (let i = 1; i < les.length; i++) {
        if (les[i]![1] < les[i - 1]![1]) throw new Error(`${key}: bucket le=${les[i]![0]} holds fewer than le=${les[i - 1]![0]} (buckets are cumulative)`)
      }
      const last = les.at(-1)!
      if (last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${key}: no le="+Inf" bucket`)
      const count = list.find((s) => s.name === `${family.name}_count` && sameLabels(s.labels, group.labels))
      const sum = list.find((s) => s.name === `${family.name}_sum` && sameLabels(s.labels, group.labels))
      if (count === undefined || sum === undefined) throw new Error(`${key}: missing _count or _sum`)
      if (count.value !== last[1]) throw new Error(`${key}: _count ${count.value} differs from the +Inf bucket ${last[1]}`)
    }
  }

  const select = (name: string, labels: Readonly<Record<string, string>> = {}) =>
    list.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map(({ labels, value }) => ({ labels, value }))
  const value = (name: string, labels: Readonly<Record<string, string>> = {}) => list.find((s) => s.name === name && sameLabels(s.labels, labels))?.value
  return { families, series, value, select }
}
