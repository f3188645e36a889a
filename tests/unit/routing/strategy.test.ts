import { describe, expect, it } from "vitest"
import { Breaker } from "../../../actors/breaker.ts"
import { Ewma } from "../../../actors/routing/ewma.ts"
import { choose, isStrategyName } from "../../../actors/routing/strategy.ts"

const w = (id: string, nodeId: string, pending = 0) => ({
  id,
  nodeId,
  routable: true,
  pending,
  latency: new Ewma(),
  breaker: new Breaker({ failures: 1, coolDownMs: 1_000 }),
})

const group = (members: ReturnType<typeof w>[]) => ({ members, next: 0, ring: undefined })

describe("choose", () => {
  it("defaults to round-robin", () => {
    const g = group([w("a", "n1"), w("b", "n1")])
    expect(choose(undefined, undefined, undefined, g, 0, undefined)).toBe(0)
    expect(choose("round-robin", undefined, undefined, { ...g, next: 1 }, 0, undefined)).toBe(1)
  })

  it("dispatches least-in-flight and latency-aware", () => {
    const g = group([w("a", "n1", 3), w("b", "n1", 1)])
    expect(choose("least-in-flight", undefined, undefined, g, 0, undefined)).toBe(1)
    g.members[0]!.pending = 0
    g.members[0]!.latency.observe(1)
    g.members[1]!.latency.observe(30)
    expect(choose("latency-aware", undefined, undefined, g, 0, undefined)).toBe(0)
  })

  it("affinity keeps a key on one worker, walks past an open breaker, and comes back when it closes", () => {
    const g = group([w("a", "n1"), w("b", "n1"), w("c", "n1")])
    const owners = new Map<string, number>()
    for (let k = 0; k < 200; k++) {
      const at = choose("affinity", `k${k}`, undefined, g, 0, undefined)
      owners.set(`k${k}`, at)
      // Same key, same worker, whatever the rotation says.
      expect(choose("affinity", `k${k}`, undefined, { ...g, next: 2 }, 0, undefined)).toBe(at)
    }
    expect(new Set(owners.values()).size).toBe(3)
    const b = g.members[1]!
    b.breaker.record("failure", 0)
    for (const [key, at] of owners) {
      const now = choose("affinity", key, undefined, g, 10, undefined)
      if (at === 1) expect(now).not.toBe(1)
      else expect(now).toBe(at)
    }
    b.breaker.record("success", 20)
    for (const [key, at] of owners) expect(choose("affinity", key, undefined, g, 30, undefined)).toBe(at)
    // No key: round-robin.
    expect(choose("affinity", undefined, undefined, g, 30, undefined)).toBe(0)
  })

  it("prefers the caller's node for every strategy but affinity", () => {
    const g = group([w("a", "n1"), w("b", "n2", 5)])
    for (const s of ["round-robin", "least-in-flight", "latency-aware"] as const) expect(choose(s, undefined, "n2", g, 0, undefined)).toBe(1)
    g.members[1]!.routable = false
    for (const s of ["round-robin", "least-in-flight", "latency-aware"] as const) expect(choose(s, undefined, "n2", g, 0, undefined)).toBe(0)
  })

  it("knows its names", () => {
    expect(isStrategyName("affinity")).toBe(true)
    expect(isStrategyName("random")).toBe(false)
  })
})
