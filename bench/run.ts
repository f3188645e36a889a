/**
 * `npm run bench`: runs every scenario of bench/scenarios/index.ts three times interleaved (round 1 of all of them,
 * then round 2, then round 3), keeps the median of each figure, and writes bench/RESULTS.md's top section (between
 * the bench markers; the rest of the file is kept).
 *
 *   npm run bench                          every scenario, 1 s per measurement
 *   CRANK_BENCH_SECONDS=2 npm run bench     longer measurements
 *   npm run bench -- --only moleculer      the scenarios whose id or label contains "moleculer" (several:
 *                                          `--only anchor.ws,crank.ws`); prints, and writes RESULTS.md only
 *                                          with --write too
 *   npm run bench -- --no-build            skip building dist/ (the `crank` processes and this run use it)
 *   CRANK_BENCH_PIN=0 npm run bench        do not pin processes to cores even where taskset exists
 *
 * Bounded: each scenario run has a time limit, and the whole run a budget: from round 2 on, a round runs the
 * scenarios it can afford (cheapest first) and skips the others (reported as such). Every child process is killed at the end, also on error.
 */
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { ratios } from "./harness/goals.ts"
import { hasTaskset, root } from "./harness/processes.ts"
import { formatNumber, type Outcome, replaceSection, section } from "./harness/report.ts"
import type { Figures, Scenario } from "./harness/Scenario.ts"

const args = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const only = option("--only")
const write = only === undefined || args.includes("--write")
const seconds = Number(process.env.CRANK_BENCH_SECONDS ?? 1)
if (!(seconds > 0 && seconds <= 60)) throw new Error(`CRANK_BENCH_SECONDS must be in (0, 60], not ${process.env.CRANK_BENCH_SECONDS}`)
const pin = hasTaskset() && process.env.CRANK_BENCH_PIN !== "0"
const rounds = 3
/**
 * The whole run stays under 5 minutes: a scenario run is skipped when, by what it took in the rounds before, it
 * would end past this many seconds from the start.
 */
const budgetSeconds = 285
/** One scenario run may take this long (setup, warm-up, measurements, teardown). */
const runLimitMs = 60_000 + seconds * 20_000

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(", ")
const loadBefore = load()
const started = performance.now()
const log = (line: string) => process.stderr.write(`${line}\n`)

if (!args.includes("--no-build")) {
  log("building dist/ (node scripts/build.mjs)...")
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" })
  if (build.status !== 0) throw new Error("the build failed; fix it or pass --no-build")
}

const { scenarios } = (await import("./scenarios/index.ts")) as { scenarios: ReadonlyArray<Scenario> }
const wanted = only?.split(",").filter((part) => part !== "")
const chosen = scenarios.filter((s) => wanted === undefined || wanted.some((part) => s.id.includes(part) || s.label.includes(part)))
if (chosen.length === 0) throw new Error(`no scenario matches --only ${only}`)

const withLimit = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1_000} s`)), ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

const results = chosen.map((scenario) => ({
  scenario,
  rounds: [] as Array<Figures | undefined>,
  errors: [] as Array<string>,
  /** The longest one of its runs took, in seconds. */
  longest: 0,
}))
log(`${chosen.length} scenarios × ${rounds} rounds, ${seconds} s per measurement, pin ${pin}, load ${loadBefore}`)
for (let round = 1; round <= rounds; round++) {
  // From round 2 on, what is left of the budget is shared between the rounds left: this round runs the scenarios
  // it can afford, cheapest first by their longest run so far (the others skip this round), so that a few slow
  // scenarios cost their own rounds, not every scenario's third one.
  const allowance = (budgetSeconds - (performance.now() - started) / 1_000) / (rounds - round + 1)
  const affordable = new Set<(typeof results)[number]>()
  let planned = 0
  for (const result of [...results].sort((a, b) => a.longest - b.longest)) {
    if (round === 1 || planned + result.longest <= allowance) {
      affordable.add(result)
      planned += result.longest
    }
  }
  for (const result of results) {
    const { scenario } = result
    if (!affordable.has(result) || (performance.now() - started) / 1_000 + result.longest > budgetSeconds) {
      result.rounds.push(undefined)
      result.errors.push(`round ${round} skipped: the run's ${budgetSeconds} s budget`)
      log(`round ${round} ${scenario.id}: skipped (budget)`)
      continue
    }
    const t0 = performance.now()
    try {
      const figures = await withLimit(scenario.run({ seconds, pin }), runLimitMs, scenario.id)
      result.rounds.push(figures)
      const shown = [
        ...(figures.perSecond === undefined ? [] : [`${formatNumber(figures.perSecond)}/s`]),
        ...(figures.p50Us === undefined ? [] : [`p50 ${formatNumber(figures.p50Us)} µs`]),
        ...(figures.p99Us === undefined ? [] : [`p99 ${formatNumber(figures.p99Us)} µs`]),
        ...Object.entries(figures.extra ?? {}).map(([k, v]) => `${k} ${formatNumber(v)}`),
      ]
      log(`round ${round} ${scenario.id}: ${shown.join(", ")} (${((performance.now() - t0) / 1_000).toFixed(1)} s)`)
    } catch (error) {
      result.rounds.push(undefined)
      result.errors.push(`round ${round} failed: ${error instanceof Error ? error.message : String(error)}`)
      log(`round ${round} ${scenario.id}: FAILED ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      result.longest = Math.max(result.longest, (performance.now() - t0) / 1_000)
    }
  }
}

const cpus = os.cpus()
const text = section(
  {
    date: new Date().toISOString().replace("T", " ").slice(0, 16) + " UTC",
    machine: `${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`,
    node: process.version,
    loadBefore,
    loadAfter: load(),
    command: `${seconds === 1 ? "" : `CRANK_BENCH_SECONDS=${seconds} `}npm run bench${only === undefined ? "" : ` -- --only ${only}`}`,
    seconds,
    pin,
    rounds,
    wallSeconds: (performance.now() - started) / 1_000,
  },
  results satisfies ReadonlyArray<Outcome>,
  ratios,
)
process.stdout.write(`${text}\n`)
if (write) {
  const path = new URL("./RESULTS.md", import.meta.url)
  writeFileSync(path, replaceSection(readFileSync(path, "utf8"), text))
  // The house's formatter lays out Markdown tables too: `npm test` runs `biome check .`.
  spawnSync(process.execPath, [`${root}node_modules/@biomejs/biome/bin/biome`, "format", "--write", "bench/RESULTS.md"], { cwd: root, stdio: "ignore" })
  log("wrote bench/RESULTS.md")
}
// Children still alive are killed by the exit handler in harness/processes.ts.
process.exit(results.some((r) => r.errors.length > 0) ? 1 : 0)
