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
 * The files, one concern each as in ws's lib/: this one listens (an `http.Server` of its own, so plain HTTP
 * pages can share the port through a listener's `http` handler) and dials; `wsConnection.ts` is one connection's protocol;
 * `frameCodec.ts` the frames; `keepalive.ts` the ping timer; `limits.ts` the defaults. Effects (handlers,
 * logs) are run from ws's plain callbacks with the services captured when `listen` or `connect` ran.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import type { SecureContextOptions } from "node:tls"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import WebSocket, { WebSocketServer } from "ws"
import { messageOf } from "../capabilities/CrankError.ts"
import { Keepalive } from "./keepalive.ts"
import { limitsWith, type WebSocketLimits } from "./limits.ts"
import { CloseCodes, type Connection, type Handlers, type HttpHandler, type Listener, Transport, TransportError } from "./Transport.ts"
import { type Site, type Socket, WsConnection } from "./wsConnection.ts"

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
}

export interface WebSocketTransport extends Transport {
  /** The limits in force: the defaults with this transport's overrides. */
  readonly limits: WebSocketLimits
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

function ignore(): void {}

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

  const listen: Transport["listen"] = (address, accept, listenOptions) =>
    Effect.acquireRelease(
      Effect.flatMap(Effect.context<never>(), (context) => {
        const parsed = parseAddress(address)
        if (parsed instanceof TransportError) return Effect.fail(parsed)
        if (parsed.scheme === "wss" && tls === undefined) {
          return Effect.fail(
            new TransportError({ reason: "ListenFailed", address, message: `listening on wss:// needs the transport's tls option (key and cert)` }),
          )
        }
        return Effect.callback<ListenerState, TransportError>((resume) => {
          const state = new ListenerState(parsed, accept, {
            limits,
            run: Effect.runForkWith(context),
            keepalive,
            clock: clockOf(context),
            connections: new Set(),
          })
          state.start(tls, listenOptions?.http ?? refuseHttp, (error) =>
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
        const site: Site = { limits, run: Effect.runForkWith(context), keepalive, clock: clockOf(context), connections: undefined }
        return dial(address, parsed, site, tls, handlers)
      }),
      (connection) => connection.close({ code: CloseCodes.normal, reason: "client scope closed" }),
      { interruptible: true },
    )

  return { schemes: ["ws", "wss"], limits, listen, connect }
}

/** A WebSocket transport as the `Transport` service. */
export const layer = (options: WebSocketTransportOptions = {}): Layer.Layer<Transport> => Layer.sync(Transport, () => make(options))

/** Time for the bad-frame window: Effect's `Clock` of the scope that listened or dialled (a `TestClock` in tests). */
const clockOf = (context: Context.Context<never>): (() => number) => {
  const clock = Context.get(context, Clock.Clock)
  return () => clock.currentTimeMillisUnsafe()
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

  start(tls: TlsOptions | undefined, httpHandler: HttpHandler, done: (error?: Error) => void): void {
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
      // The upgrade finished after the listener began closing: it would hold the server open.
      if (this.closing) return ws.terminate()
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
