/**
 * Type-level checks for declared errors: a capability's codes are kept as literal types, and raising a code it
 * does not declare is a compile error. `tsc --noEmit -p .` (part of `npm test`) fails if any `@ts-expect-error`
 * below stops being an error; vitest runs the few runtime assertions.
 */
import { Effect, Schema } from "effect"
import { describe, expect, expectTypeOf, it } from "vitest"
import { type HandlerContext, implement } from "../../actors/Implementation.ts"
import { defineWorker } from "../../actors/WorkerDefinition.ts"
import { type Capability, defineCapability, type ErrorsOf } from "../../capabilities/Capability.ts"
import type { CrankError } from "../../capabilities/CrankError.ts"
import { declaredError } from "../../capabilities/declaredError.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"

const Divide = defineCapability({
  id: "math.divide",
  version: "1.0.0",
  input: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  output: Schema.Number,
  errors: [
    { code: "DIVIDE_BY_ZERO", description: "b was 0", retriable: false },
    { code: "BUSY", description: "try later", retriable: true },
  ],
})

describe("declared error codes (types)", () => {
  it("keeps the declared codes as a union of literals; none declared is never", () => {
    expectTypeOf<ErrorsOf<typeof Divide>>().toEqualTypeOf<"DIVIDE_BY_ZERO" | "BUSY">()
    expectTypeOf<ErrorsOf<typeof HelloGreet>>().toEqualTypeOf<never>()
    expectTypeOf(Divide).toExtend<Capability>()
  })

  it("context.error takes a declared code or INVALID_INPUT, and nothing else", () => {
    implement(Divide, ({ a, b }, context) => {
      expectTypeOf(context).toEqualTypeOf<HandlerContext<"DIVIDE_BY_ZERO" | "BUSY">>()
      expectTypeOf(context.error).parameter(0).toEqualTypeOf<"DIVIDE_BY_ZERO" | "BUSY" | "INVALID_INPUT">()
      if (Number.isNaN(a)) return Effect.fail(context.error("INVALID_INPUT", "a is not a number"))
      // @ts-expect-error: MAILBOX_FULL is not among Divide's declared codes
      if (a > 1e9) return Effect.fail(context.error("MAILBOX_FULL", "no such code"))
      return b === 0 ? Effect.fail(context.error("DIVIDE_BY_ZERO", "cannot divide by zero")) : Effect.succeed(a / b)
    })
  })

  it("works the same in Effect.gen and in Promise handlers", () => {
    implement(Divide, ({ a, b }, context) =>
      Effect.gen(function* () {
        if (b === 0) return yield* context.error("DIVIDE_BY_ZERO", "cannot divide by zero")
        // @ts-expect-error: an undeclared code, yielded
        if (a < 0) return yield* context.error("NEGATIVE", "no such code")
        return a / b
      }),
    )
    implement(Divide, async ({ a, b }, context) => {
      if (b === 0) throw context.error("DIVIDE_BY_ZERO", "cannot divide by zero")
      // @ts-expect-error: an undeclared code, thrown
      if (a < 0) throw context.error("NEGATIVE", "no such code")
      return a / b
    })
  })

  it("an implementation with declared codes goes into a worker beside one without", () => {
    const divide = implement(Divide, ({ a, b }) => a / b)
    const greet = implement(HelloGreet, ({ message }, { workerId }) => ({ greeting: message, worker: workerId }))
    expect(defineWorker({ name: "mixed", implements: [divide, greet] }).implementations).toHaveLength(2)
  })

  it("a handler written apart with a plain HandlerContext fits any capability", () => {
    const half = ({ a }: { readonly a: number; readonly b: number }, context: HandlerContext) => {
      if (Number.isNaN(a)) throw context.error("INVALID_INPUT", "a is not a number")
      // @ts-expect-error: a plain HandlerContext knows no declared codes
      if (a < 0) throw context.error("DIVIDE_BY_ZERO", "not through a plain context")
      return a / 2
    }
    implement(Divide, half)
  })

  it("a capability declaring nothing may still raise INVALID_INPUT", () => {
    implement(HelloGreet, ({ message }, context) => {
      // @ts-expect-error: hello.greet declares no codes
      if (message === "boom") throw context.error("BOOM", "no such code")
      if (message === "") throw context.error("INVALID_INPUT", "say something")
      return { greeting: message, worker: context.workerId }
    })
  })

  it("declaredError checks the code against the capability outside a handler too", () => {
    const error = declaredError(Divide, "BUSY", "later")
    expectTypeOf(error).toEqualTypeOf<CrankError>()
    expect(error).toMatchObject({ code: "BUSY", message: "later", retriable: true })
    expect(declaredError(Divide, "DIVIDE_BY_ZERO", "zero").retriable).toBe(false)
    expect(declaredError(HelloGreet, "INVALID_INPUT", "bad")).toMatchObject({ code: "INVALID_INPUT", retriable: false })
    // @ts-expect-error: not declared by Divide (the code is not used to widen the capability's codes)
    declaredError(Divide, "NEGATIVE", "no such code")
    // @ts-expect-error: hello.greet declares no codes
    declaredError(HelloGreet, "DIVIDE_BY_ZERO", "declared by another capability")
  })

  it("errors given as a widened array accept any code (the contract is then checked only at run time)", () => {
    const errors: Array<{ code: string; description: string; retriable: boolean }> = [{ code: "ANY", description: "", retriable: false }]
    const Loose = defineCapability({ id: "demo.loose", version: "1.0.0", input: Schema.String, output: Schema.String, errors })
    expectTypeOf<ErrorsOf<typeof Loose>>().toEqualTypeOf<string>()
    expect(declaredError(Loose, "ANYTHING", "x").code).toBe("ANYTHING")
  })
})
