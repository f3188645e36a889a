/**
 * What the NATS transport adds to the envelopes: the subjects it uses, the handshake on a listener's subject, and
 * the two control frames of a connection (Close, ping). Envelopes themselves travel as `frameCodec.ts` JSON, one a
 * message, with no headers; a message with the `Crank-Control` header is a control frame instead.
 *
 * | subject                     | who subscribes                          | what travels on it                                      |
 * |-----------------------------|-----------------------------------------|---------------------------------------------------------|
 * | `<prefix>.listen.<name>`    | the listener `nats://host:port/<name>`, in queue group `<prefix>.listen.<name>` | `Connect` and `Probe` requests; `Accepted`, `Refused`, `Listening` replies |
 * | `<prefix>.conn.<nuid>`      | one end of one connection (each end has its own) | the peer's envelopes, Close and ping control frames |
 *
 * The prefix is `crank` unless the transport is given another. A `<nuid>` is NATS's 22-character random id: a
 * connection's subjects are private by being unguessable, not by NATS permissions (docs/nats.md says what to set
 * on a shared server).
 */
import { type MsgHdrs, headers as natsHeaders, nuid } from "@nats-io/transport-node"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

export const defaultSubjectPrefix = "crank"

/** Listener names are one subject token: no dots, wildcards or spaces. */
export const listenerNamePattern = /^[A-Za-z0-9_-]{1,128}$/

/** A prefix is one or more subject tokens. */
export const subjectPrefixPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

/** The subject listener `name` takes connect requests on (also its queue group: two listeners never both accept). */
export const listenSubject = (prefix: string, name: string): string => `${prefix}.listen.${name}`

/** A fresh subject for one end of one connection. */
export const connectionSubject = (prefix: string): string => `${prefix}.conn.${nuid.next()}`

/** Whether `subject` names a connection end under `prefix`: a listener only ever publishes to such subjects. */
export const isConnectionSubject = (prefix: string, subject: string): boolean => {
  const head = `${prefix}.conn.`
  return subject.startsWith(head) && /^[A-Za-z0-9]{1,64}$/.test(subject.slice(head.length))
}

/** The header that marks a control frame, and its values. */
export const controlHeader = "Crank-Control"
export const closeControl = "close"
export const pingControl = "ping"

/** Shared and never changed: a ping carries nothing else. */
export const pingHeaders: MsgHdrs = natsHeaders()
pingHeaders.set(controlHeader, pingControl)
export const closeHeaders: MsgHdrs = natsHeaders()
closeHeaders.set(controlHeader, closeControl)

export const handshakeVersion = 1

/** Dialler → listener: open a connection; send me your frames on `inbox`. */
export const Connect = Schema.TaggedStruct("Connect", {
  version: Schema.Number,
  inbox: Schema.String.check(Schema.isMaxLength(256)),
})
/** Anyone → listener: is this name taken? (`listen` asks before it subscribes.) */
export const Probe = Schema.TaggedStruct("Probe", {})
export const HandshakeRequest = Schema.Union([Connect, Probe])
export type HandshakeRequest = typeof HandshakeRequest.Type

/** Listener → dialler: accepted; send your frames on `inbox`. */
export const Accepted = Schema.TaggedStruct("Accepted", { inbox: Schema.String })
/** Listener → dialler: not accepted, and why (closing, a bad request). */
export const Refused = Schema.TaggedStruct("Refused", { reason: Schema.String })
/** Listener → prober: this name is mine. */
export const Listening = Schema.TaggedStruct("Listening", { address: Schema.String })
export const HandshakeReply = Schema.Union([Accepted, Refused, Listening])
export type HandshakeReply = typeof HandshakeReply.Type

/** The body of a Close control frame: the close code and reason the peer's `onClose` sees. */
export const CloseFrame = Schema.Struct({
  code: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1000, maximum: 4999 })),
  reason: Schema.String,
})

/** Reasons are cut to this many characters: a Close frame must fit any server's max_payload. */
const maxReasonLength = 1_024

export const encodeJson = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value))

export const encodeClose = (code: number, reason: string): Uint8Array =>
  encodeJson({ code, reason: reason.length <= maxReasonLength ? reason : `${reason.slice(0, maxReasonLength - 1)}…` })

const decodeWith = <S extends Schema.Decoder<unknown>>(schema: S): ((data: Uint8Array) => S["Type"] | string) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (data) => {
    let raw: unknown
    try {
      raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString())
    } catch (error) {
      return `not JSON: ${(error as Error).message}`
    }
    const decoded = decode(raw)
    return Result.isSuccess(decoded) ? decoded.success : decoded.failure.message
  }
}

/** Each decoder gives the value, or a string saying why the bytes are not one. */
export const decodeHandshakeRequest = decodeWith(HandshakeRequest)
export const decodeHandshakeReply = decodeWith(HandshakeReply)
export const decodeClose = decodeWith(CloseFrame)
