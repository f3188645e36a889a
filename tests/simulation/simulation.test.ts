/**
 * The deterministic simulator in `npm test` (harness.ts; docs/reliability.md, "Deterministic simulation"): a seed
 * replays exactly, and a few hundred seeds of a whole mesh under faults hold every property. A failing seed is
 * reported with the one command that replays it. `npm run simulate -- --seeds 100000` runs more, and longer.
 */
import { describe, expect, it } from "vitest"
import { replayCommand, runSeed, type SimOptions } from "./harness.ts"

/** Seeds per `it`, and how many `it`s: 300 seeds in all, each ~600 simulated seconds (360 of them chaos). */
const perChunk = 30
const chunks = 10
const options: SimOptions = { chaosMs: 360_000 }

describe("deterministic simulation", () => {
  it("replays a seed exactly, and another seed differently", async () => {
    const first = await runSeed(7, { ...options, verbose: true })
    const again = await runSeed(7, { ...options, verbose: true })
    expect(again.trace).toEqual(first.trace)
    expect(again.digest).toBe(first.digest)
    // A real run: requests were made and answered, faults were injected.
    expect(first.requests.issued).toBeGreaterThan(20)
    expect(first.requests.ok).toBeGreaterThan(0)
    expect(first.faults.messages).toBeGreaterThan(100)
    const other = await runSeed(8, options)
    expect(other.digest).not.toBe(first.digest)
  }, 60_000)

  it("catches a broken mesh: a request served twice, a partition never healed", async () => {
    const twice = await runSeed(3, { ...options, sabotage: "serve-twice" })
    expect(twice.violations.some((v) => v.property === "exactly-once" && v.detail.includes("ran 2 times"))).toBe(true)
    const cut = await runSeed(3, { ...options, sabotage: "never-heal" })
    expect(cut.violations.map((v) => v.property)).toEqual(expect.arrayContaining(["healed", "converged"]))
  }, 60_000)

  for (let chunk = 0; chunk < chunks; chunk++) {
    const from = 1 + chunk * perChunk
    it(`holds every property for seeds ${from}..${from + perChunk - 1}`, async () => {
      const failures: Array<string> = []
      for (let seed = from; seed < from + perChunk; seed++) {
        const result = await runSeed(seed, options)
        if (result.violations.length > 0) {
          failures.push(
            `seed ${seed}: ${result.violations
              .slice(0, 5)
              .map((v) => `${v.property}: ${v.detail}`)
              .join("; ")}\n  replay: ${replayCommand(seed, options)}`,
          )
        }
      }
      expect(failures, failures.join("\n")).toEqual([])
    }, 120_000)
  }
})
