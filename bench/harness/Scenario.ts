/**
 * What one benchmark scenario is, to the harness (bench/run.ts): a name, the group it is reported in, and a run
 * that measures for a bounded time and returns figures. Every scenario is bounded in count and time, talks to
 * 127.0.0.1 only, and stops every process it started. The harness runs each scenario three times interleaved
 * with the others, keeps the median of the three, and writes bench/RESULTS.md; ratios are between rows of the
 * same run.
 */

/** How a scenario is asked to run. */
export interface RunOptions {
  /** How long each measurement may take, in seconds (the smoke test passes a fraction of a second). */
  readonly seconds: number
  /** `taskset` exists: pin the two processes of a pair (client, server) to different cores. */
  readonly pin: boolean
}

/** What a scenario measured. Leave out what it does not measure. */
export interface Figures {
  /** Requests (or messages) per second. */
  readonly perSecond?: number
  /** Latency percentiles of single requests, in microseconds. */
  readonly p50Us?: number
  readonly p99Us?: number
  /** Anything else, by name with its unit in the name: `{ "cpu %": 12.5, "bytes per worker": 1800, "ms": 42 }`. */
  readonly extra?: Readonly<Record<string, number>>
}

export interface Scenario {
  /** Stable id, used by ratios: `anchor.moleculer.local.sequential`, `crank.memory.effect.sequential`... */
  readonly id: string
  /** The table it is reported in: `in process`, `across processes`, `scale`, `failure detection`, `command line`. */
  readonly group: string
  /** What a reader sees in the row. */
  readonly label: string
  /**
   * A program from outside npm the scenario needs (Debian's `nats-server`): `npm test`'s smoke test leaves such
   * scenarios to the interop tier's (tests/interop/benchOutside.test.ts), as its own tests are.
   */
  readonly requires?: "nats-server"
  readonly run: (options: RunOptions) => Promise<Figures>
}
