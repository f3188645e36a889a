import { describe, expect, it } from "vitest"
import { Breaker, countsAgainst, outcomeOf } from "../../actors/breaker.ts"

const options = { failures: 3, coolDownMs: 1_000 }

describe("Breaker (virtual time)", () => {
  it("opens after N consecutive counted failures, probes half-open after the cool-down, closes on success", () => {
    const b = new Breaker(options)
    let now = 0
    expect(b.name).toBe("closed")
    b.record("failure", (now += 10))
    b.record("failure", (now += 10))
    expect(b.allows(now)).toBe(true)
    b.record("failure", (now += 10))
    expect(b.name).toBe("open")
    expect(b.allows(now)).toBe(false)
    expect(b.allows(now + 999)).toBe(false)
    now += 1_000
    expect(b.allows(now)).toBe(true)
    b.picked(now)
    expect(b.name).toBe("half-open")
    // One probe at a time.
    expect(b.allows(now + 1)).toBe(false)
    b.record("success", (now += 5))
    expect(b.name).toBe("closed")
    expect(b.allows(now)).toBe(true)
  })

  it("reopens for a fresh cool-down when the probe fails", () => {
    const b = new Breaker(options)
    for (let i = 0; i < 3; i++) b.record("failure", 0)
    b.picked(1_000)
    b.record("failure", 1_200)
    expect(b.name).toBe("open")
    expect(b.allows(2_100)).toBe(false)
    expect(b.allows(2_200)).toBe(true)
  })

  it("frees a probe that never reports after another cool-down", () => {
    const b = new Breaker(options)
    for (let i = 0; i < 3; i++) b.record("failure", 0)
    b.picked(1_000)
    expect(b.allows(1_500)).toBe(false)
    expect(b.allows(2_000)).toBe(true)
  })

  it("a success resets the run; neutral answers neither count nor reset", () => {
    const b = new Breaker(options)
    b.record("failure", 0)
    b.record("failure", 0)
    b.record("success", 0)
    b.record("failure", 0)
    b.record("neutral", 0)
    b.record("failure", 0)
    expect(b.name).toBe("closed")
    b.record("failure", 0)
    expect(b.name).toBe("open")
  })

  it("a neutral answer to the probe closes it: the worker answered", () => {
    const b = new Breaker(options)
    for (let i = 0; i < 3; i++) b.record("failure", 0)
    b.picked(1_000)
    b.record("neutral", 1_001)
    expect(b.name).toBe("closed")
  })

  it("late failures while open change nothing; failures 0 never opens", () => {
    const b = new Breaker(options)
    for (let i = 0; i < 3; i++) b.record("failure", 0)
    b.record("failure", 900)
    expect(b.allows(1_000)).toBe(true)
    const never = new Breaker({ failures: 0, coolDownMs: 1 })
    for (let i = 0; i < 100; i++) never.record("failure", i)
    expect(never.name).toBe("closed")
  })

  it("counts UNAVAILABLE, TIMEOUT and INTERNAL only", () => {
    for (const code of ["UNAVAILABLE", "TIMEOUT", "INTERNAL"]) expect(countsAgainst(code)).toBe(true)
    for (const code of ["INVALID_INPUT", "DIVIDE_BY_ZERO", "OVERLOADED", "DRAINING", "NO_WORKER"]) expect(countsAgainst(code)).toBe(false)
    expect(outcomeOf({ _tag: "Result" })).toBe("success")
    expect(outcomeOf({ _tag: "Failure", code: "TIMEOUT" })).toBe("failure")
    expect(outcomeOf({ _tag: "Failure", code: "INVALID_INPUT" })).toBe("neutral")
  })
})
