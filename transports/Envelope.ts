/**
 * The wire vocabulary: every message between controller, workers and clients is one `Envelope`.
 *
 * Defined once, as a Schema tagged union, and decoded at every network boundary (the WebSocket transport
 * decodes each frame; the in-memory transport passes these values as they are). Field names are the wire
 * format: changing one is a protocol change, so `protocolVersion` travels in `Register`.
 *
 * Two kinds of traffic share it:
 * - control messages, one-way and ordered (`Register`, `Heartbeat`, `Drain`...), delivered to an actor's mailbox;
 * - requests (`Invoke`) answered by exactly one `Result` or `Failure` with the same id, or abandoned by `Cancel`;
 *   a streaming request (`Invoke` with `stream`, its credit) is answered by `StreamChunk`s within the credit the
 *   caller grants (`StreamCredit`), then one `StreamEnd` or `Failure` (transports/streams.ts).
 */
import * as Schema from "effect/Schema"
import { CapabilityDescriptor, PlacementSchema, strategyNames } from "../capabilities/Capability.ts"
import { CrankError } from "../capabilities/CrankError.ts"

export const protocolVersion = 1

const Millis = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
/** A count of stream items a caller makes room for: at least one, and bounded so a peer cannot ask for unbounded sends. */
const Credit = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))

/** A worker asks to join: who it is, what it serves, and where clients may dial it directly. */
export const Register = Schema.TaggedStruct("Register", {
  protocolVersion: Schema.Number,
  workerId: Schema.String,
  nodeId: Schema.String,
  capabilities: Schema.Array(CapabilityDescriptor),
  /** Address clients can dial for the data path; absent when the worker can only be reached through the controller. */
  address: Schema.optionalKey(Schema.String),
  maxInFlight: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1)),
  /** The join token, when the controller requires one. */
  token: Schema.optionalKey(Schema.String),
  /** What the worker offers (a GPU, labels): the controller routes a capability only to workers that meet its placement. */
  placement: Schema.optionalKey(PlacementSchema),
})

/** The controller accepted a registration, and tells the worker how often to beat. */
export const Registered = Schema.TaggedStruct("Registered", {
  workerId: Schema.String,
  heartbeatIntervalMs: Millis,
  staleAfterMs: Millis,
})

/** Latency histogram bucket upper bounds, in ms, shared by workers (who count) and /metrics (which exports). */
export const latencyBoundariesMs = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000] as const

/** What a worker has served of one capability version since it started: cumulative, so a lost beat loses nothing. */
export const CapabilityStats = Schema.Struct({
  capability: Schema.String,
  version: Schema.String,
  /** Requests by outcome: `OK`, or the failure code. */
  outcomes: Schema.Record(Schema.String, Schema.Number),
  /** Per-bucket counts (not cumulative) for `latencyBoundariesMs`, plus one for larger values. */
  latencyBuckets: Schema.Array(Schema.Number),
  latencySumMs: Schema.Number,
})
export type CapabilityStats = typeof CapabilityStats.Type

export const Heartbeat = Schema.TaggedStruct("Heartbeat", {
  workerId: Schema.String,
  seq: Schema.Number,
  inFlight: Schema.Number,
  completed: Schema.Number,
  stats: Schema.optionalKey(Schema.Array(CapabilityStats)),
})

export const HeartbeatAck = Schema.TaggedStruct("HeartbeatAck", {
  workerId: Schema.String,
  seq: Schema.Number,
})

/** Stop taking new work, finish what is in flight within `deadlineMs`, then deregister. */
export const Drain = Schema.TaggedStruct("Drain", {
  workerId: Schema.String,
  deadlineMs: Millis,
})

export const Deregister = Schema.TaggedStruct("Deregister", {
  workerId: Schema.String,
  reason: Schema.String,
})

/**
 * A request. `timeoutMs` is the caller's remaining budget when the frame was sent: relative, as gRPC sends its
 * deadline, so clocks on different machines need not agree. `range` is a semver range (`^1`, `*`).
 */
export const Invoke = Schema.TaggedStruct("Invoke", {
  id: Schema.String,
  capability: Schema.String,
  range: Schema.String,
  input: Schema.Unknown,
  timeoutMs: Millis,
  /** What the serving worker must offer for this call (a GPU, labels), beyond the capability's own placement. */
  placement: Schema.optionalKey(PlacementSchema),
  /**
   * How the caller asked for this call to be routed, for the controller's relay (a client routing directly has
   * used it already): the call's strategy, the affinity key it took from the input, and the caller's node.
   */
  route: Schema.optionalKey(
    Schema.Struct({
      strategy: Schema.optionalKey(Schema.Literals(strategyNames)),
      key: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(1_024))),
      node: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(256))),
    }),
  ),
  /**
   * Present on a streaming request: the items the caller has room for before it grants more (`StreamCredit`). The
   * serving side never sends more items than the caller has granted, so a slow caller holds at most this many.
   */
  stream: Schema.optionalKey(Credit),
})

export const Result = Schema.TaggedStruct("Result", {
  id: Schema.String,
  output: Schema.Unknown,
})

/**
 * A failed request (with its `id`), or a protocol complaint about a frame that could not be read (no `id`,
 * code `BAD_FRAME`). `code` is one of the runtime codes in docs/errors.md or one a capability declares.
 */
export const Failure = Schema.TaggedStruct("Failure", {
  id: Schema.optionalKey(Schema.String),
  code: Schema.String,
  message: Schema.String,
  retriable: Schema.Boolean,
})

/** The caller gave up on request `id`; the serving side interrupts its handler. */
export const Cancel = Schema.TaggedStruct("Cancel", {
  id: Schema.String,
})

/** Items of streaming request `id`, in order: never more, in all, than the caller has granted. */
export const StreamChunk = Schema.TaggedStruct("StreamChunk", {
  id: Schema.String,
  items: Schema.Array(Schema.Unknown),
})

/** Streaming request `id` finished: `count` items were sent in all. A failed stream ends with a `Failure` instead. */
export const StreamEnd = Schema.TaggedStruct("StreamEnd", {
  id: Schema.String,
  count: Schema.Number,
})

/** The caller of streaming request `id` has consumed `credit` more items: the serving side may send that many more. */
export const StreamCredit = Schema.TaggedStruct("StreamCredit", {
  id: Schema.String,
  credit: Credit,
})

export const Envelope = Schema.Union([
  Register,
  Registered,
  Heartbeat,
  HeartbeatAck,
  Drain,
  Deregister,
  Invoke,
  Result,
  Failure,
  Cancel,
  StreamChunk,
  StreamEnd,
  StreamCredit,
])

export type Register = typeof Register.Type
export type Registered = typeof Registered.Type
export type Heartbeat = typeof Heartbeat.Type
export type HeartbeatAck = typeof HeartbeatAck.Type
export type Drain = typeof Drain.Type
export type Deregister = typeof Deregister.Type
export type Invoke = typeof Invoke.Type
export type Result = typeof Result.Type
export type Failure = typeof Failure.Type
export type Cancel = typeof Cancel.Type
export type StreamChunk = typeof StreamChunk.Type
export type StreamEnd = typeof StreamEnd.Type
export type StreamCredit = typeof StreamCredit.Type
export type Envelope = typeof Envelope.Type

/** The answer to an `Invoke`. */
export type Reply = Result | Failure

/** One-way traffic, delivered to an actor's `onMessage` in order. */
export type ControlMessage = Exclude<Envelope, Invoke | Result | Cancel | StreamChunk | StreamEnd | StreamCredit>

export const EnvelopeTags = [
  "Register",
  "Registered",
  "Heartbeat",
  "HeartbeatAck",
  "Drain",
  "Deregister",
  "Invoke",
  "Result",
  "Failure",
  "Cancel",
  "StreamChunk",
  "StreamEnd",
  "StreamCredit",
] as const

/** The reply for a failed request. */
export const failureOf = (id: string, error: { readonly code: string; readonly message: string; readonly retriable: boolean }): Failure => ({
  _tag: "Failure",
  id,
  code: error.code,
  message: error.message,
  retriable: error.retriable,
})

/** A failed request's reply as the caller sees it: the `CrankError` it carries. */
export const errorOf = (failure: Failure): CrankError => new CrankError({ code: failure.code, message: failure.message, retriable: failure.retriable })

/** A complaint about the connection or a frame, not the answer to any request: a `Failure` with no `id`. */
export const complaintOf = (error: { readonly code: string; readonly message: string; readonly retriable: boolean }): Failure => ({
  _tag: "Failure",
  code: error.code,
  message: error.message,
  retriable: error.retriable,
})
