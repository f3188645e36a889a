import { describe, expect, it } from "vitest"
import { HashRing, hash32 } from "../../../actors/routing/hashRing.ts"

const workers = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `worker-${i}` }))
const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`)

describe("HashRing", () => {
  it("hashes to unsigned 32-bit integers, deterministically", () => {
    expect(hash32("a")).toBe(hash32("a"))
    expect(hash32("a")).not.toBe(hash32("b"))
    expect(hash32("x")).toBeGreaterThanOrEqual(0)
    expect(hash32("x")).toBeLessThan(2 ** 32)
  })

  it.each([4, 10])("adding one worker to %i moves about 1/(N+1) of 10,000 keys, all to the new worker", (n) => {
    const before = new HashRing(workers(n))
    const grown = workers(n + 1)
    const after = new HashRing(grown)
    let moved = 0
    for (const key of keys) {
      const a = before.lookup(key)!.id
      const b = after.lookup(key)!.id
      if (a !== b) {
        moved++
        expect(b).toBe(grown[n]!.id)
      }
    }
    const expected = keys.length / (n + 1)
    expect(Math.abs(moved - expected) / expected).toBeLessThan(0.25)
  })

  it("removing a worker moves only its own keys", () => {
    const all = workers(8)
    const before = new HashRing(all)
    const after = new HashRing(all.filter((w) => w.id !== "worker-3"))
    for (const key of keys) {
      const a = before.lookup(key)!.id
      if (a !== "worker-3") expect(after.lookup(key)!.id).toBe(a)
    }
  })

  it("spreads keys fairly and walks past refused owners", () => {
    const ring = new HashRing(workers(5))
    const counts = new Map<string, number>()
    for (const key of keys) counts.set(ring.lookup(key)!.id, (counts.get(ring.lookup(key)!.id) ?? 0) + 1)
    for (const c of counts.values()) expect(Math.abs(c - 2_000) / 2_000).toBeLessThan(0.25)
    for (const key of keys.slice(0, 500)) {
      const owner = ring.lookup(key)!.id
      const other = ring.lookup(key, (w) => w.id !== "worker-0")!.id
      if (owner !== "worker-0") expect(other).toBe(owner)
      else expect(other).not.toBe("worker-0")
    }
    expect(ring.lookup("k", () => false)).toBeUndefined()
    expect(new HashRing([]).lookup("k")).toBeUndefined()
  })
})
