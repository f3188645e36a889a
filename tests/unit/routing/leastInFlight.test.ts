import { describe, expect, it } from "vitest"
import { leastInFlight, loadOf } from "../../../actors/routing/leastInFlight.ts"

const w = (id: string, pending: number, reportedInFlight?: number, nodeId?: string) => ({ id, routable: true, pending, reportedInFlight, nodeId })

describe("leastInFlight", () => {
  it("counts the caller's own outstanding requests plus the worker's reported ones", () => {
    expect(loadOf(w("a", 2, 3))).toBe(5)
    expect(loadOf({ id: "b", routable: true })).toBe(0)
    const ms = [w("a", 1, 5), w("b", 4), w("c", 2, 1)]
    expect(leastInFlight(ms, 0, 0, undefined, undefined)).toBe(2)
  })

  it("breaks ties round-robin from the start and skips unroutable workers", () => {
    const ms = [w("a", 1), w("b", 1), w("c", 1)]
    expect([0, 1, 2].map((s) => leastInFlight(ms, s, 0, undefined, undefined))).toEqual([0, 1, 2])
    ms[0]!.routable = false
    ms[1]!.pending = 9
    expect(leastInFlight(ms, 0, 0, undefined, undefined)).toBe(2)
    ms[2]!.routable = false
    expect(leastInFlight(ms, 0, 0, undefined, undefined)).toBe(1)
  })

  it("keeps the load even as requests come and go", () => {
    const ms = [w("a", 0), w("b", 0), w("c", 0)]
    for (let i = 0; i < 30; i++) ms[leastInFlight(ms, i % 3, 0, undefined, undefined)]!.pending++
    expect(ms.map((m) => m.pending)).toEqual([10, 10, 10])
  })

  it("prefers the caller's node, even when busier", () => {
    const ms = [w("a", 0, 0, "n1"), w("b", 7, 0, "n2")]
    expect(leastInFlight(ms, 0, 0, undefined, "n2")).toBe(1)
    expect(leastInFlight(ms, 0, 0, undefined, "n3")).toBe(0)
  })
})
