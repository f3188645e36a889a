import { Schema } from "effect"
import { describe, expect, expectTypeOf, it } from "vitest"
import {
  type Capability,
  CapabilityDescriptor,
  defineCapability,
  descriptorOf,
  type InputOf,
  InvalidCapability,
  isCapabilityId,
  keyOf,
  type OutputOf,
} from "../../capabilities/Capability.ts"
import { type GreetInput, type GreetOutput, HelloGreet } from "../../examples/hello/capability.ts"

const base = {
  id: "demo.echo",
  version: "1.0.0",
  input: Schema.Struct({ text: Schema.String, times: Schema.optionalKey(Schema.Number) }),
  output: Schema.String,
}

describe("defineCapability", () => {
  it("fills defaults and keeps the schemas", () => {
    const echo = defineCapability(base)
    expect(echo).toMatchObject({
      id: "demo.echo",
      version: "1.0.0",
      name: "demo.echo",
      description: "",
      errors: [],
      idempotent: false,
      tags: [],
      placement: {},
      estimatedDurationMs: undefined,
    })
    expect(echo.input).toBe(base.input)
    expect(echo.output).toBe(base.output)
    expect(keyOf(echo)).toBe("demo.echo@1.0.0")
  })

  it("infers input and output types from the schemas", () => {
    const echo = defineCapability(base)
    expectTypeOf<InputOf<typeof echo>>().toEqualTypeOf<{ readonly text: string; readonly times?: number }>()
    expectTypeOf<OutputOf<typeof echo>>().toEqualTypeOf<string>()
    expectTypeOf(HelloGreet).toEqualTypeOf<Capability<GreetInput, GreetOutput, never>>()
  })

  it.each(["hello", "Hello.greet", "hello.Greet", "hello..greet", ".hello.greet", "hello.greet.", "9.greet", "hello greet.x", "héllo.greet", ""])(
    "rejects the id %j",
    (id) => {
      expect(isCapabilityId(id)).toBe(false)
      expect(() => defineCapability({ ...base, id })).toThrow(InvalidCapability)
      expect(() => defineCapability({ ...base, id })).toThrow(/dotted lower-case/)
    },
  )

  it.each(["hello.greet", "email.send-batch", "a.b.c", "x1.y_2"])("accepts the id %j", (id) => {
    expect(isCapabilityId(id)).toBe(true)
    expect(defineCapability({ ...base, id }).id).toBe(id)
  })

  it.each(["1", "1.0", "v1.0.0", "1.0.0.0", "^1.0.0", " 1.0.0", "latest", ""])("rejects the version %j", (version) => {
    expect(() => defineCapability({ ...base, version })).toThrow(InvalidCapability)
    expect(() => defineCapability({ ...base, version })).toThrow(/not semver/)
  })

  it.each(["1.0.0", "0.0.1", "10.20.30", "1.0.0-beta.1"])("accepts the version %j", (version) => {
    expect(defineCapability({ ...base, version }).version).toBe(version)
  })

  it.each(["mailbox_full", "MailboxFull", "1FULL", "FULL-BOX", "", "FULL BOX"])("rejects the error code %j", (code) => {
    const errors = [{ code, description: "x", retriable: false }]
    expect(() => defineCapability({ ...base, errors })).toThrow(InvalidCapability)
    expect(() => defineCapability({ ...base, errors })).toThrow(/UPPER_SNAKE_CASE/)
  })

  it("accepts UPPER_SNAKE_CASE error codes", () => {
    const errors = [
      { code: "MAILBOX_FULL", description: "the mailbox is full", retriable: true },
      { code: "E2BIG", description: "too big", retriable: false },
    ]
    expect(defineCapability({ ...base, errors }).errors).toEqual(errors)
  })
})

describe("descriptorOf", () => {
  it("gives a plain descriptor with the JSON Schema of the input and output", () => {
    const descriptor = descriptorOf(HelloGreet)
    expect(descriptor).toMatchObject({
      id: "hello.greet",
      version: "1.0.0",
      name: "Greet",
      idempotent: true,
      tags: ["example"],
      errors: [],
      placement: {},
      estimatedDurationMs: 1,
    })
    // effect's JSON Schema document: the schema itself sits under `schema`.
    expect(descriptor.inputSchema).toMatchObject({
      dialect: "draft-2020-12",
      schema: {
        type: "object",
        required: ["message"],
        properties: {
          message: { type: "string" },
          options: {
            type: "object",
            properties: {
              uppercase: { type: "boolean" },
              reverse: { type: "boolean" },
              exclamations: { type: "integer", minimum: 0, maximum: 10 },
            },
          },
        },
      },
    })
    expect(descriptor.outputSchema).toMatchObject({
      schema: { type: "object", required: ["greeting", "worker"], properties: { greeting: { type: "string" }, worker: { type: "string" } } },
    })
  })

  it("is plain data that the descriptor schema accepts and JSON round-trips", () => {
    const descriptor = descriptorOf(HelloGreet)
    expect(Schema.decodeUnknownSync(CapabilityDescriptor)(descriptor)).toEqual(descriptor)
    expect(JSON.parse(JSON.stringify(descriptor))).toEqual(descriptor)
  })

  it("omits estimatedDurationMs when the capability has none", () => {
    expect("estimatedDurationMs" in descriptorOf(defineCapability(base))).toBe(false)
  })

  it("describes a schema with no JSON Schema form as an unconstrained {} instead of throwing", () => {
    class Opaque {}
    const opaque = defineCapability({
      ...base,
      input: Schema.declare((u): u is Opaque => u instanceof Opaque),
    })
    const descriptor = descriptorOf(opaque)
    const document = descriptor.inputSchema as { readonly schema?: unknown }
    expect(document.schema ?? document).toEqual({})
    expect(descriptor.outputSchema).toMatchObject({ schema: { type: "string" } })
  })
})
