import { describe, expect, it } from "vitest"
import { refusalOf } from "../../actors/registrationLimits.ts"
import { descriptorOf } from "../../capabilities/Capability.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { protocolVersion, type Register } from "../../transports/Envelope.ts"

const limits = { maxCapabilitiesPerWorker: 4, maxIdLength: 20, maxTextLength: 100, maxDescriptorBytes: 4_000 }
const hello = descriptorOf(HelloGreet)
const register = (extra: Partial<Register> = {}): Register => ({
  _tag: "Register",
  protocolVersion,
  workerId: "w1",
  nodeId: "n1",
  capabilities: [hello],
  maxInFlight: 10,
  ...extra,
})

describe("refusalOf", () => {
  it("lets a registration within every limit through", () => {
    expect(refusalOf(register(), { ...limits, maxTextLength: 1_000 })).toBeUndefined()
  })

  it("names the limit a registration breaks, and by how much", () => {
    expect(refusalOf(register({ capabilities: [hello, hello, hello, hello, hello] }), limits)).toEqual({
      reason: "capabilities",
      message: "worker w1 advertises 5 capabilities; the limit is 4",
    })
    expect(refusalOf(register({ workerId: "w".repeat(21) }), limits)).toEqual({
      reason: "id",
      message: "a worker: its worker id is 21 characters; the limit is 20",
    })
    expect(refusalOf(register({ nodeId: "n".repeat(30) }), limits)?.reason).toBe("id")
    expect(refusalOf(register({ capabilities: [{ ...hello, name: "x".repeat(101) }] }), limits)).toEqual({
      reason: "text",
      message: "worker w1: the name of hello.greet is 101 characters; the limit is 100",
    })
    const tagged = { ...hello, description: "", tags: Array.from({ length: 500 }, (_, i) => `tag-${i}`) }
    expect(refusalOf(register({ capabilities: [tagged] }), { ...limits, maxTextLength: 1_000 })?.message).toMatch(
      /^worker w1: the advertisement of hello\.greet is \d+ bytes of JSON; the limit is 4000$/,
    )
  })
})
