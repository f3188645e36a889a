/**
 * Fuzzing the wire (issue 11): generated frames from raw `ws` peers into (a) a controller and (b) a worker's
 * listener (serving `hello.greet` from examples/hello), both on 127.0.0.1 on free ports.
 *
 * Frames: envelopes of every tag, valid or mutated (fields dropped, retyped, lengthened, nested deep, ids reused
 * across requests, wrong protocol versions, huge and odd numbers, unicode and lone surrogates, extra and
 * `__proto__` keys, another `_tag`, duplicate keys, truncated or spliced text, a byte-order mark), and raw
 * strings, bytes as text frames (mostly not UTF-8) and binary frames. `fast-check` generates them in batches,
 * one property run per batch; each target gets `FUZZ_RUNS` batches (default 200, 20 to 40 frames each).
 *
 * Properties, checked after every batch:
 * - every frame that does not decode (`decodeFrame` is the oracle, with the transport's binary and UTF-8 rules) is
 *   answered with a `BAD_FRAME` failure (under its id when one could be read from a request), and every decoded
 *   `Invoke` is answered exactly once under its id (`Result`, or a `Failure` such as `INVALID_INPUT`,
 *   `NO_WORKER`, `TIMEOUT`, `BAD_FRAME` for an id already in service); no answer names an id never sent;
 * - or the peer is disconnected with a close code and a non-empty reason: 1008 "too many bad frames" on the
 *   eleventh bad frame of a connection, or a controller's refusal (an unregistered peer's control message, a
 *   wrong token, a limit). Then a new peer takes over and the batch goes on;
 * - a well-behaved client (direct routes) and one through the controller's relay each invoke `hello.greet`
 *   after every batch and get the right greeting from the one real worker;
 * - at the end, the controller and the worker are still running and their registries are sane: the real worker
 *   is healthy with nothing in flight, `hello.greet` is routed to it alone, and every other record is a worker
 *   some fuzzing peer registered with the join token.
 *
 * Reproducible: the seed is fixed (`FUZZ_SEED`, default below) and printed by fast-check on failure ("seed: …,
 * path: …"). Replay a failure with `FUZZ_SEED=<seed> npx vitest run tests/fuzz/frames.test.ts`; run longer with
 * `FUZZ_RUNS=3000` (batches per target). The servers keep state across batches, so replay the whole seed rather
 * than fast-check's `path` alone.
 */
import { isUtf8 } from "node:buffer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { descriptorOf } from "../../capabilities/Capability.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"
import { EnvelopeTags, protocolVersion } from "../../transports/Envelope.ts"
import { decodeFrame } from "../../transports/frameCodec.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { until } from "../support/poll.ts"
import { type Frame, RawPeer } from "../support/rawPeer.ts"

const seed = Number(process.env.FUZZ_SEED ?? 1_108_011)
const runs = Number(process.env.FUZZ_RUNS ?? 200)
/** The transport's default `maxBadFrames`: the next bad frame within the window closes the connection. */
const maxBadFrames = 10
const badFrameWindowMs = 10_000

const token = "fuzz-join-token"
const realWorkerId = "hello-real"

// ---------------------------------------------------------------------------------------------------------------
// Generators

/** A frame as sent: text (a string, or bytes that may not be UTF-8) or binary. */
interface Sent {
  readonly data: string | Uint8Array
  readonly binary: boolean
}

const idPool = ["r1", "r2", "r3", "dup", "", " ", "0", "ü𝄞", "\u0000", "a/b", "x".repeat(200)]
/** Worker ids fuzzing peers register under; never the real worker's. */
const workerIdPool = ["fz-1", "fz-2", "fz-3", "", "ü"]
const capabilityPool = ["hello.greet", "hello.greet", "crank.status", "crank.routes", "crank.drain", "fuzz.echo", "nope.never", "Hello.Greet", "", "crank."]
const rangePool = ["^1", "^1", "*", "^2", "1.0.0", ">=1 <2", "garbage", "", "^1 || ^2"]
const weirdNumbers = [
  0,
  -0,
  -1,
  1.5,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  2 ** 53,
  5e-324,
  2 ** 31,
  -(2 ** 31),
  Number.NaN,
  Number.POSITIVE_INFINITY,
]

const weirdNumber = fc.constantFrom(...weirdNumbers)
const number = fc.oneof(fc.integer({ min: 0, max: 10_000 }), weirdNumber, fc.double())
const shortText = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom(...idPool),
)
const json = fc.jsonValue({ maxDepth: 3 })
const anyValue = fc.oneof(json, weirdNumber, shortText, fc.constant(null), fc.boolean(), fc.constant([]), fc.constant({}))

const helloDescriptor = descriptorOf(HelloGreet)
const descriptor = fc
  .record({
    id: fc.constantFrom("fuzz.echo", "fuzz.other", "fuzz.echo"),
    version: fc.constantFrom("1.0.0", "2.1.0", "1.x"),
    idempotent: fc.boolean(),
  })
  .map((fields) => ({ ...helloDescriptor, ...fields }))

/** A registration the controller accepts: a fuzzing peer's worker serving `fuzz.echo`. */
const registerOf = (workerId: string) => ({
  _tag: "Register",
  protocolVersion,
  workerId,
  nodeId: "fuzz",
  capabilities: [{ ...helloDescriptor, id: "fuzz.echo" }],
  address: "ws://127.0.0.1:1",
  maxInFlight: 4,
  token,
})

const greetInput = fc.record(
  {
    message: shortText,
    options: fc.record(
      { uppercase: fc.boolean(), reverse: fc.boolean(), exclamations: fc.oneof(fc.integer({ min: 0, max: 10 }), number) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ["message"] },
)

const workerId = fc.constantFrom(...workerIdPool)
const requestId = fc.oneof(fc.constantFrom(...idPool), fc.string({ maxLength: 8 }))
const millis = fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, 1e308))

/** One valid envelope of each tag, as the peers of the mesh would send them. */
const envelopes: Record<(typeof EnvelopeTags)[number], fc.Arbitrary<Record<string, unknown>>> = {
  Register: fc.record(
    {
      _tag: fc.constant("Register"),
      protocolVersion: fc.constantFrom(protocolVersion, protocolVersion, 0, 2),
      workerId,
      nodeId: fc.constantFrom("fuzz", "n"),
      capabilities: fc.array(descriptor, { maxLength: 3 }),
      address: fc.constantFrom("ws://127.0.0.1:1", "memory://nowhere", "not a url"),
      maxInFlight: fc.integer({ min: 1, max: 64 }),
      token: fc.constantFrom(token, token, "wrong"),
      placement: fc.constantFrom({}, { gpu: true }, { labels: ["gpu"] }),
    },
    { requiredKeys: ["_tag", "protocolVersion", "workerId", "nodeId", "capabilities", "maxInFlight"] },
  ),
  Registered: fc.record({ _tag: fc.constant("Registered"), workerId, heartbeatIntervalMs: millis, staleAfterMs: millis }),
  Heartbeat: fc.record(
    {
      _tag: fc.constant("Heartbeat"),
      workerId,
      seq: fc.nat(),
      inFlight: fc.nat({ max: 64 }),
      completed: fc.nat(),
      stats: fc.array(
        fc.record({
          capability: fc.constantFrom("fuzz.echo", "hello.greet"),
          version: fc.constant("1.0.0"),
          outcomes: fc.dictionary(fc.constantFrom("OK", "TIMEOUT", "__proto__"), fc.nat()),
          latencyBuckets: fc.array(fc.nat(), { maxLength: 13 }),
          latencySumMs: fc.nat(),
        }),
        { maxLength: 2 },
      ),
    },
    { requiredKeys: ["_tag", "workerId", "seq", "inFlight", "completed"] },
  ),
  HeartbeatAck: fc.record({ _tag: fc.constant("HeartbeatAck"), workerId, seq: fc.nat() }),
  Drain: fc.record({ _tag: fc.constant("Drain"), workerId, deadlineMs: millis }),
  Deregister: fc.record({ _tag: fc.constant("Deregister"), workerId, reason: shortText }),
  Invoke: fc.record(
    {
      _tag: fc.constant("Invoke"),
      id: requestId,
      capability: fc.constantFrom(...capabilityPool),
      range: fc.constantFrom(...rangePool),
      input: fc.oneof(greetInput, greetInput, json, fc.record({ workerId })),
      timeoutMs: millis,
      // A streaming request now and then, with a credit in range or out of it.
      stream: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constantFrom(0, -1, 1e9)),
    },
    { requiredKeys: ["_tag", "id", "capability", "range", "input", "timeoutMs"] },
  ),
  Result: fc.record({ _tag: fc.constant("Result"), id: requestId, output: json }),
  Failure: fc.record(
    {
      _tag: fc.constant("Failure"),
      id: requestId,
      code: fc.constantFrom("BAD_FRAME", "TIMEOUT", "INTERNAL", "X"),
      message: shortText,
      retriable: fc.boolean(),
    },
    { requiredKeys: ["_tag", "code", "message", "retriable"] },
  ),
  Cancel: fc.record({ _tag: fc.constant("Cancel"), id: requestId }),
  StreamChunk: fc.record({ _tag: fc.constant("StreamChunk"), id: requestId, items: fc.array(json, { maxLength: 4 }) }),
  StreamEnd: fc.record({ _tag: fc.constant("StreamEnd"), id: requestId, count: fc.integer({ min: 0, max: 10 }) }),
  StreamCredit: fc.record({ _tag: fc.constant("StreamCredit"), id: requestId, credit: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constantFrom(0, 1e9)) }),
}

const anyEnvelope = fc.oneof(...EnvelopeTags.map((tag) => envelopes[tag]))

/** Wraps `value` `depth` times, alternating arrays and objects. */
const nest = (value: unknown, depth: number): unknown => {
  let nested = value
  for (let i = 0; i < depth; i++) nested = i % 2 === 0 ? [nested] : { a: nested }
  return nested
}

type Mutation = (envelope: Record<string, unknown>) => void

/** Picks one of the envelope's keys by index. */
const keyAt = (envelope: Record<string, unknown>, index: number): string | undefined => {
  const keys = Object.keys(envelope)
  return keys.length === 0 ? undefined : keys[index % keys.length]
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // drop a field
  fc.nat().map((i) => (e: Record<string, unknown>) => {
    const key = keyAt(e, i)
    if (key !== undefined) delete e[key]
  }),
  // retype a field
  fc.tuple(fc.nat(), anyValue).map(([i, value]) => (e: Record<string, unknown>) => {
    const key = keyAt(e, i)
    if (key !== undefined) e[key] = value
  }),
  // lengthen a string or an array
  fc.tuple(fc.nat(), fc.constantFrom(300, 5_000, 70_000)).map(([i, length]) => (e: Record<string, unknown>) => {
    const key = keyAt(e, i)
    if (key === undefined) return
    const value = e[key]
    if (Array.isArray(value)) e[key] = Array.from({ length: Math.min(length, 400) }, (_, n) => value[n % Math.max(1, value.length)] ?? n)
    else {
      const unit = typeof value === "string" && value.length > 0 ? value : "ü"
      e[key] = unit.repeat(Math.ceil(length / unit.length))
    }
  }),
  // nest a field deep
  fc.tuple(fc.nat(), fc.constantFrom(1, 8, 200, 2_000)).map(([i, depth]) => (e: Record<string, unknown>) => {
    const key = keyAt(e, i)
    if (key !== undefined) e[key] = nest(e[key], depth)
  }),
  // reuse an id
  fc.constantFrom(...idPool).map((id) => (e: Record<string, unknown>) => void (e.id = id)),
  // a wrong protocol version
  fc.oneof(weirdNumber, fc.constantFrom("1", null, [1], 1.0000001)).map((v) => (e: Record<string, unknown>) => void (e.protocolVersion = v)),
  // a huge or odd number
  fc.tuple(fc.nat(), weirdNumber).map(([i, n]) => (e: Record<string, unknown>) => {
    const key = keyAt(e, i)
    if (key !== undefined) e[key] = n
  }),
  // unicode
  fc.tuple(fc.nat(), fc.string({ unit: "binary", minLength: 1, maxLength: 40 })).map(([i, s]) => (e: Record<string, unknown>) => {
    const key = keyAt(e, i)
    if (key !== undefined) e[key] = s
  }),
  // another tag
  fc
    .oneof(fc.constantFrom(...EnvelopeTags), fc.constantFrom("invoke", "INVOKE", "Invoke ", "", "__proto__", "constructor"), shortText)
    .map((tag) => (e: Record<string, unknown>) => void (e._tag = tag)),
  // an extra key, __proto__ and constructor included
  fc.tuple(fc.constantFrom("__proto__", "constructor", "extra", "id", "toString"), anyValue).map(([key, value]) => (e: Record<string, unknown>) => {
    Object.defineProperty(e, key, { value, enumerable: true, configurable: true, writable: true })
  }),
)

/** A mutation of the serialized text. */
type TextMutation = (text: string) => Sent

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant((text: string): Sent => ({ data: text, binary: false })) },
  fc.nat().map(
    (at) =>
      (text: string): Sent => ({ data: text.slice(0, at % (text.length + 1)), binary: false }),
  ),
  fc.tuple(fc.nat(), fc.string({ unit: "binary", maxLength: 6 })).map(([at, s]) => (text: string): Sent => {
    const i = at % (text.length + 1)
    return { data: text.slice(0, i) + s + text.slice(i), binary: false }
  }),
  // a duplicate key: JSON.parse keeps the last one
  fc.tuple(fc.constantFrom("_tag", "id", "timeoutMs"), anyValue).map(
    ([key, value]) =>
      (text: string): Sent => ({
        data: text.endsWith("}") && text.length > 2 ? `${text.slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(value) ?? "null"}}` : text,
        binary: false,
      }),
  ),
  fc.constantFrom("\uFEFF", " \n\t", "\u0000").map(
    (prefix) =>
      (text: string): Sent => ({ data: prefix + text, binary: false }),
  ),
  // a valid envelope, but in a binary frame
  fc.constant((text: string): Sent => ({ data: Buffer.from(text), binary: true })),
  // bytes that are not UTF-8 spliced in
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4, min: 0x80 })).map(([at, bytes]) => (text: string): Sent => {
    const buffer = Buffer.from(text)
    const i = at % (buffer.length + 1)
    return { data: Buffer.concat([buffer.subarray(0, i), Buffer.from(bytes), buffer.subarray(i)]), binary: false }
  }),
)

const mutatedEnvelope: fc.Arbitrary<Sent> = fc
  .tuple(anyEnvelope, fc.array(mutation, { minLength: 1, maxLength: 2 }), textMutation)
  .map(([envelope, mutations, text]) => {
    const copy: Record<string, unknown> = { ...envelope }
    for (const mutate of mutations) mutate(copy)
    return text(JSON.stringify(copy))
  })

const validEnvelope: fc.Arbitrary<Sent> = anyEnvelope.map((envelope) => ({ data: JSON.stringify(envelope), binary: false }))

const rawFrame: fc.Arbitrary<Sent> = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 64 }).map((data): Sent => ({ data, binary: false })),
  fc.string({ unit: "binary", maxLength: 64 }).map((data): Sent => ({ data, binary: false })),
  fc.uint8Array({ maxLength: 128 }).map((data): Sent => ({ data, binary: false })),
  fc.uint8Array({ maxLength: 128 }).map((data): Sent => ({ data, binary: true })),
  fc
    .constantFrom("", "null", "42", "[]", "{}", '"Invoke"', "true", "{", '{"_tag":"Invoke"', '{"_tag":"Invoke","id":"r1"')
    .map((data): Sent => ({ data, binary: false })),
  anyValue.map((value): Sent => ({ data: JSON.stringify(value) ?? "undefined", binary: false })),
)

/** A request a caller could well send: the greeting, or a system capability, with sane or odd fields. */
const plausibleInvoke: fc.Arbitrary<Sent> = fc
  .record({
    _tag: fc.constant("Invoke"),
    id: requestId,
    capability: fc.constantFrom("hello.greet", "hello.greet", "hello.greet", "crank.status", "crank.routes", "fuzz.echo", "nope.never"),
    range: fc.constantFrom("^1", "^1", "*", "^2", "garbage"),
    input: fc.oneof({ weight: 4, arbitrary: greetInput }, { weight: 1, arbitrary: json }),
    timeoutMs: fc.oneof(fc.constantFrom(5_000, Number.MAX_SAFE_INTEGER, 0, 1), fc.integer({ min: 0, max: 10_000 })),
  })
  .map((envelope) => ({ data: JSON.stringify(envelope), binary: false }))

const frame: fc.Arbitrary<Sent> = fc.oneof(
  { weight: 5, arbitrary: mutatedEnvelope },
  { weight: 2, arbitrary: rawFrame },
  { weight: 2, arbitrary: validEnvelope },
  { weight: 3, arbitrary: plausibleInvoke },
)
const batch = fc.array(frame, { minLength: 20, maxLength: 40 })

// ---------------------------------------------------------------------------------------------------------------
// The oracle: what the listener must do with a frame

type Expectation =
  /** Undecodable: a `BAD_FRAME` failure, under `id` when it names a request. */
  | { readonly kind: "bad"; readonly id: string | undefined }
  /** A request: one answer under its id. */
  | { readonly kind: "invoke"; readonly id: string }
  | { readonly kind: "cancel"; readonly id: string }
  /** Any other envelope: an actor's business (an answer, nothing, or a refusal and a close). */
  | { readonly kind: "control"; readonly tag: string }

const expectationOf = (sent: Sent): Expectation => {
  if (sent.binary) return { kind: "bad", id: undefined }
  const bytes = typeof sent.data === "string" ? Buffer.from(sent.data) : Buffer.from(sent.data)
  if (!isUtf8(bytes)) return { kind: "bad", id: undefined }
  const decoded = decodeFrame(bytes.toString())
  switch (decoded._tag) {
    case "BadFrame": {
      // Frames whose id names a request of the receiver's own (replies, stream traffic): their complaint has no id.
      const isReply = ["Result", "Failure", "Cancel", "StreamChunk", "StreamEnd", "StreamCredit"].includes(decoded.tag ?? "")
      return { kind: "bad", id: isReply ? undefined : decoded.id }
    }
    case "Invoke":
      return { kind: "invoke", id: decoded.id }
    case "Cancel":
      return { kind: "cancel", id: decoded.id }
    default:
      return { kind: "control", tag: decoded._tag }
  }
}

/** Messages of the transport's complaints about undecodable frames (not the controller's refusals). */
const decodeComplaint = /^(binary frames are not accepted|frame is not valid|frame must be|frame has no|unknown _tag|invalid \w+ frame)/

const show = (sent: Sent): string => {
  const text = typeof sent.data === "string" ? JSON.stringify(sent.data) : `bytes ${Buffer.from(sent.data).toString("hex")}`
  return `${sent.binary ? "binary " : ""}${text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text}`
}

// ---------------------------------------------------------------------------------------------------------------
// One fuzzing connection and its ledger

class FuzzPeer {
  readonly opened = Date.now()
  /** Answers owed by id (requests, and bad frames that named a request). */
  readonly owed = new Map<string, number>()
  readonly answered = new Map<string, number>()
  readonly cancelled = new Set<string>()
  readonly sentById = new Map<string, Array<Sent>>()
  anonymousOwed = 0
  anonymousAnswered = 0
  bad = 0
  sawControl = false

  private constructor(readonly peer: RawPeer) {}

  static async open(address: string): Promise<FuzzPeer> {
    let fuzz: FuzzPeer | undefined
    const raw = await RawPeer.connect(address, {
      onFrame: (frame, peer) => {
        // The controller relays requests to a fuzzing peer that registered a capability: answer them.
        if (frame._tag === "Invoke" && typeof frame.id === "string") peer.send(JSON.stringify({ _tag: "Result", id: frame.id, output: null }))
        else fuzz?.record(frame)
      },
    })
    fuzz = new FuzzPeer(raw)
    return fuzz
  }

  get closed(): { code: number; reason: string } | undefined {
    return this.peer.closed
  }

  record(frame: Frame): void {
    if (frame._tag !== "Result" && frame._tag !== "Failure") return
    if (typeof frame.id === "string") this.answered.set(frame.id, (this.answered.get(frame.id) ?? 0) + 1)
    else if (frame.code === "BAD_FRAME" && typeof frame.message === "string" && decodeComplaint.test(frame.message)) this.anonymousAnswered++
  }

  send(sent: Sent, expectation: Expectation): void {
    switch (expectation.kind) {
      case "bad":
        this.bad++
        if (expectation.id === undefined) this.anonymousOwed++
        else this.owe(expectation.id, sent)
        break
      case "invoke":
        this.owe(expectation.id, sent)
        break
      case "cancel":
        this.cancelled.add(expectation.id)
        break
      case "control":
        this.sawControl = true
        break
    }
    this.peer.send(sent.data, sent.binary)
  }

  private owe(id: string, sent: Sent): void {
    this.owed.set(id, (this.owed.get(id) ?? 0) + 1)
    const list = this.sentById.get(id) ?? []
    list.push(sent)
    this.sentById.set(id, list)
  }

  /** Every answer owed has come (a cancelled request may go unanswered). */
  settled(): boolean {
    if (this.anonymousAnswered < this.anonymousOwed) return false
    for (const [id, owed] of this.owed) if (!this.cancelled.has(id) && (this.answered.get(id) ?? 0) < owed) return false
    return true
  }

  /** What is still owed, to explain a timeout. */
  unanswered(): string {
    const ids = [...this.owed].filter(([id, owed]) => !this.cancelled.has(id) && (this.answered.get(id) ?? 0) < owed)
    return JSON.stringify({
      anonymous: { owed: this.anonymousOwed, answered: this.anonymousAnswered },
      ids: ids.map(([id, owed]) => ({ id, owed, answered: this.answered.get(id) ?? 0, frames: (this.sentById.get(id) ?? []).map(show) })),
      lastFrames: this.peer.frames.slice(-5),
    })
  }

  /** No answer names a request never made, and none comes twice. */
  checkNoExtraAnswers(): void {
    for (const [id, count] of this.answered) {
      const owed = this.owed.get(id) ?? 0
      if (count > owed)
        throw new Error(`${count} answers under id ${JSON.stringify(id)}, ${owed} owed; frames: ${(this.sentById.get(id) ?? []).map(show).join(" | ")}`)
    }
    if (this.anonymousAnswered > this.anonymousOwed) throw new Error(`${this.anonymousAnswered} BAD_FRAME complaints for ${this.anonymousOwed} bad frames`)
  }
}

interface Figures {
  frames: number
  bad: number
  invokes: number
  control: number
  connections: number
  closes: Map<string, number>
  goodCalls: number
  /** Fuzzing peers that registered as workers (with the join token) before fuzzing. */
  registered: number
}

const newFigures = (): Figures => ({ frames: 0, bad: 0, invokes: 0, control: 0, connections: 0, closes: new Map(), goodCalls: 0, registered: 0 })

const expectClosedWithReason = (peer: FuzzPeer, figures: Figures): void => {
  const closed = peer.closed!
  expect(closed.code, `close code of a fuzzing peer: ${JSON.stringify(closed)}`).toBeGreaterThanOrEqual(1000)
  expect(closed.reason, `a close without a reason: ${JSON.stringify(closed)}`).not.toBe("")
  const kind = `${closed.code} ${closed.reason.replace(/worker .*?:|\d+/g, "…")}`
  figures.closes.set(kind, (figures.closes.get(kind) ?? 0) + 1)
}

// ---------------------------------------------------------------------------------------------------------------
// The mesh under fuzz

const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

interface Mesh {
  readonly controller: Controller.Controller
  readonly worker: Worker.RunningWorker
  readonly direct: Client.Client
  readonly relayed: Client.Client
}

let scope: Scope.Closeable
let mesh: Mesh
const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Transport>): Promise<A> =>
  Effect.runPromise(effect.pipe(Scope.provide(scope), Effect.provideService(Transport, WebSocketTransport.make()), quiet))

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  mesh = await run(
    Effect.gen(function* () {
      const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:0"], token })
      const worker = yield* Worker.start(hello, { controller: controller.address, listen: "ws://127.0.0.1:0", workerId: realWorkerId, token })
      yield* awaitWorkers(controller, (workers) => workers.some((w) => w.id === realWorkerId && w.state === "healthy"), 10_000)
      const direct = yield* Client.make({ controller: controller.address })
      const relayed = yield* Client.make({ controller: controller.address, direct: false })
      return { controller, worker, direct, relayed }
    }).pipe(withTunables({ heartbeatIntervalMs: 500, staleAfterMs: 10_000 })),
  )
})

afterAll(async () => {
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
})

let greetings = 0
/** The well-behaved clients: each asks once, and must get the real worker's greeting. */
const goodCalls = async (figures: Figures): Promise<void> => {
  for (const client of [mesh.direct, mesh.relayed]) {
    const message = `fine ${++greetings}`
    const output = await run(client.invoke(HelloGreet, { message, options: { exclamations: 1 } }, { timeoutMs: 10_000 }))
    expect(output).toEqual({ greeting: `Hello, ${message}!`, worker: realWorkerId })
    figures.goodCalls++
  }
}

/** Sends one batch through fuzzing peers (a new one whenever the last was closed), checking every answer. */
const fuzzBatch = async (
  address: string,
  registerFirst: boolean,
  state: { peer: FuzzPeer | undefined },
  frames: ReadonlyArray<Sent>,
  figures: Figures,
): Promise<void> => {
  const settle = async (peer: FuzzPeer): Promise<void> => {
    await until("every bad frame and request answered, or the peer closed", () => peer.closed !== undefined || peer.settled(), {
      timeoutMs: 15_000,
      show: () => peer.unanswered(),
    })
    peer.checkNoExtraAnswers()
  }
  const fresh = async (): Promise<FuzzPeer> => {
    const peer = await FuzzPeer.open(address)
    state.peer = peer
    // Every other peer of the controller first registers properly, so later frames reach a registered worker's paths.
    if (registerFirst && figures.connections % 2 === 0) {
      const workerId = workerIdPool[figures.connections % 3]!
      const register = { ...registerOf(workerId), nodeId: `fuzz-${figures.connections}` }
      peer.send({ data: JSON.stringify(register), binary: false }, { kind: "control", tag: "Register" })
      peer.sawControl = false
      figures.frames++
      figures.control++
      await until(`worker ${workerId} registered`, () => peer.peer.frames.some((f) => f._tag === "Registered"), { timeoutMs: 15_000 })
      figures.registered++
    }
    figures.connections++
    return peer
  }
  let peer = state.peer === undefined || state.peer.closed !== undefined ? await fresh() : state.peer
  for (const sent of frames) {
    if (peer.closed !== undefined) {
      expectClosedWithReason(peer, figures)
      peer = await fresh()
    }
    const expectation = expectationOf(sent)
    // The bad frame one over the limit (within one window) must close the connection with 1008 and a reason.
    if (expectation.kind === "bad" && peer.bad === maxBadFrames) {
      await settle(peer)
      const young = Date.now() - peer.opened < badFrameWindowMs
      peer.send(sent, expectation)
      figures.frames++
      figures.bad++
      if (young && peer.closed === undefined) {
        await until("the peer closed after too many bad frames", () => peer.closed !== undefined, { timeoutMs: 15_000 })
        // A refusal of the controller's may have come first; otherwise this is the bad-frame limit.
        if (!peer.sawControl) expect(peer.closed).toEqual({ code: 1008, reason: `too many bad frames: more than ${maxBadFrames} in ${badFrameWindowMs} ms` })
      }
      continue
    }
    peer.send(sent, expectation)
    figures.frames++
    if (expectation.kind === "bad") figures.bad++
    else if (expectation.kind === "invoke") figures.invokes++
    else if (expectation.kind === "control") figures.control++
  }
  await settle(peer)
  if (peer.closed !== undefined) expectClosedWithReason(peer, figures)
}

const fuzzTarget = async (name: string, address: string, registerFirst: boolean): Promise<Figures> => {
  const figures = newFigures()
  const state: { peer: FuzzPeer | undefined } = { peer: undefined }
  const started = Date.now()
  try {
    await fc.assert(
      fc.asyncProperty(batch, async (frames) => {
        await fuzzBatch(address, registerFirst, state, frames, figures)
        await goodCalls(figures)
      }),
      { seed, numRuns: runs, endOnFailure: true },
    )
  } finally {
    state.peer?.peer.close()
  }
  const report = { ...figures, closes: Object.fromEntries(figures.closes), ms: Date.now() - started }
  console.log(`fuzz ${name}: ${JSON.stringify(report)}`)
  return figures
}

/** The controller and the worker are alive and their registries sane. */
const expectSane = async (): Promise<void> => {
  const { controller, worker } = mesh
  const real = controller.worker(realWorkerId)
  expect(real?.state).toBe("healthy")
  expect(real?.address).toBe(worker.address)
  expect(worker.state()).toBe("healthy")
  for (const view of controller.workers()) {
    if (view.id === realWorkerId) continue
    expect(
      view.capabilities.every((c) => c.id.startsWith("fuzz.")),
      `a fuzzing peer's worker ${view.id} serves only fuzz.*`,
    ).toBe(true)
  }
  const greeters = controller.routes().filter((route) => route.capabilities.some((c) => c.id === "hello.greet"))
  expect(greeters.map((route) => route.id)).toEqual([realWorkerId])
  await until("the worker idle", () => worker.inFlight() === 0)
}

describe("fuzzing the wire with fast-check", () => {
  it(`survives generated frames into a controller and a worker's listener (seed ${seed}, ${runs} batches each)`, { timeout: 180_000 }, async () => {
    const atController = await fuzzTarget("controller", mesh.controller.address, true)
    await expectSane()
    const atWorker = await fuzzTarget("worker", mesh.worker.address!, false)
    await expectSane()
    await goodCalls(atWorker)
    // At the default 200 batches, at least 5,000 frames per target (10,000 in all); FUZZ_RUNS scales the floor.
    const floor = Math.round((runs / 200) * 5_000)
    expect(atController.frames + atWorker.frames).toBeGreaterThanOrEqual(2 * floor)
    for (const figures of [atController, atWorker]) {
      expect(figures.frames).toBeGreaterThanOrEqual(floor)
      expect(figures.bad).toBeGreaterThan(floor / 5)
      expect(figures.invokes).toBeGreaterThan(floor / 25)
    }
  })
})
