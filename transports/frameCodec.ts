/**
 * Envelopes to WebSocket text frames and back.
 *
 * Frames are JSON text, one `Envelope` each. Decoding is `JSON.parse` followed by the Schema of the one union
 * member the frame's `_tag` names, looked up in a table. Measured on Node 20.20 with effect 4.0.6, per frame,
 * over an `Invoke` and a `Result` of a few fields, range of four runs (the last table of
 * `npx tsx bench/transport.bench.ts`):
 *
 * | decoder                                                  |    ns/frame |
 * |----------------------------------------------------------|------------:|
 * | `JSON.parse` alone (the floor)                           |     410–470 |
 * | `decodeUnknownResult(Schema.fromJsonString(Envelope))`   | 1,450–2,100 |
 * | `JSON.parse` + `decodeUnknownResult(Envelope)`           |     760–850 |
 * | `JSON.parse` + per-`_tag` member decoder (`decodeFrame`) |     680–730 |
 *
 * So `JSON.parse` and then the per-tag table: `fromJsonString` costs twice as much, and the table beats the
 * union's own dispatch by ~10% while its complaint about an unknown tag names the tag instead of listing the
 * whole union.
 *
 * Encoding is plain `JSON.stringify`: every `Envelope` field is JSON already (its Encoded and Type forms are
 * the same), outgoing values are typed, and the receiving side validates anyway.
 * JSON has no `undefined`, so an `Invoke` input or `Result` output of `undefined` travels as `null`, and an
 * infinite `timeoutMs` as `Number.MAX_SAFE_INTEGER` (JSON would turn it into `null`, which no peer accepts).
 *
 * A frame that does not decode becomes a `BadFrame` carrying a message for the peer and, when they can be read
 * (even out of truncated JSON), the frame's `_tag` and `id`: the connection uses them to answer the right request.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import {
  Cancel,
  Deregister,
  Drain,
  type Envelope,
  EnvelopeTags,
  Failure,
  Heartbeat,
  HeartbeatAck,
  Invoke,
  Register,
  Registered,
  Result as ResultFrame,
  StreamChunk,
  StreamCredit,
  StreamEnd,
} from "./Envelope.ts"

/** A frame that could not be decoded, with whatever could be salvaged from it. */
export class BadFrame {
  readonly _tag = "BadFrame"
  constructor(
    /** Why, for the peer: becomes the `message` of the `BAD_FRAME` failure. */
    readonly message: string,
    /** The frame's `_tag`, if one could be read. */
    readonly tag: string | undefined,
    /** The frame's `id`, if one could be read. */
    readonly id: string | undefined,
  ) {}
}

type Decoder = (input: unknown) => Result.Result<Envelope, Schema.SchemaError>

const decoders = new Map<string, Decoder>([
  ["Register", Schema.decodeUnknownResult(Register)],
  ["Registered", Schema.decodeUnknownResult(Registered)],
  ["Heartbeat", Schema.decodeUnknownResult(Heartbeat)],
  ["HeartbeatAck", Schema.decodeUnknownResult(HeartbeatAck)],
  ["Drain", Schema.decodeUnknownResult(Drain)],
  ["Deregister", Schema.decodeUnknownResult(Deregister)],
  ["Invoke", Schema.decodeUnknownResult(Invoke)],
  ["Result", Schema.decodeUnknownResult(ResultFrame)],
  ["Failure", Schema.decodeUnknownResult(Failure)],
  ["Cancel", Schema.decodeUnknownResult(Cancel)],
  ["StreamChunk", Schema.decodeUnknownResult(StreamChunk)],
  ["StreamEnd", Schema.decodeUnknownResult(StreamEnd)],
  ["StreamCredit", Schema.decodeUnknownResult(StreamCredit)],
] satisfies ReadonlyArray<readonly [Envelope["_tag"], Decoder]>)

// Every tag of the union has a decoder: a new Envelope member without one would be refused as "unknown".
for (const tag of EnvelopeTags) if (!decoders.has(tag)) throw new Error(`frameCodec: no decoder for Envelope ${tag}`)

const knownTags = EnvelopeTags.join(", ")

/** Peers see this much of a complaint at most: a message must not echo a 16 MiB frame back. */
const maxMessageLength = 512

const clip = (message: string): string => (message.length <= maxMessageLength ? message : `${message.slice(0, maxMessageLength - 1)}…`)

// Salvaging `_tag` and `id` from text that is not JSON looks only at the frame's head, where encoders put them.
const sniffLength = 4096
const tagPattern = /"_tag"\s*:\s*"([A-Za-z]{1,64})"/
const idPattern = /"id"\s*:\s*"((?:[^"\\]|\\.){0,256})"/

const sniff = (text: string, pattern: RegExp): string | undefined => {
  const match = pattern.exec(text.length > sniffLength ? text.slice(0, sniffLength) : text)
  if (match === null) return undefined
  try {
    return JSON.parse(`"${match[1]}"`) as string
  } catch {
    return undefined
  }
}

const kindOf = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`)

/** Decodes one text frame into an `Envelope`, or says why it is not one. Never throws. */
export const decodeFrame = (text: string): Envelope | BadFrame => {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    return new BadFrame(clip(`frame is not valid JSON: ${(error as Error).message}`), sniff(text, tagPattern), sniff(text, idPattern))
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return new BadFrame(`frame must be a JSON object with a "_tag", got ${kindOf(raw)}`, undefined, undefined)
  }
  const { _tag: tag, id } = raw as { readonly _tag?: unknown; readonly id?: unknown }
  const stringId = typeof id === "string" ? id : undefined
  const decode = typeof tag === "string" ? decoders.get(tag) : undefined
  if (decode === undefined) {
    const what = tag === undefined ? `frame has no "_tag"` : `unknown _tag ${clip(JSON.stringify(tag) ?? String(tag))}`
    return new BadFrame(`${what} (expected one of ${knownTags})`, typeof tag === "string" ? tag : undefined, stringId)
  }
  const decoded = decode(raw)
  return Result.isSuccess(decoded) ? decoded.success : new BadFrame(clip(`invalid ${tag as string} frame: ${decoded.failure.message}`), tag as string, stringId)
}

/**
 * Encodes one envelope as a text frame. Throws what `JSON.stringify` throws (a `bigint` or a cycle in an
 * `input` or `output`): callers turn that into a failure of the one request.
 */
export const encodeFrame = (envelope: Envelope): string => {
  switch (envelope._tag) {
    case "Invoke":
      if (envelope.input === undefined || envelope.timeoutMs === Infinity) {
        return JSON.stringify({
          ...envelope,
          input: envelope.input === undefined ? null : envelope.input,
          timeoutMs: envelope.timeoutMs === Infinity ? Number.MAX_SAFE_INTEGER : envelope.timeoutMs,
        })
      }
      break
    case "Result":
      if (envelope.output === undefined) return `{"_tag":"Result","id":${JSON.stringify(envelope.id)},"output":null}`
      break
  }
  return JSON.stringify(envelope)
}

/** The `Cancel` frame for request `id`, without building the envelope first. */
export const cancelFrame = (id: string): string => `{"_tag":"Cancel","id":${JSON.stringify(id)}}`

/** The `BAD_FRAME` failure frame sent back for an undecodable frame; `id` only when it names a request of the peer's. */
export const badFrameReply = (message: string, id: string | undefined): string =>
  id === undefined
    ? `{"_tag":"Failure","code":"BAD_FRAME","message":${JSON.stringify(message)},"retriable":false}`
    : `{"_tag":"Failure","id":${JSON.stringify(id)},"code":"BAD_FRAME","message":${JSON.stringify(message)},"retriable":false}`
