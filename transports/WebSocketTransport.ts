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
 * Close codes follow RFC 6455 and every close has a human reason; `onClose` is called once per connection.
 * A listener closing its scope closes its connections with 1001 and then its HTTP server.
 *
 * `wss://` is mutual TLS with the mesh's CA (`wsTls.ts`): a listener asks every client for a certificate and a
 * dialer checks the server's; each connection's `peer` is the identity the other end proved. Every peer refused
 * (in the TLS handshake, by its certificate, or an upgrade from a browser page of another origin, `originPolicy.ts`)
 * is reported once to `onRefusal` with a reason, and reaches neither `accept` nor the `http` handler. `renew()`
 * gives TLS listeners the certificate `credentials()` now returns; open connections keep theirs.
 *
 * The files, one concern each as in ws's lib/: this one listens (an `http.Server` of its own, so plain HTTP
 * pages can share the port through a listener's `http` handler) and dials; `wsConnection.ts` is one connection's protocol;
 * `frameCodec.ts` the frames; `keepalive.ts` the ping timer; `limits.ts` the defaults; `wsTls.ts` and `caPin.ts`
 * who may connect over TLS; `originPolicy.ts` which browser pages may. Effects (handlers,
 * logs) are run from ws's plain callbacks with the services captured when `listen` or `connect` ran.
 */

import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import { createSecureContext, type SecureContextOptions, type TLSSocket } from "node:tls"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import WebSocket, { WebSocketServer } from "ws"
import { messageOf } from "../capabilities/CrankError.ts"
import { urlOf } from "./address.ts"
import { Keepalive } from "./keepalive.ts"
import { limitsWith, type WebSocketLimits } from "./limits.ts"
import { makeOriginPolicy, normalizeOrigins, type OriginPolicy } from "./originPolicy.ts"
import { CloseCodes, type Connection, type Handlers, type HttpHandler, type Listener, Transport, TransportError } from "./Transport.ts"
import { type Site, type Socket, WsConnection } from "./wsConnection.ts"
import {
  admit,
  dialRefusal,
  dialTls,
  listenerRefusal,
  listenerTlsOptions,
  peerOfSocket,
  type Refusal,
  remoteOfTlsSocket,
  secureContextOptions,
  type WebSocketTlsOptions,
} from "./wsTls.ts"

export { caFingerprintOf } from "./caPin.ts"
export { defaultLimits, type WebSocketLimits } from "./limits.ts"
export { type Credentials, peerOfRequest, type RefusalReason, type WebSocketTlsOptions } from "./wsTls.ts"

export interface WebSocketTransportOptions extends Partial<WebSocketLimits> {
  /**
   * Mutual TLS with the mesh's CA for `wss://` (see `WebSocketTlsOptions`): needed to listen on `wss://`. A dialer
   * without it trusts Node's root CAs, presents no certificate, and its connections have no `peer`.
   */
  readonly tls?: WebSocketTlsOptions
  /**
   * Browser origins allowed to open a WebSocket (e.g. "http://127.0.0.1:7070"). An upgrade carrying an `Origin`
   * header not in this list (and not the listener's own origin) is refused with HTTP 403 and a reason. Requests
   * with no Origin (non-browser clients) are not affected. Default: only the listener's own origin.
   */
  readonly allowedOrigins?: ReadonlyArray<string>
  /**
   * Called once per refused peer with a reason (`RefusalReason`: "not-signed-by-ca", "expired", "no-certificate",
   * "handshake-failed", "unexpected-server", "origin"...), where it came from and a sentence, so the owner can log
   * and count it. A listener reports the clients it refused; a dialer the servers it refused.
   */
  readonly onRefusal?: (reason: string, remoteAddress: string, detail: string) => void
}

export interface WebSocketTransport extends Transport {
  /** The limits in force: the defaults with this transport's overrides. */
  readonly limits: WebSocketLimits
  /**
   * Reads `tls.credentials()` again and gives every `wss://` listener of this transport that certificate for the
   * handshakes to come (`server.setSecureContext`); open connections keep going. Dials read `credentials()` each
   * time and need no renewal. Credentials that are missing or do not make a TLS context (a key that is not the
   * certificate's) are logged as an error and change nothing: the listeners keep their current certificate.
   */
  readonly renew: () => Effect.Effect<void>
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
  const url = urlOf(address, ["ws", "wss"])
  if (url instanceof TransportError) return url
  const scheme = url.protocol.slice(0, -1) as "ws" | "wss"
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  const port = url.port === "" ? (scheme === "wss" ? 443 : 80) : Number(url.port)
  return { scheme, host, urlHost: url.hostname, port, path: url.pathname }
}

function ignore(): void {}

function readRemoteAddress(socket: { readonly remoteAddress?: string | undefined }): void {
  void socket.remoteAddress
}

const urlHostOf = (ip: string | undefined): string => (ip === undefined ? "unknown" : ip.includes(":") ? `[${ip}]` : ip)

const rejectUpgrade = (socket: { write(data: string): unknown; destroy(): unknown }, status: string, reason = ""): void => {
  const body = reason === "" ? "" : `${reason}\n`
  socket.write(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
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
  const allowedOrigins = normalizeOrigins(options.allowedOrigins)
  const onRefusal = options.onRefusal
  /** The `wss://` listeners open now: what `renew` updates. */
  const tlsListeners = new Set<ListenerState>()

  const listen: Transport["listen"] = (address, accept, listenOptions) =>
    Effect.acquireRelease(
      Effect.flatMap(Effect.context<never>(), (context) => {
        const parsed = parseAddress(address)
        if (parsed instanceof TransportError) return Effect.fail(parsed)
        if (parsed.scheme === "wss" && tls === undefined) {
          return Effect.fail(
            new TransportError({ reason: "ListenFailed", address, message: `listening on wss:// needs the transport's tls option (credentials)` }),
          )
        }
        return Effect.callback<ListenerState, TransportError>((resume) => {
          const run = Effect.runForkWith(context)
          const state = new ListenerState(
            parsed,
            accept,
            { limits, run, keepalive, clock: clockOf(context), connections: new Set() },
            { tls, allowedOrigins, report: reporter(onRefusal, run) },
          )
          state.start(listenOptions?.http ?? refuseHttp, (error) => {
            if (error === undefined && parsed.scheme === "wss") tlsListeners.add(state)
            resume(
              error === undefined
                ? Effect.succeed(state)
                : Effect.fail(
                    new TransportError({
                      reason: "ListenFailed",
                      address,
                      message:
                        (error as NodeJS.ErrnoException).code === "EADDRINUSE" ? `address in use: ${address}` : `cannot listen on ${address}: ${error.message}`,
                    }),
                  ),
            )
          })
        })
      }),
      (state) =>
        Effect.andThen(
          Effect.sync(() => tlsListeners.delete(state)),
          state.close,
        ),
    )

  const connect: Transport["connect"] = (address, handlers) =>
    Effect.acquireRelease(
      Effect.flatMap(Effect.context<never>(), (context) => {
        const parsed = parseAddress(address)
        if (parsed instanceof TransportError) return Effect.fail(parsed)
        const run = Effect.runForkWith(context)
        const site: Site = { limits, run, keepalive, clock: clockOf(context), connections: undefined }
        return dial(address, parsed, site, parsed.scheme === "wss" ? tls : undefined, reporter(onRefusal, run), handlers)
      }),
      (connection) => connection.close({ code: CloseCodes.normal, reason: "client scope closed" }),
      { interruptible: true },
    )

  const renew = (): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (tls === undefined || tlsListeners.size === 0) return Effect.void
      const credentials = tls.credentials()
      if (credentials === undefined) return Effect.logError("renew: the tls option has no credentials; the wss:// listeners keep their certificate")
      const contextOptions = secureContextOptions(credentials)
      try {
        // Made once here so that bad credentials change nothing, rather than failing half-way through the listeners.
        createSecureContext(contextOptions)
      } catch (error) {
        return Effect.logError(`renew: the new credentials do not make a TLS context (${messageOf(error)}); the wss:// listeners keep their certificate`)
      }
      for (const listener of tlsListeners) listener.renew(contextOptions)
      return Effect.void
    })

  return { schemes: ["ws", "wss"], limits, listen, connect, renew }
}

/** How a listener or a dial reports a refused peer: to `onRefusal`, whose failures are logged and go no further. */
type Report = (refusal: Refusal, remoteAddress: string) => void

const reporter =
  (onRefusal: WebSocketTransportOptions["onRefusal"], run: Site["run"]): Report =>
  (refusal, remoteAddress) => {
    if (onRefusal === undefined) return
    try {
      onRefusal(refusal.reason, remoteAddress, refusal.message)
    } catch (error) {
      run(Effect.logError(`onRefusal threw on a ${refusal.reason} refusal of ${remoteAddress}`, error))
    }
  }

/** A WebSocket transport as the `Transport` service. */
export const layer = (options: WebSocketTransportOptions = {}): Layer.Layer<Transport> => Layer.sync(Transport, () => make(options))

/** Time for the bad-frame window: Effect's `Clock` of the scope that listened or dialled (a `TestClock` in tests). */
const clockOf = (context: Context.Context<never>): (() => number) => {
  const clock = Context.get(context, Clock.Clock)
  return () => clock.currentTimeMillisUnsafe()
}

/** Who may connect to a listener, besides its path: TLS, browser origins, and where refusals go. */
interface ListenerEdge {
  readonly tls: WebSocketTlsOptions | undefined
  readonly allowedOrigins: ReadonlyArray<string>
  readonly report: Report
}

/** A listening HTTP(S) server with its WebSocket connections. */
class ListenerState implements Listener {
  address = ""
  private server: http.Server | undefined = undefined
  private closing = false
  private readonly wss: WebSocketServer
  private origins: OriginPolicy | undefined = undefined

  constructor(
    private readonly parsed: ParsedAddress,
    private readonly accept: (connection: Connection) => Handlers,
    private readonly site: Site & { readonly connections: Set<WsConnection> },
    private readonly edge: ListenerEdge,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: site.limits.maxPayload,
      skipUTF8Validation: true,
      clientTracking: false,
      perMessageDeflate: false,
    })
  }

  start(httpHandler: HttpHandler, done: (error?: Error) => void): void {
    const handshake = this.site.limits.handshakeTimeoutMs
    const serverOptions: http.ServerOptions = {
      // The upgrade request is headers only: a socket that has not sent them in time is dropped.
      headersTimeout: handshake,
      requestTimeout: handshake,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(handshake / 4))),
    }
    let server: http.Server
    if (this.parsed.scheme === "wss") {
      const tls = this.edge.tls as WebSocketTlsOptions
      const credentials = tls.credentials()
      if (credentials === undefined) return done(new Error("the tls option has no credentials (key and certificate) to listen with"))
      const allowAnonymous = tls.allowAnonymous === true
      try {
        server = https.createServer({ ...listenerTlsOptions(credentials, allowAnonymous, handshake), ...serverOptions })
      } catch (error) {
        return done(new Error(`the credentials do not make a TLS context: ${messageOf(error)}`))
      }
      // Read the client's address while its TCP socket is open: node keeps it (`_peername`) for a refusal to name.
      server.on("connection", readRemoteAddress)
      server.on("tlsClientError", this.onTlsClientError)
      // Before http's own listener: a refused socket never reaches a parser, so no handler ever sees its bytes.
      server.prependListener("secureConnection", (socket: TLSSocket) => {
        const refusal = admit(socket, allowAnonymous)
        if (refusal === undefined) return
        this.edge.report(refusal, this.remoteOf(socket.remoteAddress, socket.remotePort))
        socket.destroy()
      })
    } else {
      server = http.createServer(serverOptions)
    }
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
      this.origins = makeOriginPolicy(this.edge.allowedOrigins, this.parsed.scheme, this.parsed.host, port)
      done()
    })
  }

  /** The handshakes to come use `options` (a renewed certificate); connections already open keep theirs. */
  renew(options: SecureContextOptions): void {
    ;(this.server as https.Server | undefined)?.setSecureContext(options)
  }

  private remoteOf(ip: string | undefined, port: number | undefined): string {
    return `${this.parsed.scheme}://${urlHostOf(ip)}:${port ?? 0}`
  }

  private readonly onTlsClientError = (error: Error, socket: TLSSocket): void => {
    const { ip, port } = remoteOfTlsSocket(socket)
    this.edge.report(listenerRefusal(error, socket), this.remoteOf(ip, port))
    socket.destroy()
  }

  private readonly onUpgrade = (request: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.closing) return rejectUpgrade(socket, "503 Service Unavailable")
    const path = (request.url ?? "/").split("?", 1)[0]
    if (path !== this.parsed.path) return rejectUpgrade(socket, "404 Not Found")
    const remote = this.remoteOf(request.socket.remoteAddress, request.socket.remotePort)
    const foreign = this.origins?.refusal(request.headers.origin)
    if (foreign !== undefined) {
      this.edge.report({ reason: "origin", message: foreign }, remote)
      return rejectUpgrade(socket, "403 Forbidden", foreign)
    }
    const peer = peerOfSocket(request.socket)
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      // The upgrade finished after the listener began closing: it would hold the server open.
      if (this.closing) return ws.terminate()
      const connection = new WsConnection(ws as Socket, remote, this.site, peer)
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
          // Idle keep-alive HTTP connections (from `http` handler pages) would hold `close` open.
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
  tls: WebSocketTlsOptions | undefined,
  report: Report,
  makeHandlers: (connection: Connection) => Handlers,
): Effect.Effect<WsConnection, TransportError> =>
  Effect.callback<WsConnection, TransportError>((resume) => {
    const limits = site.limits
    const secure = tls === undefined ? undefined : dialTls(tls)
    if (typeof secure === "string")
      return resume(Effect.fail(new TransportError({ reason: "ConnectFailed", address, message: `cannot dial ${address}: ${secure}` })))
    const socket = new WebSocket(`${parsed.scheme}://${parsed.urlHost}:${parsed.port}${parsed.path}`, {
      maxPayload: limits.maxPayload,
      handshakeTimeout: limits.handshakeTimeoutMs,
      skipUTF8Validation: true,
      perMessageDeflate: false,
      ...secure?.options,
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
      const connection = new WsConnection(socket, address, site, secure?.peer())
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
    const onError = (error: Error & { code?: string }): void => {
      const refusal = secure === undefined ? undefined : dialRefusal(error)
      if (refusal === undefined) return fail(`cannot connect to ${address}: ${error.code === undefined ? "" : `${error.code} `}${error.message}`.trimEnd())
      if (!settled) report(refusal, address)
      fail(`refused the server at ${address} (${refusal.reason}): ${refusal.message}`)
    }
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
