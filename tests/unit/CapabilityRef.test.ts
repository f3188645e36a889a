import { describe, expect, it } from "vitest"
import { compareVersionsDescending, formatRef, parseRef, refOf, satisfies } from "../../capabilities/CapabilityRef.ts"
import { CrankError } from "../../capabilities/CrankError.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"

const expectInvalid = (text: string, mentions: string) => {
  const parsed = parseRef(text)
  expect(parsed).toBeInstanceOf(CrankError)
  const error = parsed as CrankError
  expect(error._tag).toBe("CrankError")
  expect(error.code).toBe("INVALID_INPUT")
  expect(error.retriable).toBe(false)
  expect(error.message).toContain(mentions)
}

describe("parseRef", () => {
  it("reads a bare id as any version", () => {
    expect(parseRef("hello.greet")).toEqual({ id: "hello.greet", range: "*" })
  })

  it.each([
    ["hello.greet@^1", { id: "hello.greet", range: "^1" }],
    ["hello.greet@1.2.3", { id: "hello.greet", range: "1.2.3" }],
    ["hello.greet@1.2.x", { id: "hello.greet", range: "1.2.x" }],
    ["email.send-batch@>=1.0.0 <3", { id: "email.send-batch", range: ">=1.0.0 <3" }],
    ["a.b.c_d@~2.1", { id: "a.b.c_d", range: "~2.1" }],
  ])("reads %s", (text, ref) => {
    expect(parseRef(text)).toEqual(ref)
  })

  it.each([
    ["hello", "hello"], // one segment
    ["Hello.Greet", "Hello.Greet"], // upper case
    ["hello..greet", "hello..greet"],
    ["1hello.greet", "1hello.greet"],
    ["hello.greet!", "hello.greet!"],
    ["", '""'],
    ["@^1", '""'],
  ])("refuses the id in %j with INVALID_INPUT", (text, mentions) => {
    expectInvalid(text, mentions)
    expect((parseRef(text) as CrankError).message).toContain("capability id")
  })

  it.each(["hello.greet@banana", "hello.greet@^1.x.y.z", "hello.greet@>>1", "hello.greet@1.0.0@2"])("refuses the range in %j with INVALID_INPUT", (text) => {
    expectInvalid(text, "semver range")
  })

  it("rejects an empty range after @ (a truncated ref is a mistake, not a wildcard)", () => {
    const ref = parseRef("hello.greet@")
    expect(ref).toBeInstanceOf(CrankError)
    expect((ref as CrankError).code).toBe("INVALID_INPUT")
  })
})

describe("refs and versions", () => {
  it("refOf gives a capability's own major", () => {
    expect(refOf(HelloGreet)).toEqual({ id: "hello.greet", range: "^1.0.0" })
  })

  it("formatRef round-trips through parseRef", () => {
    expect(formatRef({ id: "hello.greet", range: "*" })).toBe("hello.greet")
    expect(formatRef({ id: "hello.greet", range: "^1" })).toBe("hello.greet@^1")
    for (const text of ["hello.greet", "hello.greet@^1", "hello.greet@>=1.0.0 <3"]) {
      expect(formatRef(parseRef(text) as { id: string; range: string })).toBe(text)
    }
  })

  it("satisfies and compareVersionsDescending follow semver", () => {
    expect(satisfies("1.2.0", "^1")).toBe(true)
    expect(satisfies("2.0.0", "^1")).toBe(false)
    expect(satisfies("1.0.0", "*")).toBe(true)
    expect(["1.0.0", "2.0.0", "1.10.0", "1.2.0"].sort(compareVersionsDescending)).toEqual(["2.0.0", "1.10.0", "1.2.0", "1.0.0"])
  })
})
