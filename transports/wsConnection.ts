/**
 * One WebSocket connection of the WebSocket transport, either side: the request/response multiplexer of
 * `requestMultiplexer.ts` over a `ws` socket.
 *
 * This file is the socket's part: text frames in (binary and invalid UTF-8 are bad frames), frames out (corked per
 * tick), the closing handshake (a close frame when its code can carry one, else the socket dropped; terminated if
 * the peer does not finish within `closeTimeoutMs`), ws's errors as close codes, and pings. Everything about
 * requests, streams, bad frames and answering what is pending on close is the multiplexer's.
 *
 * Hot path, as in ws: the socket's listeners are module-level functions that find their connection through a
 * symbol on the socket (no closures per connection or frame), and writes made in one tick leave together.
 *
 * @internal Built by `WebSocketTransport.ts`; actors only see the `Connection` interface.
 */
import { isUtf8 } from "node:buffer"
import * as Effect from "effect/Effect"
import WebSocket from "ws"
import type { Identity } from "../trust/identity.ts"
import { decodeFrame } from "./frameCodec.ts"
import type { WebSocketLimits } from "./limits.ts"
import { type ConnectionSite, OPEN, RequestMultiplexer } from "./requestMultiplexer.ts"
import { CloseCodes, type CloseInfo } from "./Transport.ts"

let nextConnectionId = 0

const kConnection = Symbol("crank.connection")
export type Socket = WebSocket & { [kConnection]: WsConnection }

/** Where a connection lives: its limits, how it runs effects, and who else must forget it when it closes. */
export interface Site extends ConnectionSite {
  readonly limits: WebSocketLimits
  /** The listener's live connections; absent for a dialled connection. */
  readonly connections: Set<WsConnection> | undefined
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
export class WsConnection extends RequestMultiplexer<Site> {
  readonly id = `ws-${++nextConnectionId}`
  socketClosed = false
  /** True while frames written in this tick are held back, to leave as one `writev` when the tick ends. */
  corked = false
  private closeWaiters: Array<() => void> | undefined = undefined
  private terminateTimer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    readonly socket: Socket,
    remoteAddress: string,
    site: Site,
    /** Who the other end proved to be with its certificate (`wss://`); undefined otherwise. */
    readonly peer: Identity | undefined = undefined,
  ) {
    super(remoteAddress, site)
  }

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

  /**
   * Open, and the peer has not begun closing: ws would drop a frame written after the peer's close frame
   * without a word, so such a write fails here instead.
   */
  protected override writable(): boolean {
    return this.state === OPEN && this.socket.readyState === WebSocket.OPEN
  }

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> =>
    Effect.suspend(() => {
      this.shutdown(info, true)
      return this.awaitSocketClosed
    })

  /**
   * Writes one text frame; a socket never refuses one (a frame over the peer's `maxPayload` closes the connection
   * 1009 instead). The first write in a tick corks the TCP socket and the end of the tick uncorks it, so a burst of
   * frames (the answers to a batch of requests that arrived in one chunk, the calls of many fibers resumed
   * together) costs one system call instead of one each.
   */
  override write(text: string): undefined {
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
    return undefined
  }

  /** One frame from the peer. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.state !== OPEN) return
    if (isBinary) return this.badFrame("binary frames are not accepted: send each envelope as a JSON text frame", undefined, undefined)
    // ws's own UTF-8 check is off (`skipUTF8Validation`) so that bad text is a bad frame, not a dropped connection.
    if (!isUtf8(data)) return this.badFrame("frame is not valid UTF-8 text", undefined, undefined)
    this.dispatch(decodeFrame(data.toString()))
  }

  /**
   * The socket's part of closing. `initiate` sends the close frame (or, for a code a close frame cannot carry,
   * drops the socket); otherwise the socket is already closing.
   */
  protected override closeWire(info: CloseInfo, initiate: boolean): void {
    if (this.socketClosed) return
    if (initiate && this.socket.readyState === WebSocket.OPEN && isSendableCloseCode(info.code)) {
      this.socket.close(info.code, closeReason(info.reason))
    } else if (initiate) {
      this.socket.terminate()
    }
    // ws would wait 30 s for the peer's half of the closing handshake; the limit here is ours.
    this.terminateTimer = setTimeout(terminateSocket, this.site.limits.closeTimeoutMs, this.socket)
    this.terminateTimer.unref()
  }

  override ping(): void {
    this.socket.ping()
  }

  /** The keepalive found the peer silent: drop the socket without a handshake. */
  override lost(reason: string): void {
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
