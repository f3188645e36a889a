/**
 * The request/response multiplexer every message transport's connection is built on (WebSocket in `wsConnection.ts`,
 * NATS in `natsConnection.ts`): what turns a two-way series of `frameCodec.ts` frames into a `Connection`. One
 * module, so that calls, cancellation, streams, bad frames and close mean the same on every wire.
 *
 * Outgoing: `call` registers the caller under its `Invoke.id` and writes the frame; an interrupted caller sends
 * `Cancel`. Incoming (`dispatch`): each `Invoke` runs its handler in a fiber of its own (tracked by id, so `Cancel`
 * and close can interrupt it) and its reply is written back; `Result`/`Failure` settle a waiting caller; other
 * envelopes go to the actor's `onMessage` in order. Undecodable frames are answered `BAD_FRAME`, and a connection
 * that sends too many within a window is closed with 1008. On close, from either side and for whatever reason,
 * every waiting caller is answered `UNAVAILABLE`, every handler is interrupted and `onClose` is called once.
 * Streaming requests use the shared halves of `streams.ts`: `stream` is the caller's (items in `StreamChunk`s,
 * credit back in `StreamCredit`s), an `Invoke` with `stream` the serving side's.
 *
 * A transport's connection extends this class and supplies its wire: `write` (one encoded frame to the peer),
 * `closeWire` (what closing means there), `close`, `ping` and `lost`; it decodes what arrives and hands each frame to
 * `dispatch`. A wire may refuse a frame (NATS: larger than the server's `max_payload`): then only what the frame
 * belongs to fails, with the wire's error: a call or stream's `Invoke`, a reply (its caller gets the error instead),
 * a `send`; a stream chunk is halved until each part is accepted.
 *
 * Hot path: everything here is a method on the connection (no closures per frame), and `write` is told what a
 * frame is as a constant and an id, so a wire builds a description only for a frame it refuses.
 *
 * @internal Extended by the transports' connections; actors only see the `Connection` interface.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Stream from "effect/Stream"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import type { ConnectionLimits } from "./connectionLimits.ts"
import { type ControlMessage, type Envelope, errorOf, type Failure, failureOf, type Invoke, type Reply } from "./Envelope.ts"
import { type BadFrame, badFrameReply, cancelFrame, encodeFrame } from "./frameCodec.ts"
import { defectReply, replyOfExit } from "./handlerReply.ts"
import type { Keepalive } from "./keepalive.ts"
import { Credit, defaultStreamWindow, receive, type StreamSink, send } from "./streams.ts"
import { CloseCodes, type CloseInfo, type Connection, type Handlers } from "./Transport.ts"

/** `RequestMultiplexer.state`: integers, compared on every frame. */
export const OPEN = 0
export const CLOSED = 1

/** Where a connection lives: the limits the multiplexer enforces, how it runs effects, and who must forget it. */
export interface ConnectionSite {
  readonly limits: Pick<ConnectionLimits, "maxInFlight" | "maxBadFrames" | "badFrameWindowMs">
  readonly run: <A>(effect: Effect.Effect<A>) => Fiber.Fiber<A>
  readonly keepalive: Keepalive
  readonly clock: () => number
  /** The listener's live connections; absent for a dialled connection. */
  readonly connections: Set<RequestMultiplexer> | undefined
}

/** A streaming request of the peer's we serve: the credit it granted and the fiber sending its items. */
interface OutgoingStream {
  readonly credit: Credit
  fiber: Fiber.Fiber<void> | undefined
}

/** Handlers in place until `accept`/`connect`'s callback has returned real ones. */
const detached: Handlers = {
  onMessage: () => {},
  serve: (invoke) => Effect.succeed(failureOf(invoke.id, crankError("UNAVAILABLE", "the connection is not accepting requests yet"))),
  onClose: () => {},
}

/** One connection of a message transport, either side, less its wire. */
export abstract class RequestMultiplexer<S extends ConnectionSite = ConnectionSite> implements Connection {
  abstract readonly id: string
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
  /** The peer's streaming requests we serve, by id. */
  readonly streamsOut = new Map<string, OutgoingStream>()
  badFrames = 0
  badWindowStart = 0

  constructor(
    readonly remoteAddress: string,
    readonly site: S,
  ) {}

  /**
   * Writes one encoded frame to the peer, or says why the wire refuses it (the frame is then not sent). `what` names
   * the frame for that error, followed by `id` when there is one: `("the request", "7")` is "the request 7".
   */
  abstract write(text: string, what: string, id: string | undefined): CrankError | undefined

  /** Ends the wire once the multiplexer has answered everything: `initiate` when this end starts the close. */
  protected abstract closeWire(info: CloseInfo, initiate: boolean): void

  abstract readonly close: (info?: CloseInfo) => Effect.Effect<void>

  /** The keepalive's ping (see `keepalive.ts`). */
  abstract ping(): void

  /** The keepalive found the peer silent, or the wire found it gone. */
  abstract lost(reason: string): void

  /** Open, and able to take a new request; a wire that knows the peer has begun closing says no sooner. */
  protected writable(): boolean {
    return this.state === OPEN
  }

  protected hasHandlers(): boolean {
    return this.handlers !== detached
  }

  /** Installs the handlers `accept` or `connect` produced; if the connection closed meanwhile, they hear of it. */
  adopt(handlers: Handlers): void {
    this.handlers = handlers
    if (this.closeInfo !== undefined) this.notifyClosed(this.closeInfo)
  }

  readonly isOpen = (): boolean => this.state === OPEN

  readonly send = (message: ControlMessage): Effect.Effect<void, CrankError> =>
    Effect.suspend(() => {
      if (!this.writable()) return Effect.fail(crankError("UNAVAILABLE", this.closedMessage()))
      let text: string
      try {
        text = encodeFrame(message)
      } catch (error) {
        return Effect.fail(crankError("INTERNAL", `cannot encode ${message._tag} as JSON: ${messageOf(error)}`))
      }
      const refused = this.write(text, message._tag, undefined)
      return refused === undefined ? Effect.void : Effect.fail(refused)
    })

  readonly call = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.callback<Reply>((resume) => {
      const id = invoke.id
      if (!this.writable()) return resume(Effect.succeed(failureOf(id, crankError("UNAVAILABLE", this.closedMessage()))))
      if (this.pending.has(id)) {
        return resume(Effect.succeed(failureOf(id, crankError("INTERNAL", `request id ${id} is already in flight on ${this.id}`))))
      }
      let text: string
      try {
        text = encodeFrame(invoke)
      } catch (error) {
        return resume(Effect.succeed(failureOf(id, crankError("INVALID_INPUT", `input cannot be encoded as JSON: ${messageOf(error)}`))))
      }
      // Registered before the write: a peer in this process may answer before the write returns.
      this.pending.set(id, resume)
      const refused = this.write(text, "the request", id)
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
        if (!this.writable()) return crankError("UNAVAILABLE", this.closedMessage())
        if (this.pending.has(id) || this.streamsIn.has(id)) return crankError("INTERNAL", `request id ${id} is already in flight on ${this.id}`)
        let text: string
        try {
          text = encodeFrame(request)
        } catch (error) {
          return crankError("INVALID_INPUT", `input cannot be encoded as JSON: ${messageOf(error)}`)
        }
        this.streamsIn.set(id, sink)
        const refused = this.write(text, "the streaming request", id)
        if (refused !== undefined) this.streamsIn.delete(id)
        return refused
      },
      grant: (credit) => {
        if (this.state === OPEN && this.streamsIn.has(id)) this.write(encodeFrame({ _tag: "StreamCredit", id, credit }), "StreamCredit", undefined)
      },
      cancel: () => {
        if (this.streamsIn.delete(id) && this.state === OPEN) this.write(cancelFrame(id), "Cancel", undefined)
      },
    })
  }

  /** The caller was interrupted: forget its entry and tell the peer to stop working on it. */
  private abandonCall(id: string, resume: (reply: Effect.Effect<Reply>) => void): void {
    if (this.pending.get(id) !== resume) return
    this.pending.delete(id)
    if (this.state === OPEN) this.write(cancelFrame(id), "Cancel", undefined)
  }

  /** One decoded frame from the peer, while the connection is open. */
  protected dispatch(frame: Envelope | BadFrame): void {
    switch (frame._tag) {
      case "BadFrame":
        return this.badFrame(frame.message, frame.tag, frame.id)
      case "Invoke":
        return frame.stream === undefined ? this.serve(frame) : this.serveStream(frame, frame.stream)
      case "Result":
        return this.settle(frame)
      case "Failure":
        // A failure with an id answers one of our requests (or a cancelled one: dropped); without, it is the
        // peer's complaint about a frame of ours, for the actor to hear.
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
    const entry: OutgoingStream = { credit: new Credit(window), fiber: undefined }
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
          if (this.state === OPEN) this.write(encodeFrame({ _tag: "StreamEnd", id, count }), "StreamEnd", undefined)
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
   * Sends stream items, in order: as one chunk when the wire takes it, else halved until each part is taken. An item
   * refused alone stops there: the items before it have gone, and the stream fails.
   */
  private writeChunk(id: string, items: ReadonlyArray<unknown>): CrankError | undefined {
    let text: string
    try {
      text = encodeFrame({ _tag: "StreamChunk", id, items })
    } catch (error) {
      return crankError("INVALID_OUTPUT", `a stream item cannot be encoded as JSON: ${messageOf(error)}`)
    }
    const refused = items.length === 1 ? this.write(text, "an item of stream", id) : this.write(text, "StreamChunk", undefined)
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

  /** Sends a reply; one the wire refuses goes as a failure with the wire's error in its place. */
  private answer(reply: Reply): void {
    if (this.state !== OPEN) return
    const id = reply.id as string
    let text: string
    try {
      text = encodeFrame(reply)
    } catch (error) {
      text = encodeFrame(failureOf(id, crankError("INVALID_OUTPUT", `output cannot be encoded as JSON: ${messageOf(error)}`)))
    }
    const refused = this.write(text, "the reply to", id)
    if (refused !== undefined) this.write(encodeFrame(failureOf(id, refused)), "Failure", undefined)
  }

  /** A frame that did not decode (`message` says why; `tag` and `id` are what could be read of it). */
  protected badFrame(message: string, tag: string | undefined, id: string | undefined): void {
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
    this.write(badFrameReply(message, isReply ? undefined : id), "Failure", undefined)
  }

  /**
   * Ends the connection once: answers every waiting caller `UNAVAILABLE`, interrupts every handler and producer in
   * service, ends the wire (`closeWire`, told whether this end `initiate`s) and tells the actor.
   */
  shutdown(info: CloseInfo, initiate: boolean): void {
    if (this.state === CLOSED) return
    this.state = CLOSED
    this.closeInfo = info
    this.site.keepalive.delete(this)
    this.site.connections?.delete(this)
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
    this.closeWire(info, initiate)
    if (this.handlers !== detached) this.notifyClosed(info)
  }

  private notifyClosed(info: CloseInfo): void {
    try {
      this.handlers.onClose(info)
    } catch (error) {
      this.site.run(Effect.logError(`${this.id}: onClose threw`, error))
    }
  }

  protected closedMessage(): string {
    const info = this.closeInfo
    return info === undefined
      ? `connection ${this.id} to ${this.remoteAddress} is closed`
      : `connection ${this.id} to ${this.remoteAddress} closed (${info.code} ${info.reason})`
  }
}
