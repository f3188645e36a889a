/**
 * `hello.greet@1.0.0`: the mesh's first capability and the shape every other one follows.
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"

export const GreetInput = Schema.Struct({
  message: Schema.String,
  options: Schema.optionalKey(
    Schema.Struct({
      uppercase: Schema.optionalKey(Schema.Boolean),
      reverse: Schema.optionalKey(Schema.Boolean),
      exclamations: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 10 }))),
    }),
  ),
})
export type GreetInput = typeof GreetInput.Type

export const GreetOutput = Schema.Struct({
  greeting: Schema.String,
  /** Which worker answered: useful to see routing at work. */
  worker: Schema.String,
})
export type GreetOutput = typeof GreetOutput.Type

export const HelloGreet = defineCapability({
  id: "hello.greet",
  version: "1.0.0",
  name: "Greet",
  description: "Builds a greeting from a message, optionally upper-cased, reversed and with exclamation marks.",
  input: GreetInput,
  output: GreetOutput,
  idempotent: true,
  tags: ["example"],
  estimatedDurationMs: 1,
})
