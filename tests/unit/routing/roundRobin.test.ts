import { describe, expect, it } from "vitest"
import { Breaker } from "../../../actors/breaker.ts"
import { roundRobin } from "../../../actors/routing/roundRobin.ts"

const w = (id: string, nodeId?: string) => ({ id, routable: true, nodeId, breaker: new Breaker({ failures: 1, coolDownMs: 100 }) })

describe("roundRobin", () => {
  it("takes each eligible worker in turn from the start position", () => {
    const ms = [w("a"), w("b"), w("c")]
    expect([0, 1, 2, 3].map((s) => roundRobin(ms, s % 3, 0, undefined, undefined))).toEqual([0, 1, 2, 0])
  })

  it("skips unroutable workers, open breakers and the excepted one", () => {
    const ms = [w("a"), w("b"), w("c")]
    ms[0]!.routable = false
    ms[1]!.breaker.record("failure", 0)
    expect(roundRobin(ms, 0, 50, undefined, undefined)).toBe(2)
    expect(roundRobin(ms, 0, 50, ms[2], undefined)).toBe(-1)
    // The breaker's cool-down has passed: b may be probed.
    expect(roundRobin(ms, 1, 100, undefined, undefined)).toBe(1)
  })

  it("prefers the caller's node while a worker there is eligible", () => {
    const ms = [w("a", "n1"), w("b", "n2"), w("c", "n2")]
    expect([0, 1, 2].map((s) => roundRobin(ms, s, 0, undefined, "n2"))).toEqual([1, 1, 2])
    ms[1]!.routable = false
    ms[2]!.routable = false
    expect(roundRobin(ms, 1, 0, undefined, "n2")).toBe(0)
  })
})
