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
 * Requests, streams, bad frames and answering what is pending on close are the multiplexer of
 * `requestMultiplexer.ts`, the one the WebSocket connection (`wsConnection.ts`) is built on: this file is the pair of
 * subjects, the control frames, the frames that come before the handshake finishes, and the size check.
 *
 * What NATS adds: every message must fit the server's `max_payload`. `write` refuses a frame that does not with
 * `LIMIT_EXCEEDED`, and the multiplexer fails only what it belongs to: the `Invoke` of a call or stream (its caller
 * gets the failure at once), a reply (its caller gets the failure instead), a one-way `send`; a stream chunk too
 * large is split, and only an item that alone is too large fails its stream. The NATS server would otherwise drop
 * the whole client connection.
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
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import { decodeFrame } from "./frameCodec.ts"
import { isNoResponders, type NatsClient } from "./natsClient.ts"
import type { NatsLimits } from "./natsLimits.ts"
import { closeControl, closeHeaders, controlHeader, decodeClose, encodeClose, pingControl, pingHeaders } from "./natsProtocol.ts"
import { CLOSED, type ConnectionSite, OPEN, RequestMultiplexer } from "./requestMultiplexer.ts"
import { CloseCodes, type CloseInfo, type Handlers } from "./Transport.ts"

let nextConnectionId = 0

/** Where a connection lives: its limits, its NATS client, how it runs effects, and who else must forget it. */
export interface NatsSite extends ConnectionSite {
  readonly limits: NatsLimits
  readonly client: NatsClient
  /** The listener's live connections; absent for a dialled connection. */
  readonly connections: Set<NatsConnection> | undefined
}

const tooLarge = (what: string, bytes: number, max: number): CrankError =>
  crankError("LIMIT_EXCEEDED", `${what} is ${bytes} bytes, over the NATS server's max_payload of ${max} bytes`)

/** One NATS connection, either side. */
export class NatsConnection extends RequestMultiplexer<NatsSite> {
  readonly id = `nats-${++nextConnectionId}`
  /** The peer's subject: unknown on the dialling side until the listener has accepted. */
  peerSubject: string | undefined
  /** Frames that came before the handshake finished (the listener may send at once): replayed, in order, by `adopt`. */
  private early: Array<Msg> | undefined = []
  private subscription: Subscription | undefined = undefined

  constructor(
    /** The subject this end receives on. */
    readonly ownSubject: string,
    peerSubject: string | undefined,
    remoteAddress: string,
    site: NatsSite,
  ) {
    super(remoteAddress, site)
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
  override adopt(handlers: Handlers): void {
    super.adopt(handlers)
    if (this.closeInfo !== undefined) return
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

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (this.state === CLOSED) return Effect.void
      this.shutdown(info, true)
      // The Close frame has left when the server has it: after that, this end may go (and its client with it).
      return this.site.client.flushWithin(this.site.limits.closeTimeoutMs)
    })

  /**
   * Publishes one frame to the peer, or refuses it with `LIMIT_EXCEEDED` when it is larger than the server's
   * max_payload. A NATS client that refuses to publish at all (closed) drops the connection.
   */
  override write(text: string, what: string, id: string | undefined): CrankError | undefined {
    const bytes = Buffer.from(text)
    const max = this.site.client.maxPayload
    if (bytes.length > max) return tooLarge(id === undefined ? what : `${what} ${id}`, bytes.length, max)
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

  /** The subscription's callback: called by the NATS client for each message, in order. */
  private readonly onMessage = (error: Error | null, msg: Msg): void => {
    if (error !== null) {
      // A subscription fails only for a reason the server gave (permissions): the connection cannot receive.
      if (this.state === OPEN) this.shutdown({ code: CloseCodes.abnormal, reason: `the NATS subscription failed: ${error.message}` }, true)
      return
    }
    try {
      if (this.early !== undefined && !this.hasHandlers() && msg.headers?.get(controlHeader) !== pingControl) {
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
    this.dispatch(decodeFrame(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString()))
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

  /** The subjects' part of closing: `initiate` sends the peer a Close frame with `info` first; then stop receiving. */
  protected override closeWire(info: CloseInfo, initiate: boolean): void {
    this.site.client.connections.delete(this)
    if (initiate) this.publish(encodeClose(info.code, info.reason), closeHeaders)
    this.early = undefined
    this.unsubscribe()
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

  /** The keepalive's ping: a NATS request to the peer's subject, which the peer answers while it is open. */
  override ping(): void {
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
  override lost(reason: string): void {
    this.shutdown({ code: CloseCodes.abnormal, reason }, true)
  }

  /** Our NATS client lost the server: nothing can be sent, so the peer is not told (it loses us the same way). */
  dropped(reason: string): void {
    this.shutdown({ code: CloseCodes.abnormal, reason }, false)
  }
}
