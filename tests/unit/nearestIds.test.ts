import { describe, expect, it } from "vitest"
import { editDistance, maxDistanceFor, nearestIds } from "../../capabilities/nearestIds.ts"

describe("editDistance", () => {
  it.each([
    ["", "", 0],
    ["", "abc", 3],
    ["abc", "", 3],
    ["hello.greet", "hello.greet", 0],
    ["hello.gret", "hello.greet", 1], // a letter missing
    ["hello.greeet", "hello.greet", 1], // one too many
    ["hello.grest", "hello.greet", 1], // one wrong
    ["hello.graet", "hello.greet", 1], // two neighbours swapped: one slip
    ["kitten", "sitting", 3],
    ["math.sum", "mail.send", 5],
  ])("%j → %j is %i", (a, b, expected) => {
    expect(editDistance(a, b)).toBe(expected)
    expect(editDistance(b, a)).toBe(expected)
  })
})

describe("nearestIds", () => {
  const known = ["hello.greet", "hello.greeting", "math.sum", "math.divide", "email.send-batch"]

  it("suggests the id one typo away", () => {
    expect(nearestIds("hello.gret", known)).toEqual(["hello.greet"])
    expect(nearestIds("math.smu", known)).toEqual(["math.sum"])
    expect(nearestIds("email.send-btach", known)).toEqual(["email.send-batch"])
  })

  it("orders by distance, then alphabetically, and stops at the limit", () => {
    expect(nearestIds("hello.greetin", known)).toEqual(["hello.greeting", "hello.greet"])
    expect(nearestIds("a.bc", ["a.bd", "a.bb", "a.ba", "a.b"], 2)).toEqual(["a.b", "a.ba"])
  })

  it("suggests nothing when nothing is near, nor the id itself", () => {
    expect(nearestIds("video.transcode", known)).toEqual([])
    expect(nearestIds("hello.greet", ["hello.greet"])).toEqual([])
    expect(nearestIds("hello.greet", [])).toEqual([])
  })

  it("counts each known id once", () => {
    expect(nearestIds("math.sun", ["math.sum", "math.sum"])).toEqual(["math.sum"])
  })

  it("allows two edits, more for long ids", () => {
    expect(maxDistanceFor("a.b")).toBe(2)
    expect(maxDistanceFor("email.send-batch")).toBe(4)
    expect(nearestIds("mail.sned-bach", known)).toEqual(["email.send-batch"])
  })
})
