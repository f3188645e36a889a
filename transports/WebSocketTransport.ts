/**
 * The WebSocket transport: `ws://` and `wss://` connections between nodes, over the `ws` package.
 *
 * One connection per peer carries everything: one-way control messages in order, and any number of requests
 * multiplexed by `Invoke.id`. Each side may call the other. A request's caller waits on a pending entry keyed
 * by id; interrupting it sends `Cancel`, and the serving side interrupts that request's handler fiber. Every
 * request that was sent gets exactly one answer: its `Result`/`Failure`, or `UNAVAILABLE` when the connection
 * closes first. A handler that dies answers `INTERNAL` for that request only.
 *
 * Frames are JSON text (`frameCodec.ts` has the codec and the measurements behind it). A frame that does not
 * decode is answered with a `Failure` of code `BAD_FRAME` and the connection keeps serving; a peer that sends
 * more than `maxBadFrames` of them within `badFrameWindowMs` is closed with 1008. Those and the other limits
 * (frame size, handshake and close timeouts, keepalive, requests in service) are in `limits.ts`, on by default.
 *
 * Why the shape: as in ws itself, the per-frame path is module-level functions that find their connection
 * through a symbol on the socket, not closures per connection or per frame; Effects are run from ws's plain
 * callbacks with the services captured when the listener or connection was made.
 *
 * Close codes follow RFC 6455 and every close has a human reason; `onClose` is called once per connection.
 * A listener closing its scope closes its connections with 1001 and then its HTTP server.
 */
import { isUtf8 } from "node:buffer"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import type { SecureContextOptions } from "node:tls"
import { Effect, type Fiber } from "effect"
import WebSocket, { WebSocketServer } from "ws"
import { crankError, type CrankError } from "../capabilities/CrankError.ts"
import { type ControlMessage, failureOf, type Invoke, type Reply } from "./Envelope.ts"
import { badFrameReply, cancelFrame, decodeFrame, encodeFrame } from "./frameCodec.ts"
import { defectReply, replyOfExit } from "./handlerReply.ts"
import { limitsWith, type WebSocketLimits } from "./limits.ts"
import {
  CloseCodes,
  type CloseInfo,
  type Connection,
  type Handlers,
  type Listener,
  type Transport,
  TransportError,
} from "./Transport.ts"

export { defaultLimits, type WebSocketLimits } from "./limits.ts"

/** TLS material for `wss://`: the server's key and certificate, and for mutual TLS the CA and client cert. */
export interface TlsOptions extends SecureContextOptions {
  /** Server: ask clients for a certificate (mutual TLS). */
  readonly requestCert?: boolean
  /** Refuse peers whose certificate does not verify against `ca`. Default true, as in Node. */
  readonly rejectUnauthorized?: boolean
  /** Client: the name to verify the server's certificate against, when it differs from the host dialled. */
  readonly servername?: string
}

export interface WebSocketTransportOptions extends Partial<WebSocketLimits> {
  /** Needed to listen on `wss://`; used by `connect` for `wss://` (a client without it trusts Node's CAs). */
  readonly tls?: TlsOptions
  /**
   * Serves plain HTTP requests on the listeners' ports (a dashboard, a health check). Without it such a
   * request is answered `426 Upgrade Required`. WebSocket upgrades never reach it.
   */
  readonly httpHandler?: (request: http.IncomingMessage, response: http.ServerResponse) => void
}

export interface WebSocketTransport extends Transport {
  /** The limits in force: the defaults with this transport's overrides. */
  readonly limits: WebSocketLimits
}

let nextConnectionId = 0

const kConnection = Symbol("crank.connection")
type Socket = WebSocket & { [kConnection]: WsConnection }

const OPEN = 0
const CLOSED = 1

/** Where a connection lives: its limits, how it runs effects, and who else must forget it when it closes. */
interface Site {
  readonly limits: WebSocketLimits
  readonly run: <A>(effect: Effect.Effect<A>) => Fiber.Fiber<A>
  readonly keepalive: Keepalive
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
const closeCodeOfWsError: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCodes.messageTooBig,
  WS_ERR_INVALID_UTF8: 1007,
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

const messageOf = (u: unknown): string => (u instanceof Error ? u.message : String(u))

/** One WebSocket connection, either side. */
class WsConnection implements Connection {
  readonly id = `ws-${++nextConnectionId}`
  handlers: Handlers = detached
  state = OPEN
  /** Cleared at each keepalive tick, set by the peer's pong. */
  alive = true
  closeInfo: CloseInfo | undefined = undefined
  /** Callers waiting for their replies, by request id. */
  readonly pending = new Map<string, (reply: Effect.Effect<Reply>) => void>()
  /** Handlers running for the peer's requests, by request id. */
  readonly serving = new Map<string, Fiber.Fiber<Reply>>()
  badFrames = 0
  badWindowStart = 0
  socketClosed = false
  private closeWaiters: Array<() => void> | undefined = undefined
  private terminateTimer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    readonly socket: Socket,
    readonly remoteAddress: string,
    readonly site: Site,
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

  readonly send = (message: ControlMessage): Effect.Effect<void, CrankError> =>
    Effect.suspend(() => {
      if (this.state !== OPEN) return Effect.fail(crankError("UNAVAILABLE", this.closedMessage()))
      let text: string
      try {
        text = encodeFrame(message)
      } catch (error) {
        return Effect.fail(crankError("INTERNAL", `cannot encode ${message._tag} as JSON: ${messageOf(error)}`))
      }
      this.socket.send(text)
      return Effect.void
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
      this.pending.set(id, resume)
      this.socket.send(text)
      return Effect.sync(() => this.abandon(id, resume))
    })

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> =>
    Effect.suspend(() => {
      this.shutdown(info, true)
      return this.awaitSocketClosed
    })

  /** The caller was interrupted: forget its entry and tell the peer to stop working on it. */
  private abandon(id: string, resume: (reply: Effect.Effect<Reply>) => void): void {
    if (this.pending.get(id) !== resume) return
    this.pending.delete(id)
    if (this.state === OPEN) this.socket.send(cancelFrame(id))
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
        return this.serve(frame)
      case "Result":
        return this.settle(frame)
      case "Failure":
        // A failure with an id answers one of our requests (or a cancelled one: dropped); without, it is the
        // peer's complaint about a frame of ours, for the actor to hear.
        return frame.id === undefined ? this.deliver(frame) : this.settle(frame)
      case "Cancel": {
        const fiber = this.serving.get(frame.id)
        if (fiber === undefined) return
        this.serving.delete(frame.id)
        return fiber.interruptUnsafe()
      }
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
    const resume = this.pending.get(reply.id as string)
    if (resume === undefined) return
    this.pending.delete(reply.id as string)
    resume(Effect.succeed(reply))
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
    // runFork starts the handler synchronously: a handler that needs no I/O has answered before it returns.
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
    this.socket.send(text)
  }

  private badFrame(message: string, tag: string | undefined, id: string | undefined): void {
    const limits = this.site.limits
    const now = Date.now()
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
    const isReply = tag === "Result" || tag === "Failure" || tag === "Cancel"
    if (isReply && id !== undefined && tag !== "Cancel") {
      this.settle(failureOf(id, crankError("BAD_FRAME", `the reply could not be decoded: ${message}`)))
    }
    this.socket.send(badFrameReply(message, isReply ? undefined : id))
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
    for (const fiber of this.serving.values()) fiber.interruptUnsafe()
    this.serving.clear()
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
    const code = (error.code !== undefined ? closeCodeOfWsError[error.code] : undefined) ?? CloseCodes.abnormal
    const reason =
      code === CloseCodes.messageTooBig
        ? `a frame was larger than maxPayload (${this.site.limits.maxPayload} bytes)`
        : code === CloseCodes.abnormal
          ? `connection lost: ${error.code ?? ""} ${error.message}`.replace("  ", " ")
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

function terminateSocket(socket: WebSocket): void {
  socket.terminate()
}

function ignore(): void {}

/**
 * Pings every connection of one transport from a single timer (not a timer per connection: a controller may
 * hold thousands). A connection that has not answered the previous ping by the next tick is dropped.
 */
class Keepalive {
  private readonly members = new Set<WsConnection>()
  private timer: ReturnType<typeof setInterval> | undefined = undefined

  constructor(private readonly intervalMs: number) {}

  add(connection: WsConnection): void {
    if (this.intervalMs <= 0) return
    this.members.add(connection)
    if (this.timer === undefined) {
      this.timer = setInterval(this.tick, this.intervalMs)
      this.timer.unref()
    }
  }

  delete(connection: WsConnection): void {
    this.members.delete(connection)
    if (this.members.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  private readonly tick = (): void => {
    for (const connection of this.members) {
      if (!connection.alive) {
        connection.lost(`no pong from the peer within ${this.intervalMs} ms`)
      } else {
        connection.alive = false
        connection.socket.ping()
      }
    }
  }
}

interface ParsedAddress {
  readonly scheme: "ws" | "wss"
  /** For `listen`: brackets removed from an IPv6 literal. */
  readonly host: string
  /** For URLs: IPv6 literals keep their brackets. */
  readonly urlHost: string
  readonly port: number
  readonly path: string
}

const parseAddress = (address: string): ParsedAddress | TransportError => {
  let url: URL
  try {
    url = new URL(address)
  } catch {
    return new TransportError({ reason: "UnsupportedAddress", address, message: `not a URL: ${address}` })
  }
  const scheme = url.protocol.slice(0, -1)
  if (scheme !== "ws" && scheme !== "wss") {
    return new TransportError({ reason: "UnsupportedAddress", address, message: `not a ws:// or wss:// address: ${address}` })
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  const port = url.port === "" ? (scheme === "wss" ? 443 : 80) : Number(url.port)
  return { scheme, host, urlHost: url.hostname, port, path: url.pathname }
}

const urlHostOf = (ip: string | undefined): string => (ip === undefined ? "unknown" : ip.includes(":") ? `[${ip}]` : ip)

const rejectUpgrade = (socket: { write(data: string): unknown; destroy(): unknown }, status: string): void => {
  socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  socket.destroy()
}

const refuseHttp = (_request: http.IncomingMessage, response: http.ServerResponse): void => {
  response.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Upgrade: "websocket", Connection: "close" })
  response.end("This address speaks the Crank protocol over WebSocket.\n")
}

/**
 * Makes a WebSocket transport. Each call has its own limits, keepalive timer and TLS material; listeners and
 * connections are owned by the scopes `listen` and `connect` run in.
 *
 * @example
 * ```ts
 * const transport = WebSocketTransport.make({ pingIntervalMs: 5_000 })
 * const listener = yield* transport.listen("ws://127.0.0.1:0/mesh", (conn) => handlers)
 * const conn = yield* transport.connect(listener.address, (conn) => clientHandlers)
 * const reply = yield* conn.call(invoke)
 * ```
 */
export const make = (options: WebSocketTransportOptions = {}): WebSocketTransport => {
  const limits = limitsWith(options)
  const keepalive = new Keepalive(limits.pingIntervalMs)
  const tls = options.tls
  const httpHandler = options.httpHandler ?? refuseHttp

  const listen: Transport["listen"] = (address, accept) =>
    Effect.acquireRelease(
      Effect.flatMap(Effect.context<never>(), (context) => {
        const parsed = parseAddress(address)
        if (parsed instanceof TransportError) return Effect.fail(parsed)
        if (parsed.scheme === "wss" && tls === undefined) {
          return Effect.fail(new TransportError({ reason: "ListenFailed", address, message: `listening on wss:// needs the transport's tls option (key and cert)` }))
        }
        return Effect.callback<ListenerState, TransportError>((resume) => {
          const state = new ListenerState(parsed, accept, {
            limits,
            run: Effect.runForkWith(context),
            keepalive,
            connections: new Set(),
          })
          state.start(tls, httpHandler, (error) =>
            resume(
              error === undefined
                ? Effect.succeed(state)
                : Effect.fail(
                    new TransportError({
                      reason: "ListenFailed",
                      address,
                      message: (error as NodeJS.ErrnoException).code === "EADDRINUSE" ? `address in use: ${address}` : `cannot listen on ${address}: ${error.message}`,
                    }),
                  ),
            ),
          )
        })
      }),
      (state) => state.close,
    )

  const connect: Transport["connect"] = (address, handlers) =>
    Effect.acquireRelease(
      Effect.flatMap(Effect.context<never>(), (context) => {
        const parsed = parseAddress(address)
        if (parsed instanceof TransportError) return Effect.fail(parsed)
        const site: Site = { limits, run: Effect.runForkWith(context), keepalive, connections: undefined }
        return dial(address, parsed, site, tls, handlers)
      }),
      (connection) => connection.close({ code: CloseCodes.normal, reason: "client scope closed" }),
      { interruptible: true },
    )

  return { schemes: ["ws", "wss"], limits, listen, connect }
}

/** A listening HTTP server with its WebSocket connections. */
class ListenerState implements Listener {
  address = ""
  private server: http.Server | undefined = undefined
  private closing = false
  private readonly wss: WebSocketServer

  constructor(
    private readonly parsed: ParsedAddress,
    private readonly accept: (connection: Connection) => Handlers,
    private readonly site: Site & { readonly connections: Set<WsConnection> },
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: site.limits.maxPayload,
      skipUTF8Validation: true,
      clientTracking: false,
      perMessageDeflate: false,
    })
  }

  start(tls: TlsOptions | undefined, httpHandler: WebSocketTransportOptions["httpHandler"] & {}, done: (error?: Error) => void): void {
    const handshake = this.site.limits.handshakeTimeoutMs
    const serverOptions: http.ServerOptions = {
      // The upgrade request is headers only: a socket that has not sent them in time is dropped.
      headersTimeout: handshake,
      requestTimeout: handshake,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(handshake / 4))),
    }
    const server = this.parsed.scheme === "wss" ? https.createServer({ ...tls, ...serverOptions }) : http.createServer(serverOptions)
    this.server = server
    server.on("request", httpHandler)
    server.on("upgrade", this.onUpgrade)
    const onListenError = (error: Error) => done(error)
    server.once("error", onListenError)
    server.listen({ host: this.parsed.host, port: this.parsed.port }, () => {
      server.removeListener("error", onListenError)
      server.on("error", (error) => this.site.run(Effect.logError(`listener ${this.address}: server error`, error)))
      const { port } = server.address() as AddressInfo
      const path = this.parsed.path === "/" ? "" : this.parsed.path
      this.address = `${this.parsed.scheme}://${this.parsed.urlHost}:${port}${path}`
      done()
    })
  }

  private readonly onUpgrade = (request: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.closing) return rejectUpgrade(socket, "503 Service Unavailable")
    const path = (request.url ?? "/").split("?", 1)[0]
    if (path !== this.parsed.path) return rejectUpgrade(socket, "404 Not Found")
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const remote = `${this.parsed.scheme}://${urlHostOf(request.socket.remoteAddress)}:${request.socket.remotePort ?? 0}`
      const connection = new WsConnection(ws as Socket, remote, this.site)
      connection.attach()
      let handlers: Handlers
      try {
        handlers = this.accept(connection)
      } catch (error) {
        this.site.run(Effect.logError(`listener ${this.address}: accept threw; the connection is closed`, error))
        return connection.shutdown({ code: CloseCodes.internalError, reason: "the listener could not accept the connection" }, true)
      }
      connection.adopt(handlers)
    })
  }

  /** Stops accepting, closes every connection with 1001, then the server. */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.closing = true
    const server = this.server
    const connections = [...this.site.connections]
    for (const connection of connections) connection.shutdown({ code: CloseCodes.goingAway, reason: "listener closed" }, true)
    return Effect.forEach(connections, (connection) => connection.close(), { discard: true, concurrency: "unbounded" }).pipe(
      Effect.andThen(
        Effect.callback<void>((resume) => {
          if (server === undefined || !server.listening) return resume(Effect.void)
          server.close(() => resume(Effect.void))
          // Idle keep-alive HTTP connections (from `httpHandler` pages) would hold `close` open.
          server.closeAllConnections()
        }),
      ),
    )
  })
}

/** Dials `address`; fails with `ConnectFailed` on refusal, a failed upgrade or `connectTimeoutMs`. */
const dial = (
  address: string,
  parsed: ParsedAddress,
  site: Site,
  tls: TlsOptions | undefined,
  makeHandlers: (connection: Connection) => Handlers,
): Effect.Effect<WsConnection, TransportError> =>
  Effect.callback<WsConnection, TransportError>((resume) => {
    const limits = site.limits
    const socket = new WebSocket(`${parsed.scheme}://${parsed.urlHost}:${parsed.port}${parsed.path}`, {
      maxPayload: limits.maxPayload,
      handshakeTimeout: limits.handshakeTimeoutMs,
      skipUTF8Validation: true,
      perMessageDeflate: false,
      ...(parsed.scheme === "wss" && tls !== undefined ? tls : {}),
    }) as Socket
    let settled = false
    const finish = (): void => {
      settled = true
      clearTimeout(timer)
      socket.removeListener("open", onOpen)
      socket.removeListener("error", onError)
      socket.removeListener("close", onClose)
      socket.removeListener("unexpected-response", onUnexpected)
    }
    const fail = (message: string): void => {
      if (settled) return
      finish()
      // ws may still report the aborted handshake; nobody listens for it any more.
      socket.on("error", ignore)
      socket.terminate()
      resume(Effect.fail(new TransportError({ reason: "ConnectFailed", address, message })))
    }
    const onOpen = (): void => {
      if (settled) return
      finish()
      const connection = new WsConnection(socket, address, site)
      connection.attach()
      let handlers: Handlers
      try {
        handlers = makeHandlers(connection)
      } catch (error) {
        connection.shutdown({ code: CloseCodes.internalError, reason: "the client's handlers could not be made" }, true)
        return resume(Effect.fail(new TransportError({ reason: "ConnectFailed", address, message: `making handlers threw: ${messageOf(error)}` })))
      }
      connection.adopt(handlers)
      resume(Effect.succeed(connection))
    }
    const onError = (error: Error & { code?: string }): void =>
      fail(`cannot connect to ${address}: ${error.code === undefined ? "" : `${error.code} `}${error.message}`.trimEnd())
    const onClose = (code: number): void => fail(`${address} closed the connection during the handshake (${code})`)
    const onUnexpected = (_request: http.ClientRequest, response: http.IncomingMessage): void =>
      fail(`${address} answered HTTP ${response.statusCode ?? "?"} instead of upgrading to WebSocket`)
    const timer = setTimeout(() => fail(`no connection to ${address} within ${limits.connectTimeoutMs} ms`), limits.connectTimeoutMs)
    socket.on("open", onOpen)
    socket.on("error", onError)
    socket.on("close", onClose)
    socket.on("unexpected-response", onUnexpected)
    return Effect.sync(() => fail("connect was interrupted"))
  })

