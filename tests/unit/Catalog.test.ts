import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineCapability, descriptorOf } from "../../capabilities/Capability.ts"
import { catalogOf } from "../../capabilities/Catalog.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"

const version = (v: string) => descriptorOf(defineCapability({ id: "hello.greet", version: v, input: Schema.String, output: Schema.String }))
const other = descriptorOf(defineCapability({ id: "email.send", version: "2.0.0", input: Schema.String, output: Schema.String }))

describe("catalogOf", () => {
  it("lists each capability version once, with every worker that serves it", () => {
    const catalog = catalogOf([
      { workerId: "w1", capabilities: [descriptorOf(HelloGreet)] },
      { workerId: "w2", capabilities: [descriptorOf(HelloGreet), other] },
    ])
    expect(catalog.map((e) => [`${e.descriptor.id}@${e.descriptor.version}`, e.workers])).toEqual([
      ["email.send@2.0.0", ["w2"]],
      ["hello.greet@1.0.0", ["w1", "w2"]],
    ])
  })

  it("orders versions of one capability highest first, as routing prefers them", () => {
    const catalog = catalogOf([
      { workerId: "a", capabilities: [version("1.2.0")] },
      { workerId: "b", capabilities: [version("1.10.0")] },
      { workerId: "c", capabilities: [version("1.9.3")] },
    ])
    expect(catalog.map((e) => e.descriptor.version)).toEqual(["1.10.0", "1.9.3", "1.2.0"])
  })

  it("is empty for a mesh with no workers", () => {
    expect(catalogOf([])).toEqual([])
  })
})
