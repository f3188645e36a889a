/**
 * One WebSocket connection of the WebSocket transport, either side: the request/response multiplexer and the
 * frame handling behind a `Connection`.
 *
 * Outgoing: `call` registers the caller under its `Invoke.id` and writes the frame; an interrupted caller
 * sends `Cancel`. Incoming: each `Invoke` runs its handler in a fiber of its own (tracked by id, so `Cancel`
 * and close can interrupt it) and its reply is written back; `Result`/`Failure` settle a waiting caller;
 * other envelopes go to the actor's `onMessage` in order. Undecodable frames are answered `BAD_FRAME`, and a
 * connection that sends too many within a window is closed with 1008. On close, from either side and for
 * whatever reason, every waiting caller is answered `UNAVAILABLE`, every handler is interrupted and
 * `onClose` is called once. Streaming requests use the shared halves of `streams.ts`: `stream` is the caller's
 * (items in `StreamChunk`s, credit back in `StreamCredit`s), an `Invoke` with `stream` the serving side's.
 *
 * Hot path, as in ws: the socket's listeners are module-level functions that find their connection through a
 * symbol on the socket (no closures per connection or frame), and writes made in one tick leave together.
 *
 * @internal Built by `WebSocketTransport.ts`; actors only see the `Connection` interface.
 */
import { isUtf8 } from "node:buffer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Stream from "effect/Stream"
import WebSocket from "ws"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import type { Identity } from "../trust/identity.ts"
import { type ControlMessage, errorOf, type Failure, failureOf, type Invoke, type Reply } from "./Envelope.ts"
import { badFrameReply, cancelFrame, decodeFrame, encodeFrame } from "./frameCodec.ts"
import { defectReply, replyOfExit } from "./handlerReply.ts"
import type { Keepalive } from "./keepalive.ts"
import type { WebSocketLimits } from "./limits.ts"
import { Credit, defaultStreamWindow, receive, type StreamSink, send } from "./streams.ts"
import { CloseCodes, type CloseInfo, type Connection, type Handlers } from "./Transport.ts"

let nextConnectionId = 0

const kConnection = Symbol("crank.connection")
export type Socket = WebSocket & { [kConnection]: WsConnection }

const OPEN = 0
const CLOSED = 1

/** Where a connection lives: its limits, how it runs effects, and who else must forget it when it closes. */
export interface Site {
  readonly limits: WebSocketLimits
  readonly run: <A>(effect: Effect.Effect<A>) => Fiber.Fiber<A>
  readonly keepalive: Keepalive
  readonly clock: () => number
  /** The listener's live connections; absent for a dialled connection. */
  readonly connections: Set<WsConnection> | undefined
}

/** Handlers in place until `accept`/`connect`'s callback has returned real ones. */
const detached: Handlers = {
  onMessage: () => {},
  serve: (invoke) => Effect.succeed(failureOf(invoke.id, crankError("UNAVAILABLE", "the connection is not accepting requests yet"))),
  onClose: () => {},
}

/** ws errors that carry their own close code (ws has already sent it); everything else is a lost socket. */
const closeCodeOfError = (code: string | undefined): number => {
  switch (code) {
    case "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH":
      return CloseCodes.messageTooBig
    case "WS_ERR_INVALID_UTF8":
      return 1007
    default:
      return code?.startsWith("WS_ERR_") ? CloseCodes.protocolError : CloseCodes.abnormal
  }
}

/** The same test ws applies before it lets a code into a close frame. */
const isSendableCloseCode = (code: number): boolean =>
  (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)

/** A close frame's reason is at most 123 bytes; ws throws on a longer one, so cut it on a character boundary. */
const closeReason = (reason: string): string => {
  if (Buffer.byteLength(reason) <= 123) return reason
  let cut = reason.slice(0, 120)
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1)
  return `${cut}…`
}

const describeCloseCode = (code: number): string => {
  switch (code) {
    case 1000:
      return "closed"
    case 1001:
      return "going away"
    case 1005:
      return "closed without a status code"
    case 1006:
      return "connection lost without a closing handshake"
    default:
      return `closed with code ${code}`
  }
}

/** One WebSocket connection, either side. */
export class WsConnection implements Connection {
  readonly id = `ws-${++nextConnectionId}`
  handlers: Handlers = detached
  state = OPEN
  /** Cleared at each keepalive tick, set by the peer's pong (see `keepalive.ts`). */
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
  socketClosed = false
  /** True while frames written in this tick are held back, to leave as one `writev` when the tick ends. */
  corked = false
  private closeWaiters: Array<() => void> | undefined = undefined
  private terminateTimer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    readonly socket: Socket,
    readonly remoteAddress: string,
    readonly site: Site,
    /** Who the other end proved to be with its certificate (`wss://`); undefined otherwise. */
    readonly peer: Identity | undefined = undefined,
  ) {}

  /** Starts receiving: from here on the socket's events reach this connection. */
  attach(): void {
    const socket = this.socket
    socket[kConnection] = this
    socket.on("message", onSocketMessage)
    socket.on("pong", onSocketPong)
    socket.on("close", onSocketClose)
    socket.on("error", onSocketError)
    this.site.connections?.add(this)
    this.site.keepalive.add(this)
  }

  /** Installs the handlers `accept` or `connect` produced; if the connection closed meanwhile, they hear of it. */
  adopt(handlers: Handlers): void {
    this.handlers = handlers
    if (this.closeInfo !== undefined) this.notifyClosed(this.closeInfo)
  }

  readonly isOpen = (): boolean => this.state === OPEN

  /**
   * Open, and the peer has not begun closing: ws would drop a frame written after the peer's close frame
   * without a word, so such a write fails here instead.
   */
  private writable(): boolean {
    return this.state === OPEN && this.socket.readyState === WebSocket.OPEN
  }

  readonly send = (message: ControlMessage): Effect.Effect<void, CrankError> =>
    Effect.suspend(() => {
      if (!this.writable()) return Effect.fail(crankError("UNAVAILABLE", this.closedMessage()))
      let text: string
      try {
        text = encodeFrame(message)
      } catch (error) {
        return Effect.fail(crankError("INTERNAL", `cannot encode ${message._tag} as JSON: ${messageOf(error)}`))
      }
      this.write(text)
      return Effect.void
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
      this.pending.set(id, resume)
      this.write(text)
      return Effect.sync(() => this.abandon(id, resume))
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
        this.write(text)
        return undefined
      },
      grant: (credit) => {
        if (this.state === OPEN && this.streamsIn.has(id)) this.write(encodeFrame({ _tag: "StreamCredit", id, credit }))
      },
      cancel: () => {
        if (this.streamsIn.delete(id) && this.state === OPEN) this.write(cancelFrame(id))
      },
    })
  }

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> =>
    Effect.suspend(() => {
      this.shutdown(info, true)
      return this.awaitSocketClosed
    })

  /**
   * Writes one text frame. The first write in a tick corks the TCP socket and the end of the tick uncorks it,
   * so a burst of frames (the answers to a batch of requests that arrived in one chunk, the calls of many
   * fibers resumed together) costs one system call instead of one each.
   */
  write(text: string): void {
    if (!this.corked) {
      // ws keeps its net.Socket in `_socket` (null until the upgrade); ws itself corks around each frame only.
      const tcp = (this.socket as unknown as { _socket?: { cork(): void } | null })._socket
      if (tcp != null) {
        this.corked = true
        tcp.cork()
        process.nextTick(uncork, this)
      }
    }
    this.socket.send(text)
  }

  /** The caller was interrupted: forget its entry and tell the peer to stop working on it. */
  private abandon(id: string, resume: (reply: Effect.Effect<Reply>) => void): void {
    if (this.pending.get(id) !== resume) return
    this.pending.delete(id)
    if (this.state === OPEN) this.write(cancelFrame(id))
  }

  /** One frame from the peer. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.state !== OPEN) return
    if (isBinary) return this.badFrame("binary frames are not accepted: send each envelope as a JSON text frame", undefined, undefined)
    // ws's own UTF-8 check is off (`skipUTF8Validation`) so that bad text is a bad frame, not a dropped connection.
    if (!isUtf8(data)) return this.badFrame("frame is not valid UTF-8 text", undefined, undefined)
    const frame = decodeFrame(data.toString())
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
          let text: string
          try {
            text = encodeFrame({ _tag: "StreamChunk", id, items: chunk })
          } catch (error) {
            finish()
            this.answer(failureOf(id, crankError("INVALID_OUTPUT", `a stream item cannot be encoded as JSON: ${messageOf(error)}`)))
            return entry.fiber?.interruptUnsafe()
          }
          this.write(text)
        },
        end: (count) => {
          if (!live()) return
          finish()
          if (this.state === OPEN) this.write(encodeFrame({ _tag: "StreamEnd", id, count }))
        },
        fail: (error) => {
          if (!live()) return
          finish()
          this.answer(failureOf(id, error))
        },
      }),
    )
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

  private answer(reply: Reply): void {
    if (this.state !== OPEN) return
    let text: string
    try {
      text = encodeFrame(reply)
    } catch (error) {
      text = encodeFrame(failureOf(reply.id as string, crankError("INVALID_OUTPUT", `output cannot be encoded as JSON: ${messageOf(error)}`)))
    }
    this.write(text)
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
    this.write(badFrameReply(message, isReply ? undefined : id))
  }

  /**
   * Ends the connection once: answers every waiting caller `UNAVAILABLE`, interrupts every handler in service,
   * and tells the actor. `initiate` sends the close frame (or, for a code a close frame cannot carry, drops the
   * socket); otherwise the socket is already closing.
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
    if (!this.socketClosed) {
      if (initiate && this.socket.readyState === WebSocket.OPEN && isSendableCloseCode(info.code)) {
        this.socket.close(info.code, closeReason(info.reason))
      } else if (initiate) {
        this.socket.terminate()
      }
      // ws would wait 30 s for the peer's half of the closing handshake; the limit here is ours.
      this.terminateTimer = setTimeout(terminateSocket, this.site.limits.closeTimeoutMs, this.socket)
      this.terminateTimer.unref()
    }
    if (this.handlers !== detached) this.notifyClosed(info)
  }

  private notifyClosed(info: CloseInfo): void {
    try {
      this.handlers.onClose(info)
    } catch (error) {
      this.site.run(Effect.logError(`${this.id}: onClose threw`, error))
    }
  }

  ping(): void {
    this.socket.ping()
  }

  /** The keepalive found the peer silent: drop the socket without a handshake. */
  lost(reason: string): void {
    this.shutdown({ code: CloseCodes.abnormal, reason }, false)
    this.socket.terminate()
  }

  socketClose(code: number, reason: Buffer): void {
    this.socketClosed = true
    if (this.terminateTimer !== undefined) clearTimeout(this.terminateTimer)
    this.shutdown({ code, reason: reason.length > 0 ? reason.toString() : describeCloseCode(code) }, false)
    const waiters = this.closeWaiters
    this.closeWaiters = undefined
    if (waiters !== undefined) for (const wake of waiters) wake()
  }

  socketError(error: Error & { code?: string }): void {
    const code = closeCodeOfError(error.code)
    const reason =
      code === CloseCodes.messageTooBig
        ? `a frame was larger than maxPayload (${this.site.limits.maxPayload} bytes)`
        : code === CloseCodes.abnormal
          ? `connection lost: ${error.code === undefined ? error.message : `${error.code} ${error.message}`}`
          : error.message
    this.shutdown({ code, reason }, false)
  }

  /** Succeeds once the socket is closed (bounded by `closeTimeoutMs`, after which it is terminated). */
  private readonly awaitSocketClosed: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.socketClosed) return resume(Effect.void)
    ;(this.closeWaiters ??= []).push(() => resume(Effect.void))
  })

  private closedMessage(): string {
    const info = this.closeInfo
    return info === undefined
      ? `connection ${this.id} to ${this.remoteAddress} is closed`
      : `connection ${this.id} to ${this.remoteAddress} closed (${info.code} ${info.reason})`
  }
}

function onSocketMessage(this: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
  ;(this as Socket)[kConnection].receive(data as Buffer, isBinary)
}

function onSocketPong(this: WebSocket): void {
  ;(this as Socket)[kConnection].alive = true
}

function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  ;(this as Socket)[kConnection].socketClose(code, reason)
}

function onSocketError(this: WebSocket, error: Error): void {
  ;(this as Socket)[kConnection].socketError(error)
}

function uncork(connection: WsConnection): void {
  connection.corked = false
  ;(connection.socket as unknown as { _socket?: { uncork(): void } | null })._socket?.uncork()
}

function terminateSocket(socket: WebSocket): void {
  socket.terminate()
}
