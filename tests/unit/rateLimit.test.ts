import { describe, expect, it } from "vitest"
import { FixedWindow } from "../../actors/rateLimit.ts"

describe("FixedWindow", () => {
  it("allows `limit` events a window, flags the first one over, and starts again with the next window", () => {
    const limit = new FixedWindow(3, 1_000)
    expect([0, 10, 20, 30, 40].map((t) => limit.take(t))).toEqual(["ok", "ok", "ok", "overFirst", "over"])
    expect(limit.take(999)).toBe("over")
    expect([1_000, 1_001, 1_002, 1_003].map((t) => limit.take(t))).toEqual(["ok", "ok", "ok", "overFirst"])
  })
})
