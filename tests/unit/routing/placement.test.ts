import { describe, expect, it } from "vitest"
import { meets } from "../../../actors/routing/placement.ts"

describe("placement.meets", () => {
  it("a capability with no requirement runs anywhere", () => {
    expect(meets(undefined, undefined)).toBe(true)
    expect(meets({}, {})).toBe(true)
    expect(meets({}, { labels: { gpu: "true" } })).toBe(true)
  })

  it("a GPU requirement needs a GPU worker (gpu: true or the label gpu=true)", () => {
    expect(meets({ gpu: true }, {})).toBe(false)
    expect(meets({ gpu: true }, undefined)).toBe(false)
    expect(meets({ gpu: true }, { gpu: true })).toBe(true)
    expect(meets({ gpu: true }, { labels: { gpu: "true" } })).toBe(true)
  })

  it("every required label must match its value", () => {
    expect(meets({ labels: { gpu: "true" } }, { labels: { gpu: "true", zone: "a" } })).toBe(true)
    expect(meets({ labels: { gpu: "true", zone: "b" } }, { labels: { gpu: "true", zone: "a" } })).toBe(false)
    expect(meets({ labels: { gpu: "true" } }, { labels: { gpu: "false" } })).toBe(false)
  })
})
