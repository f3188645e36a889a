/** Types for `parse-prometheus-text-format` 1.1.1, which ships none: what its parser returns (prom2json's shape). */
declare module "parse-prometheus-text-format" {
  export interface ParsedSample {
    readonly labels?: Readonly<Record<string, string>>
    readonly value?: string
    readonly timestamp_ms?: string
    /** Histograms: cumulative count per `le`, keyed as written (`"0.005"`, `"+Inf"`). */
    readonly buckets?: Readonly<Record<string, string>>
    /** Summaries: value per quantile. */
    readonly quantiles?: Readonly<Record<string, string>>
    readonly count?: string
    readonly sum?: string
  }
  export interface ParsedFamily {
    readonly name: string
    readonly help: string
    /** Upper case: COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED (or whatever a TYPE line said). */
    readonly type: string
    readonly metrics: ReadonlyArray<ParsedSample>
  }
  /** Throws `Encountered invalid line: ...` on a line it cannot read. */
  export default function parsePrometheusTextFormat(text: string): Array<ParsedFamily>
}
