import { describe, expect, it } from "vitest"
import { Ewma, latencyAware } from "../../../actors/routing/ewma.ts"

const w = (id: string, samples: ReadonlyArray<number>, pending = 0) => {
  const latency = new Ewma(0.5)
  for (const s of samples) latency.observe(s)
  return { id, routable: true, latency, pending }
}

describe("Ewma", () => {
  it("starts at the first sample and moves by alpha toward each new one", () => {
    const e = new Ewma(0.5)
    expect(e.measured).toBe(false)
    e.observe(10)
    expect(e.value).toBe(10)
    e.observe(20)
    expect(e.value).toBe(15)
    e.observe(15)
    expect(e.value).toBe(15)
    expect(e.samples).toBe(3)
  })
})

describe("latencyAware", () => {
  it("prefers the worker observed fastest", () => {
    const ms = [w("slow", [50, 60]), w("fast", [2, 3]), w("mid", [10])]
    expect(latencyAware(ms, 0, 0, undefined, undefined)).toBe(1)
  })

  it("weighs latency by outstanding requests: a busy fast worker yields to an idle slower one", () => {
    const ms = [w("fast", [1], 20), w("mid", [5], 0)]
    expect(latencyAware(ms, 0, 0, undefined, undefined)).toBe(1)
  })

  it("gives a worker never measured a fair chance: it competes as the best measured", () => {
    const ms = [w("fast", [4]), w("new", [])]
    // Tied with the fastest: rotation decides, so the newcomer is tried.
    expect(latencyAware(ms, 1, 0, undefined, undefined)).toBe(1)
    expect(latencyAware(ms, 0, 0, undefined, undefined)).toBe(0)
    // Once busy it is not flooded.
    ms[1]!.pending = 1
    expect(latencyAware(ms, 1, 0, undefined, undefined)).toBe(0)
    // Nothing measured at all: round-robin.
    const fresh = [w("a", []), w("b", [])]
    expect([0, 1].map((s) => latencyAware(fresh, s, 0, undefined, undefined))).toEqual([0, 1])
  })

  it("follows a worker that slows down", () => {
    const ms = [w("a", [2]), w("b", [3])]
    expect(latencyAware(ms, 0, 0, undefined, undefined)).toBe(0)
    for (let i = 0; i < 4; i++) ms[0]!.latency.observe(40)
    expect(latencyAware(ms, 0, 0, undefined, undefined)).toBe(1)
  })
})
