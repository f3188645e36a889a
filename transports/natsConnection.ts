/**
 * One connection of the NATS transport, either side: a pair of subjects, one per direction, and the
 * request/response multiplexer behind a `Connection`.
 *
 * Each end subscribes to a subject of its own (`<prefix>.conn.<nuid>`) and publishes to the other's. NATS keeps
 * the order of one publisher's messages on one subject, so one-way messages, requests and replies arrive in the
 * order they were sent, as over a WebSocket. Envelopes are `frameCodec.ts` JSON, one a message; a message with
 * the `Crank-Control` header is a Close (code and reason, for the peer's `onClose`) or a ping (a NATS request the
 * peer answers while it is open).
 *
 * The multiplexer is the WebSocket connection's (`wsConnection.ts`), frame for frame: `call` registers the caller
 * under its `Invoke.id` and an interrupted caller sends `Cancel`; each incoming `Invoke` runs its handler in a fiber
 * of its own that `Cancel` and close interrupt; streaming requests use the shared halves of `streams.ts`; frames
 * that do not decode are answered `BAD_FRAME`, and too many close the connection 1008.
 *
 * What NATS adds: every message must fit the server's `max_payload`. A frame that does not fails only what it
 * belongs to, with `LIMIT_EXCEEDED`: the `Invoke` of a call or stream (its caller gets the failure at once), a
 * reply (its caller gets the failure instead), a one-way `send`; a stream chunk too large is split, and only an item
 * that alone is too large fails its stream. The NATS server would otherwise drop the whole client connection.
 *
 * Liveness: a ping to the peer's subject every `pingIntervalMs` (`keepalive.ts`'s timer). No responders means the
 * peer's subscription is gone (its process or its NATS connection died): closed 1006 at once. No answer by the next
 * tick: closed 1006, "no pong". Our own NATS link dropping closes every connection over it (`natsClient.ts`).
 *
 * @internal Built by `NatsTransport.ts`; actors only see the `Connection` interface.
 */
import { isUtf8 } from "node:buffer"
import { Empty, type Msg, type MsgHdrs, type Subscription } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Stream from "effect/Stream"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import { type ControlMessage, errorOf, type Failure, failureOf, type Invoke, type Reply } from "./Envelope.ts"
import { badFrameReply, cancelFrame, decodeFrame, encodeFrame } from "./frameCodec.ts"
import { defectReply, replyOfExit } from "./handlerReply.ts"
import type { Keepalive } from "./keepalive.ts"
import { isNoResponders, type NatsClient } from "./natsClient.ts"
import type { NatsLimits } from "./natsLimits.ts"
import { closeControl, closeHeaders, controlHeader, decodeClose, encodeClose, pingControl, pingHeaders } from "./natsProtocol.ts"
import { Credit, defaultStreamWindow, receive, type StreamSink, send } from "./streams.ts"
import { CloseCodes, type CloseInfo, type Connection, type Handlers } from "./Transport.ts"

let nextConnectionId = 0

const OPEN = 0
const CLOSED = 1

/** Where a connection lives: its limits, its NATS client, how it runs effects, and who else must forget it. */
export interface NatsSite {
  readonly limits: NatsLimits
  readonly client: NatsClient
  readonly run: <A>(effect: Effect.Effect<A>) => Fiber.Fiber<A>
  readonly keepalive: Keepalive
  readonly clock: () => number
  /** The listener's live connections; absent for a dialled connection. */
  readonly connections: Set<NatsConnection> | undefined
}

/** Handlers in place until `accept`/`connect`'s callback has returned real ones. */
const detached: Handlers = {
  onMessage: () => {},
  serve: (invoke) => Effect.succeed(failureOf(invoke.id, crankError("UNAVAILABLE", "the connection is not accepting requests yet"))),
  onClose: () => {},
}

const tooLarge = (what: string, bytes: number, max: number): CrankError =>
  crankError("LIMIT_EXCEEDED", `${what} is ${bytes} bytes, over the NATS server's max_payload of ${max} bytes`)

/** One NATS connection, either side. */
export class NatsConnection implements Connection {
  readonly id = `nats-${++nextConnectionId}`
  handlers: Handlers = detached
  state = OPEN
  /** Cleared at each keepalive tick, set by the peer's answer to a ping (see `keepalive.ts`). */
  alive = true
  closeInfo: CloseInfo | undefined = undefined
  /** Callers waiting for their replies, by request id. */
  readonly pending = new Map<string, (reply: Effect.Effect<Reply>) => void>()
  /** Handlers running for the peer's requests, by request id. */
  readonly serving = new Map<string, Fiber.Fiber<Reply>>()
  /** Our streaming requests, by id: where their items go. */
  readonly streamsIn = new Map<string, StreamSink>()
  /** The peer's streaming requests we serve, by id: the sending fiber and the credit the peer granted. */
  readonly streamsOut = new Map<string, { readonly credit: Credit; fiber: Fiber.Fiber<void> | undefined }>()
  badFrames = 0
  badWindowStart = 0
  /** The peer's subject: unknown on the dialling side until the listener has accepted. */
  peerSubject: string | undefined
  /** Frames that came before the handshake finished (the listener may send at once): replayed, in order, by `adopt`. */
  private early: Array<Msg> | undefined = []
  private subscription: Subscription | undefined = undefined

  constructor(
    /** The subject this end receives on. */
    readonly ownSubject: string,
    peerSubject: string | undefined,
    readonly remoteAddress: string,
    readonly site: NatsSite,
  ) {
    this.peerSubject = peerSubject
  }

  /** Starts receiving on `ownSubject`; throws what the NATS client throws (a closed client). */
  subscribe(): void {
    this.subscription = this.site.client.nc.subscribe(this.ownSubject, { callback: this.onMessage })
  }

  /** The handshake finished: from here on the connection is live (pinged, dropped with the NATS link). */
  attach(peerSubject: string): void {
    this.peerSubject = peerSubject
    this.site.connections?.add(this)
    this.site.client.connections.add(this)
    this.site.keepalive.add(this)
  }

  /** Installs the handlers `accept` or `connect` produced, then replays what came before them. */
  adopt(handlers: Handlers): void {
    this.handlers = handlers
    if (this.closeInfo !== undefined) return this.notifyClosed(this.closeInfo)
    const early = this.early
    this.early = undefined
    if (early !== undefined) for (const msg of early) this.receive(msg)
  }

  /** A dial that never finished: stop receiving; nobody was told of this connection. */
  abandon(): void {
    this.state = CLOSED
    this.early = undefined
    this.unsubscribe()
  }

  readonly isOpen = (): boolean => this.state === OPEN

  readonly send = (message: ControlMessage): Effect.Effect<void, CrankError> =>
    Effect.suspend(() => {
      if (this.state !== OPEN) return Effect.fail(crankError("UNAVAILABLE", this.closedMessage()))
      let text: string
      try {
        text = encodeFrame(message)
      } catch (error) {
        return Effect.fail(crankError("INTERNAL", `cannot encode ${message._tag} as JSON: ${messageOf(error)}`))
      }
      const refused = this.write(text, message._tag)
      return refused === undefined ? Effect.void : Effect.fail(refused)
    })

  readonly call = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.callback<Reply>((resume) => {
      const id = invoke.id
      if (this.state !== OPEN) return resume(Effect.succeed(failureOf(id, crankError("UNAVAILABLE", this.closedMessage()))))
      if (this.pending.has(id)) {
        return resume(Effect.succeed(failureOf(id, crankError("INTERNAL", `request id ${id} is already in flight on ${this.id}`))))
      }
      let text: string
      try {
        text = encodeFrame(invoke)
      } catch (error) {
        return resume(Effect.succeed(failureOf(id, crankError("INVALID_INPUT", `input cannot be encoded as JSON: ${messageOf(error)}`))))
      }
      // Registered before the write: a peer in this process may answer before `publish` returns.
      this.pending.set(id, resume)
      const refused = this.write(text, `the request ${id}`)
      if (refused !== undefined) {
        this.pending.delete(id)
        return resume(Effect.succeed(failureOf(id, refused)))
      }
      return Effect.sync(() => this.abandonCall(id, resume))
    })

  readonly stream = (invoke: Invoke): Stream.Stream<unknown, CrankError> => {
    const id = invoke.id
    const window = invoke.stream ?? defaultStreamWindow
    const request: Invoke = invoke.stream === undefined ? { ...invoke, stream: window } : invoke
    return receive(window, {
      open: (sink) => {
        if (this.state !== OPEN) return crankError("UNAVAILABLE", this.closedMessage())
        if (this.pending.has(id) || this.streamsIn.has(id)) return crankError("INTERNAL", `request id ${id} is already in flight on ${this.id}`)
        let text: string
        try {
          text = encodeFrame(request)
        } catch (error) {
          return crankError("INVALID_INPUT", `input cannot be encoded as JSON: ${messageOf(error)}`)
        }
        this.streamsIn.set(id, sink)
        const refused = this.write(text, `the streaming request ${id}`)
        if (refused !== undefined) this.streamsIn.delete(id)
        return refused
      },
      grant: (credit) => {
        if (this.state === OPEN && this.streamsIn.has(id)) this.write(encodeFrame({ _tag: "StreamCredit", id, credit }), "StreamCredit")
      },
      cancel: () => {
        if (this.streamsIn.delete(id) && this.state === OPEN) this.write(cancelFrame(id), "Cancel")
      },
    })
  }

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (this.state === CLOSED) return Effect.void
      this.shutdown(info, true)
      // The Close frame has left when the server has it: after that, this end may go (and its client with it).
      return this.site.client.flushWithin(this.site.limits.closeTimeoutMs)
    })

  /**
   * Publishes one frame to the peer, or says why it cannot: `LIMIT_EXCEEDED` when it is larger than the server's
   * max_payload (`what` names it for the message). A NATS client that refuses to publish at all (closed) drops the
   * connection.
   */
  write(text: string, what: string): CrankError | undefined {
    const bytes = Buffer.from(text)
    const max = this.site.client.maxPayload
    if (bytes.length > max) return tooLarge(what, bytes.length, max)
    this.publish(bytes, undefined)
    return undefined
  }

  private publish(bytes: Uint8Array, headers: MsgHdrs | undefined): void {
    const peer = this.peerSubject
    if (peer === undefined) return
    try {
      this.site.client.nc.publish(peer, bytes, headers === undefined ? undefined : { headers })
    } catch (error) {
      if (this.state === OPEN) this.shutdown({ code: CloseCodes.abnormal, reason: `cannot publish to the NATS server: ${messageOf(error)}` }, false)
    }
  }

  /** The caller was interrupted: forget its entry and tell the peer to stop working on it. */
  private abandonCall(id: string, resume: (reply: Effect.Effect<Reply>) => void): void {
    if (this.pending.get(id) !== resume) return
    this.pending.delete(id)
    if (this.state === OPEN) this.write(cancelFrame(id), "Cancel")
  }

  /** The subscription's callback: called by the NATS client for each message, in order. */
  private readonly onMessage = (error: Error | null, msg: Msg): void => {
    if (error !== null) {
      // A subscription fails only for a reason the server gave (permissions): the connection cannot receive.
      if (this.state === OPEN) this.shutdown({ code: CloseCodes.abnormal, reason: `the NATS subscription failed: ${error.message}` }, true)
      return
    }
    try {
      if (this.early !== undefined && this.handlers === detached && msg.headers?.get(controlHeader) !== pingControl) {
        this.early.push(msg)
        return
      }
      this.receive(msg)
    } catch (thrown) {
      // Never into the NATS client's parser: it would stop reading the socket.
      this.site.run(Effect.logError(`${this.id}: a frame could not be handled`, thrown))
    }
  }

  /** One message from the peer. */
  receive(msg: Msg): void {
    const headers = msg.headers
    if (headers !== undefined) return this.control(msg, headers)
    if (this.state !== OPEN) return
    const data = msg.data
    // Text is checked here, not trusted: bad bytes are a bad frame, as on the WebSocket transport.
    if (!isUtf8(data)) return this.badFrame("frame is not valid UTF-8 text", undefined, undefined)
    const frame = decodeFrame(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString())
    switch (frame._tag) {
      case "BadFrame":
        return this.badFrame(frame.message, frame.tag, frame.id)
      case "Invoke":
        return frame.stream === undefined ? this.serve(frame) : this.serveStream(frame, frame.stream)
      case "Result":
        return this.settle(frame)
      case "Failure":
        // With an id it answers one of our requests; without, it is the peer's complaint about a frame of ours.
        return frame.id === undefined ? this.deliver(frame) : this.settle(frame)
      case "Cancel": {
        const fiber = this.serving.get(frame.id)
        if (fiber !== undefined) {
          this.serving.delete(frame.id)
          return fiber.interruptUnsafe()
        }
        const stream = this.streamsOut.get(frame.id)
        if (stream === undefined) return
        this.streamsOut.delete(frame.id)
        return stream.fiber?.interruptUnsafe()
      }
      case "StreamChunk":
        return this.streamsIn.get(frame.id)?.chunk(frame.items)
      case "StreamEnd": {
        const sink = this.streamsIn.get(frame.id)
        if (sink === undefined) return
        this.streamsIn.delete(frame.id)
        return sink.end()
      }
      case "StreamCredit":
        return this.streamsOut.get(frame.id)?.credit.grant(frame.credit)
      default:
        return this.deliver(frame)
    }
  }

  /** A control frame: the peer closing, or pinging. */
  private control(msg: Msg, headers: MsgHdrs): void {
    const kind = headers.get(controlHeader)
    if (kind === pingControl) {
      if (this.state === OPEN) msg.respond(Empty)
      return
    }
    if (this.state !== OPEN) return
    if (kind === closeControl) {
      const info = decodeClose(msg.data)
      return this.shutdown(
        typeof info === "string" ? { code: CloseCodes.protocolError, reason: `the peer closed with a malformed Close frame: ${info}` } : info,
        false,
      )
    }
    this.badFrame(
      kind === "" ? "a message with headers but no Crank-Control header: envelopes travel without headers" : `unknown control frame ${JSON.stringify(kind)}`,
      undefined,
      undefined,
    )
  }

  private deliver(message: ControlMessage): void {
    try {
      this.handlers.onMessage(message)
    } catch (error) {
      this.site.run(Effect.logError(`${this.id}: onMessage threw on ${message._tag}; the message is dropped`, error))
    }
  }

  private settle(reply: Reply): void {
    const id = reply.id as string
    const resume = this.pending.get(id)
    if (resume === undefined) {
      // Or it ends one of our streams: a failure does.
      const sink = reply._tag === "Failure" ? this.streamsIn.get(id) : undefined
      if (sink === undefined) return
      this.streamsIn.delete(id)
      return sink.fail(errorOf(reply as Failure))
    }
    this.pending.delete(id)
    resume(Effect.succeed(reply))
  }

  /** The peer's streaming request: its items go out as the peer grants credit, in a fiber `Cancel` can stop. */
  private serveStream(invoke: Invoke, window: number): void {
    const id = invoke.id
    if (this.serving.has(id) || this.streamsOut.has(id)) {
      return this.answer(failureOf(id, crankError("BAD_FRAME", `request id ${id} is already in service on this connection`)))
    }
    if (this.serving.size + this.streamsOut.size >= this.site.limits.maxInFlight) {
      return this.answer(failureOf(id, crankError("OVERLOADED", `more than ${this.site.limits.maxInFlight} requests in service on one connection`)))
    }
    const serveStream = this.handlers.serveStream
    if (serveStream === undefined) return this.answer(failureOf(id, crankError("NO_WORKER", `${this.remoteAddress} serves no streaming requests`)))
    let items: Stream.Stream<unknown, CrankError>
    try {
      items = serveStream(invoke)
    } catch (error) {
      return this.answer(defectReply(id, error))
    }
    const entry: { readonly credit: Credit; fiber: Fiber.Fiber<void> | undefined } = { credit: new Credit(window), fiber: undefined }
    /** Still ours: not cancelled by the peer, not dropped by a close. */
    const live = () => this.streamsOut.get(id) === entry
    const finish = () => {
      if (live()) this.streamsOut.delete(id)
    }
    this.streamsOut.set(id, entry)
    entry.fiber = this.site.run(
      send(items, entry.credit, {
        chunk: (chunk) => {
          if (!live()) return
          const refused = this.writeChunk(id, chunk)
          if (refused === undefined) return
          finish()
          this.answer(failureOf(id, refused))
          return entry.fiber?.interruptUnsafe()
        },
        end: (count) => {
          if (!live()) return
          finish()
          if (this.state === OPEN) this.write(encodeFrame({ _tag: "StreamEnd", id, count }), "StreamEnd")
        },
        fail: (error) => {
          if (!live()) return
          finish()
          this.answer(failureOf(id, error))
        },
      }),
    )
  }

  /**
   * Sends stream items, in order: as one chunk when it fits the server's max_payload, else halved until each part
   * does. An item too large alone stops there: the items before it have gone, and the stream fails.
   */
  private writeChunk(id: string, items: ReadonlyArray<unknown>): CrankError | undefined {
    let text: string
    try {
      text = encodeFrame({ _tag: "StreamChunk", id, items })
    } catch (error) {
      return crankError("INVALID_OUTPUT", `a stream item cannot be encoded as JSON: ${messageOf(error)}`)
    }
    const refused = this.write(text, items.length === 1 ? `an item of stream ${id}` : "StreamChunk")
    if (refused === undefined || items.length === 1) return refused
    const half = Math.ceil(items.length / 2)
    return this.writeChunk(id, items.slice(0, half)) ?? this.writeChunk(id, items.slice(half))
  }

  private serve(invoke: Invoke): void {
    const id = invoke.id
    if (this.serving.has(id)) return this.answer(failureOf(id, crankError("BAD_FRAME", `request id ${id} is already in service on this connection`)))
    if (this.serving.size >= this.site.limits.maxInFlight) {
      return this.answer(failureOf(id, crankError("OVERLOADED", `more than ${this.site.limits.maxInFlight} requests in service on one connection`)))
    }
    let effect: Effect.Effect<Reply>
    try {
      effect = this.handlers.serve(invoke)
    } catch (error) {
      return this.answer(defectReply(id, error))
    }
    // An answer already made (`Effect.succeed`, `Effect.die` are `Exit`s) needs no fiber; otherwise runFork
    // starts the handler synchronously, and a handler that needs no I/O has answered before it returns.
    if (Exit.isExit(effect)) return this.answer(replyOfExit(id, effect as Exit.Exit<Reply>))
    const fiber = this.site.run(effect)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) return this.answer(replyOfExit(id, exit))
    this.serving.set(id, fiber)
    fiber.addObserver((exit) => {
      // Not ours any more when the peer cancelled it or the connection closed: then nobody waits for an answer.
      if (this.serving.get(id) !== fiber) return
      this.serving.delete(id)
      this.answer(replyOfExit(id, exit))
    })
  }

  /** Sends a reply; one too large for the server goes as a `LIMIT_EXCEEDED` failure in its place. */
  private answer(reply: Reply): void {
    if (this.state !== OPEN) return
    const id = reply.id as string
    let text: string
    try {
      text = encodeFrame(reply)
    } catch (error) {
      text = encodeFrame(failureOf(id, crankError("INVALID_OUTPUT", `output cannot be encoded as JSON: ${messageOf(error)}`)))
    }
    const refused = this.write(text, `the reply to ${id}`)
    if (refused !== undefined) this.write(encodeFrame(failureOf(id, refused)), "Failure")
  }

  private badFrame(message: string, tag: string | undefined, id: string | undefined): void {
    const limits = this.site.limits
    const now = this.site.clock()
    if (now - this.badWindowStart >= limits.badFrameWindowMs) {
      this.badWindowStart = now
      this.badFrames = 0
    }
    if (++this.badFrames > limits.maxBadFrames) {
      return this.shutdown(
        { code: CloseCodes.policyViolation, reason: `too many bad frames: more than ${limits.maxBadFrames} in ${limits.badFrameWindowMs} ms` },
        true,
      )
    }
    // An id in a reply names one of *our* requests: that request is answered here, and the complaint goes back
    // without it (the peer's own requests may use the same id). An id in anything else names the peer's request.
    const isReply = tag === "Result" || tag === "Failure" || tag === "Cancel" || tag === "StreamChunk" || tag === "StreamEnd" || tag === "StreamCredit"
    if (isReply && id !== undefined && tag !== "Cancel" && tag !== "StreamCredit") {
      this.settle(failureOf(id, crankError("BAD_FRAME", `the reply could not be decoded: ${message}`)))
    }
    this.write(badFrameReply(message, isReply ? undefined : id), "Failure")
  }

  /**
   * Ends the connection once: answers every waiting caller `UNAVAILABLE`, interrupts every handler in service,
   * stops receiving and tells the actor. `tell` sends the peer a Close frame with `info` first.
   */
  shutdown(info: CloseInfo, tell: boolean): void {
    if (this.state === CLOSED) return
    this.state = CLOSED
    this.closeInfo = info
    this.site.keepalive.delete(this)
    this.site.connections?.delete(this)
    this.site.client.connections.delete(this)
    if (this.pending.size > 0) {
      const message = this.closedMessage()
      for (const [id, resume] of this.pending) resume(Effect.succeed(failureOf(id, crankError("UNAVAILABLE", message))))
      this.pending.clear()
    }
    if (this.streamsIn.size > 0) {
      const message = this.closedMessage()
      const sinks = [...this.streamsIn.values()]
      this.streamsIn.clear()
      for (const sink of sinks) sink.fail(crankError("UNAVAILABLE", message))
    }
    for (const fiber of this.serving.values()) fiber.interruptUnsafe()
    this.serving.clear()
    const streams = [...this.streamsOut.values()]
    this.streamsOut.clear()
    for (const stream of streams) stream.fiber?.interruptUnsafe()
    if (tell) this.publish(encodeClose(info.code, info.reason), closeHeaders)
    this.early = undefined
    this.unsubscribe()
    if (this.handlers !== detached) this.notifyClosed(info)
  }

  private unsubscribe(): void {
    const subscription = this.subscription
    this.subscription = undefined
    if (subscription === undefined || subscription.isClosed()) return
    try {
      subscription.unsubscribe()
    } catch {
      // The client is closed already: so is the subscription.
    }
  }

  private notifyClosed(info: CloseInfo): void {
    try {
      this.handlers.onClose(info)
    } catch (error) {
      this.site.run(Effect.logError(`${this.id}: onClose threw`, error))
    }
  }

  /** The keepalive's ping: a NATS request to the peer's subject, which the peer answers while it is open. */
  ping(): void {
    const peer = this.peerSubject
    if (peer === undefined) return
    let answer: Promise<Msg>
    try {
      answer = this.site.client.nc.request(peer, Empty, { timeout: this.site.limits.pingIntervalMs, headers: pingHeaders })
    } catch {
      return // the client is closed: `dropped` is on its way
    }
    answer.then(
      () => {
        this.alive = true
      },
      (error: unknown) => {
        // No subscription on the peer's subject: its end, or its whole NATS connection, is gone. A timeout is
        // left to the next tick, which finds `alive` still false.
        if (this.state === OPEN && isNoResponders(error)) {
          this.lost(`the peer's subject ${peer} has no subscriber: its process or its NATS connection is gone`)
        }
      },
    )
  }

  /** The peer stopped answering pings, or is gone: closed 1006, and the peer is told if it can still hear. */
  lost(reason: string): void {
    this.shutdown({ code: CloseCodes.abnormal, reason }, true)
  }

  /** Our NATS client lost the server: nothing can be sent, so the peer is not told (it loses us the same way). */
  dropped(reason: string): void {
    this.shutdown({ code: CloseCodes.abnormal, reason }, false)
  }

  private closedMessage(): string {
    const info = this.closeInfo
    return info === undefined
      ? `connection ${this.id} to ${this.remoteAddress} is closed`
      : `connection ${this.id} to ${this.remoteAddress} closed (${info.code} ${info.reason})`
  }
}
