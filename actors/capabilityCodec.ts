/**
 * A capability as its callers use it (the client, the test kit): its Schema encoder and decoder, its default
 * range, and the function that turns a reply into the caller's answer, built once per capability object and kept
 * as long as the object lives.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { Capability } from "../capabilities/Capability.ts"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import { errorOf, type Reply } from "../transports/Envelope.ts"

export const messageOfCause = (cause: Cause.Cause<unknown>): string => messageOf(Cause.squash(cause))

/** A reply as the caller sees it: the output, or the failure as a `CrankError`. */
export const answerOf = (reply: Reply): Effect.Effect<unknown, CrankError> =>
  reply._tag === "Result" ? Effect.succeed(reply.output) : Effect.fail(errorOf(reply))

/**
 * What a caller needs of a capability object (the client here, the test kit too), built once per object and kept as long as the object lives:
 * its Schema encoder and decoder, its default range, and the function that turns a reply into the caller's
 * answer (so a call allocates no closure for it). Measured on hello.greet: building and running the codecs
 * 0.25 µs a call, running cached ones 0.19 µs.
 */
export interface Codec {
  readonly range: string
  readonly encodeInput: (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly answer: (reply: Reply) => Effect.Effect<unknown, CrankError>
  /** One item of a streaming capability's answer, decoded with its output schema (`INVALID_OUTPUT` if it fails). */
  readonly decodeItem: (item: unknown) => Effect.Effect<unknown, CrankError>
}

const codecs = new WeakMap<Capability, Codec>()

export const codecOf = (capability: Capability): Codec => {
  let codec = codecs.get(capability)
  if (codec === undefined) {
    const decodeOutput = Schema.decodeUnknownExit(capability.output)
    const decode = (output: unknown, what: string): Effect.Effect<unknown, CrankError> => {
      const decoded = decodeOutput(output)
      return Exit.isSuccess(decoded)
        ? Effect.succeed(decoded.value)
        : Effect.fail(crankError("INVALID_OUTPUT", `${capability.id} answered with ${what} that fails its schema: ${messageOfCause(decoded.cause)}`))
    }
    codec = {
      range: `^${capability.version}`,
      encodeInput: Schema.encodeUnknownExit(capability.input),
      answer: (reply) => (reply._tag === "Failure" ? answerOf(reply) : decode(reply.output, "output")),
      decodeItem: (item) => decode(item, "a stream item"),
    }
    codecs.set(capability, codec)
  }
  return codec
}
