/**
 * The wire vocabulary of a federation of controllers over NATS (actors/Federation.ts): its subjects and its three
 * messages, as Schema, encoded as JSON one a NATS message.
 *
 * | subject                          | who subscribes            | what travels on it                                    |
 * |----------------------------------|---------------------------|-------------------------------------------------------|
 * | `<prefix>.alive`                 | every controller          | `Alive`: one per controller per interval               |
 * | `<prefix>.delta`                 | every controller          | `Delta`: what changed in one controller's summary      |
 * | `<prefix>.snapshot.<controller>` | that controller only      | a snapshot request (empty); the reply is a `Snapshot` |
 *
 * Every message names its sender (`from`, the controller id) and that controller's run (`run`, fresh each time it
 * starts): sequence numbers count from 1 in each run, so a controller restarted under the same id is a new peer.
 *
 * The prefix is `crank.fed` unless given another. What a controller tells its peers is a summary per capability
 * version (`SummaryEntry`), never a worker: its peers need to know where a capability lives and how loaded it is
 * there, not who serves it, so the traffic grows with the capabilities that change, not with the workers.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

export const defaultFederationPrefix = "crank.fed"

/** Controller ids are one subject token. */
export const controllerIdPattern = /^[A-Za-z0-9_-]{1,64}$/

export const aliveSubject = (prefix: string): string => `${prefix}.alive`
export const deltaSubject = (prefix: string): string => `${prefix}.delta`
export const snapshotSubject = (prefix: string, controllerId: string): string => `${prefix}.snapshot.${controllerId}`

const Count = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

/** One capability version at one controller: its routable workers and their load, summed. */
export const SummaryEntry = Schema.Struct({
  capability: Schema.String.check(Schema.isMaxLength(256)),
  version: Schema.String.check(Schema.isMaxLength(64)),
  /** Routable workers (registered or healthy) that serve it there; 0 in a delta: it is gone. */
  workers: Count,
  /** Requests those workers said they had in flight at their last heartbeat, summed. */
  inFlight: Count,
  /** Their `maxInFlight`, summed: the load is `inFlight / maxInFlight`. */
  maxInFlight: Count,
})
export type SummaryEntry = typeof SummaryEntry.Type

/**
 * A controller is alive: sent every interval. `seq` is the sequence number of its last delta, so a peer that
 * missed the last delta of a quiet period learns of the gap without waiting for the next one.
 */
export const Alive = Schema.TaggedStruct("Alive", {
  from: Schema.String,
  run: Schema.String,
  /** The NATS listener its peers forward requests to (`nats://host:port/controller-<id>`). */
  address: Schema.String,
  seq: Count,
})

/** What changed in one controller's summary since its delta `seq - 1`: entries with `workers: 0` are removed. */
export const Delta = Schema.TaggedStruct("Delta", {
  from: Schema.String,
  run: Schema.String,
  seq: Count,
  changes: Schema.Array(SummaryEntry),
})

/** A controller's whole summary as of its delta `seq`: the reply to a snapshot request. */
export const Snapshot = Schema.TaggedStruct("Snapshot", {
  from: Schema.String,
  run: Schema.String,
  address: Schema.String,
  seq: Count,
  entries: Schema.Array(SummaryEntry),
})

export const FederationMessage = Schema.Union([Alive, Delta, Snapshot])

export type Alive = typeof Alive.Type
export type Delta = typeof Delta.Type
export type Snapshot = typeof Snapshot.Type
export type FederationMessage = typeof FederationMessage.Type

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const decodeMessage = Schema.decodeUnknownResult(Schema.fromJsonString(FederationMessage))

export const encodeFederationMessage = (message: FederationMessage): Uint8Array => encoder.encode(JSON.stringify(message))

/** The message in `bytes`, or `undefined` when it is not one (a peer of another version, a stray publisher). */
export const decodeFederationMessage = (bytes: Uint8Array): FederationMessage | undefined => {
  const result = decodeMessage(decoder.decode(bytes))
  return Result.isSuccess(result) ? result.success : undefined
}
