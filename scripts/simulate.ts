/**
 * The deterministic simulator's runner (tests/simulation/harness.ts): runs seeds and prints, for each failing one,
 * its violations and the one command that replays it exactly.
 *
 *   npm run simulate -- --seeds 100000            seeds 1..100000 (or --from N to start elsewhere)
 *   npm run simulate -- --seed 1234 --verbose     one seed, with its whole trace
 *   --chaos-ms N, --quiet-ms N                    simulated time of the chaos and quiet phases
 *   --stop-after N                                stop after N failing seeds (default 10)
 *   --sabotage serve-twice|never-heal             break the mesh on purpose, to see a failing seed reported
 */
import { parseArgs } from "node:util"
import { replayCommand, runSeed, type SimOptions } from "../tests/simulation/harness.ts"

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    seeds: { type: "string" },
    from: { type: "string" },
    "chaos-ms": { type: "string" },
    "quiet-ms": { type: "string" },
    "stop-after": { type: "string" },
    sabotage: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
})

const numberOf = (text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a whole number: ${text}`)
  return n
}

const options: SimOptions = {
  ...(values["chaos-ms"] === undefined ? {} : { chaosMs: numberOf(values["chaos-ms"], 0) }),
  ...(values["quiet-ms"] === undefined ? {} : { quietMs: numberOf(values["quiet-ms"], 0) }),
  verbose: values.verbose === true,
  ...(values.sabotage === "serve-twice" || values.sabotage === "never-heal" ? { sabotage: values.sabotage } : {}),
}
const first = values.seed !== undefined ? numberOf(values.seed, 1) : numberOf(values.from, 1)
const count = values.seed !== undefined ? 1 : numberOf(values.seeds, 100)
const stopAfter = numberOf(values["stop-after"], 10)

const started = performance.now()
let failing = 0
let simulatedMs = 0
let requests = 0
let done = 0
let ok = 0
let maxOverrunMs = 0
let maxHealMs = 0
const failed: Record<string, number> = {}
for (let seed = first; seed < first + count; seed++) {
  const result = await runSeed(seed, options)
  done++
  simulatedMs += result.simulatedMs
  requests += result.requests.issued
  ok += result.requests.ok
  maxOverrunMs = Math.max(maxOverrunMs, result.requests.maxOverrunMs)
  maxHealMs = Math.max(maxHealMs, ...result.healedInMs)
  for (const [code, n] of Object.entries(result.requests.failed)) failed[code] = (failed[code] ?? 0) + n
  if (options.verbose === true) {
    for (const line of result.trace) console.log(line)
    console.log(JSON.stringify({ seed, digest: result.digest, requests: result.requests, faults: result.faults, events: result.events, checks: result.checks }))
  }
  if (result.violations.length > 0) {
    failing++
    console.log(`seed ${seed} FAILED:`)
    for (const v of result.violations.slice(0, 20)) console.log(`  ${v.property}: ${v.detail}`)
    if (result.violations.length > 20) console.log(`  ... and ${result.violations.length - 20} more`)
    console.log(`  replay: ${replayCommand(seed, { ...options, verbose: false })}`)
    if (failing >= stopAfter) break
  }
  if (count > 1 && done % 100 === 0) {
    const s = (performance.now() - started) / 1_000
    console.log(`${done} seeds, ${failing} failing, ${(done / s).toFixed(1)} seeds/s, ${(simulatedMs / done / 1_000).toFixed(0)} simulated s/seed`)
  }
}
const seconds = (performance.now() - started) / 1_000
console.log(
  `${done} seed(s) from ${first}: ${failing} failing; ${seconds.toFixed(1)} s wall, ${(done / seconds).toFixed(2)} seeds/s, ` +
    `${(simulatedMs / Math.max(1, done) / 1_000).toFixed(0)} simulated s/seed; ${requests} requests: ${ok} ok, failed ${JSON.stringify(failed)}, ` +
    `latest answer ${maxOverrunMs} ms past its deadline; a healed worker healthy again within ${maxHealMs} ms`,
)
process.exitCode = failing > 0 ? 1 : 0
