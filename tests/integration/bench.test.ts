/**
 * Smoke test of `npm run bench` (bench/run.ts): every scenario of bench/scenarios/index.ts that needs nothing but npm
 * runs once (the others in tests/interop/benchOutside.test.ts), for a
 * fraction of a second, unpinned, and must produce figures. No timing is asserted: the numbers of a 0.05 s
 * measurement on a shared machine mean nothing; that the scenario runs, measures and stops its processes does.
 */
import { afterAll, describe, expect, it } from "vitest"
import { aliveChildren } from "../../bench/harness/processes.ts"
import type { Figures } from "../../bench/harness/Scenario.ts"
import { scenarios } from "../../bench/scenarios/index.ts"

const seconds = 0.05

const expectFigures = (figures: Figures) => {
  const measured = [figures.perSecond, figures.p50Us, figures.p99Us].filter((n) => n !== undefined)
  const extra = Object.values(figures.extra ?? {})
  expect(measured.length + extra.length).toBeGreaterThan(0)
  // Rates and latencies are positive wherever measured; extra figures (a CPU share, a difference) are finite.
  for (const n of measured) expect(n).toBeGreaterThan(0)
  for (const n of extra) expect(Number.isFinite(n)).toBe(true)
}

describe("bench scenarios, once each", () => {
  it("ids are unique", () => {
    expect(new Set(scenarios.map((s) => s.id)).size).toBe(scenarios.length)
  })

  // What needs a program from outside npm (nats-server) runs in the interop tier: tests/interop/benchOutside.test.ts.
  for (const scenario of scenarios.filter((s) => s.requires === undefined)) {
    // `npm start` on a fresh clone first trains the email classifier's model (tens of seconds on two busy cores).
    const timeoutMs = scenario.id === "crank.failure.dev-start" ? 360_000 : 60_000
    it(
      `${scenario.id} produces figures`,
      async () => {
        expectFigures(await scenario.run({ seconds, pin: false }))
      },
      timeoutMs,
    )
  }

  afterAll(() => {
    expect(aliveChildren()).toBe(0)
  })
})
