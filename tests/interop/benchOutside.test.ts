/**
 * The interop tier's share of the bench smoke test (tests/integration/bench.test.ts has the rest): the scenarios
 * that need a program from outside npm (Debian's nats-server) run once each, briefly, and must produce figures. No
 * timing is asserted.
 */
import { describe, expect, it } from "vitest"
import { scenarios } from "../../bench/scenarios/index.ts"

describe("bench scenarios that need nats-server, once each", () => {
  const outside = scenarios.filter((s) => s.requires !== undefined)

  it("there are some (the federation's remote-controller rows)", () => {
    expect(outside.map((s) => s.id)).toEqual(expect.arrayContaining([expect.stringMatching(/^crank\.nats\./)]))
  })

  for (const scenario of outside) {
    it(`${scenario.id} produces figures`, async () => {
      const figures = await scenario.run({ seconds: 0.05, pin: false })
      const measured = [figures.perSecond, figures.p50Us, figures.p99Us].filter((n) => n !== undefined)
      const extra = Object.values(figures.extra ?? {})
      expect(measured.length + extra.length).toBeGreaterThan(0)
      // Rates and latencies are positive wherever measured; extra figures (counts, rates of messages) are finite.
      for (const n of measured) expect(n).toBeGreaterThan(0)
      for (const n of extra) expect(Number.isFinite(n)).toBe(true)
    }, 240_000)
  }
})
