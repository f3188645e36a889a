/**
 * The WebSocket transport: the conformance suite over IPv4 and IPv6 loopback, then what only a network
 * transport has: keepalive, handshake and connect timeouts, paths, plain HTTP on the same port, JSON's edges,
 * close frames' limits. TLS (`wss://`) is in WebSocketTransport.tls.test.ts.
 */
import * as net from "node:net"
import { Effect, Logger, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import WebSocket from "ws"
import type { ControlMessage, Heartbeat } from "../../transports/Envelope.ts"
import { type Handlers, TransportError } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { eventually } from "../support/poll.ts"
import { invoke, Peer, transportConformance } from "./conformance.ts"

transportConformance(
  "WebSocketTransport over 127.0.0.1",
  () => WebSocketTransport.make(),
  () => "ws://127.0.0.1:0/mesh",
)
transportConformance(
  "WebSocketTransport over [::1]",
  () => WebSocketTransport.make(),
  () => "ws://[::1]:0",
)

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

/** Waits for a promise inside an effect (raw sockets and fetch live outside Effect). */
const awaitPromise = <A>(make: () => Promise<A>): Effect.Effect<A> => Effect.promise(make)

const portOf = (address: string): number => Number(new URL(address).port)

/** A raw `ws` client, kept open until the scope closes. */
const rawClient = (address: string, options: WebSocket.ClientOptions = {}) =>
  Effect.acquireRelease(
    awaitPromise(
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(address, options)
          socket.once("open", () => resolve(socket))
          socket.once("error", reject)
        }),
    ),
    (socket) => Effect.sync(() => socket.terminate()),
  )

const heartbeat = (seq: number): Heartbeat => ({ _tag: "Heartbeat", workerId: "w", seq, inFlight: 0, completed: 0 })

describe("WebSocketTransport", () => {
  it("drops a peer that stops answering pings, with 1006 and a reason", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const listener = yield* WebSocketTransport.make({ pingIntervalMs: 20 }).listen("ws://127.0.0.1:0", server.handlers)
        const socket = yield* rawClient(listener.address, { autoPong: false })
        let closed: number | undefined
        socket.on("close", (code) => (closed = code))
        yield* eventually("the silent peer to be dropped", () => server.closes.length === 1 && closed !== undefined)
        expect(server.closes[0]).toEqual({ code: 1006, reason: "no pong from the peer within 20 ms" })
        expect(closed).toBe(1006)
      }),
    ))

  it("keeps a peer that answers its pings", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const transport = WebSocketTransport.make({ pingIntervalMs: 10 })
        const listener = yield* transport.listen("ws://127.0.0.1:0", server.handlers)
        const client = new Peer()
        const connection = yield* transport.connect(listener.address, client.handlers)
        const socket = yield* rawClient(listener.address)
        let pings = 0
        socket.on("ping", () => pings++)
        yield* eventually("five keepalive rounds", () => pings >= 5)
        expect(socket.readyState).toBe(WebSocket.OPEN)
        expect(connection.isOpen()).toBe(true)
        expect(server.closes).toEqual([])
      }),
    ))

  it("refuses an upgrade to another path, and connect says why", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        const listener = yield* transport.listen("ws://127.0.0.1:0/mesh", new Peer().handlers)
        expect(listener.address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mesh$/)
        const error = yield* Effect.flip(transport.connect(listener.address.replace("/mesh", "/other"), new Peer().handlers))
        expect(error.reason).toBe("ConnectFailed")
        expect(error.message).toMatch(/HTTP 404/)
      }),
    ))

  it("serves plain HTTP on a listener's port through its http handler, and 426 without one", () =>
    run(
      Effect.gen(function* () {
        const withPages = WebSocketTransport.make()
        const listener = yield* withPages.listen("ws://127.0.0.1:0/mesh", new Peer().handlers, {
          http: (request, response) => {
            response.writeHead(200, { "Content-Type": "text/plain" })
            response.end(`page ${request.url}`)
          },
        })
        const port = portOf(listener.address)
        const page = yield* awaitPromise(() => fetch(`http://127.0.0.1:${port}/health`))
        expect(page.status).toBe(200)
        expect(yield* awaitPromise(() => page.text())).toBe("page /health")
        // The same port still takes WebSocket connections.
        const connection = yield* withPages.connect(listener.address, new Peer().handlers)
        expect(yield* connection.call(invoke("h", "test.echo", 1))).toEqual({ _tag: "Result", id: "h", output: 1 })

        const plain = yield* WebSocketTransport.make().listen("ws://127.0.0.1:0", new Peer().handlers)
        const refused = yield* awaitPromise(() => fetch(`http://127.0.0.1:${portOf(plain.address)}/`))
        expect(refused.status).toBe(426)
        yield* awaitPromise(() => refused.text())
      }),
    ))

  it("drops a socket that never finishes its HTTP upgrade within handshakeTimeoutMs", () =>
    run(
      Effect.gen(function* () {
        const listener = yield* WebSocketTransport.make({ handshakeTimeoutMs: 100 }).listen("ws://127.0.0.1:0", new Peer().handlers)
        let closed = false
        const socket = net.connect(portOf(listener.address), "127.0.0.1")
        socket.on("close", () => (closed = true))
        socket.on("error", () => {})
        // Read (and discard) the 408 so that the server's end of the stream is seen.
        socket.resume()
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
        yield* eventually("the listener to drop the silent socket", () => closed, { timeoutMs: 3_000 })
      }),
    ))

  it("fails connect with ConnectFailed when the upgrade does not come within connectTimeoutMs", () =>
    run(
      Effect.gen(function* () {
        // A TCP server that accepts and never answers.
        const sockets = new Set<net.Socket>()
        const silent = net.createServer((socket) => void sockets.add(socket))
        yield* Effect.acquireRelease(
          awaitPromise(() => new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))),
          () =>
            awaitPromise(
              () =>
                new Promise<void>((resolve) => {
                  for (const socket of sockets) socket.destroy()
                  silent.close(() => resolve())
                }),
            ),
        )
        const port = (silent.address() as net.AddressInfo).port
        const started = Date.now()
        const error = yield* Effect.flip(WebSocketTransport.make({ connectTimeoutMs: 150 }).connect(`ws://127.0.0.1:${port}`, new Peer().handlers))
        expect(error.reason).toBe("ConnectFailed")
        expect(error.message).toMatch(/within 150 ms/)
        expect(Date.now() - started).toBeLessThan(2_000)
      }),
    ))

  it("refuses more requests in service than maxInFlight with OVERLOADED", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make({ maxInFlight: 2 })
        const server = new Peer()
        const listener = yield* transport.listen("ws://127.0.0.1:0", server.handlers)
        const connection = yield* transport.connect(listener.address, new Peer().handlers)
        yield* Effect.forkChild(connection.call(invoke("a", "test.hang")), { startImmediately: true })
        yield* Effect.forkChild(connection.call(invoke("b", "test.hang")), { startImmediately: true })
        yield* eventually("two requests in service", () => server.started.size === 2)
        expect(yield* connection.call(invoke("c", "test.echo"))).toMatchObject({ _tag: "Failure", id: "c", code: "OVERLOADED", retriable: true })
      }),
    ))

  it("carries undefined as null and an infinite timeout as a finite one", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        let seenTimeout = 0
        const listener = yield* transport.listen("ws://127.0.0.1:0", () => ({
          onMessage: () => {},
          onClose: () => {},
          serve: (request) => {
            seenTimeout = request.timeoutMs
            return Effect.succeed({ _tag: "Result", id: request.id, output: request.input === null ? undefined : "not null" })
          },
        }))
        const connection = yield* transport.connect(listener.address, new Peer().handlers)
        const reply = yield* connection.call({ ...invoke("u", "test.echo"), input: undefined, timeoutMs: Infinity })
        expect(reply).toEqual({ _tag: "Result", id: "u", output: null })
        expect(seenTimeout).toBe(Number.MAX_SAFE_INTEGER)
      }),
    ))

  it("answers a call whose input is not JSON with INVALID_INPUT, without sending it", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        const server = new Peer()
        const listener = yield* transport.listen("ws://127.0.0.1:0", server.handlers)
        const connection = yield* transport.connect(listener.address, new Peer().handlers)
        const reply = yield* connection.call(invoke("big", "test.hang", { n: 1n }))
        expect(reply).toMatchObject({ _tag: "Failure", id: "big", code: "INVALID_INPUT" })
        expect(server.started.size).toBe(0)
        expect(connection.isOpen()).toBe(true)
      }),
    ))

  it("keeps a connection when the actor's onMessage throws", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        const received: Array<ControlMessage> = []
        const handlers = (): Handlers => ({
          onMessage: (message) => {
            received.push(message)
            if ((message as Heartbeat).seq === 0) throw new Error("actor bug")
          },
          serve: (request) => Effect.succeed({ _tag: "Result", id: request.id, output: null }),
          onClose: () => {},
        })
        const listener = yield* transport.listen("ws://127.0.0.1:0", handlers)
        const connection = yield* transport.connect(listener.address, new Peer().handlers)
        yield* connection.send(heartbeat(0))
        yield* connection.send(heartbeat(1))
        yield* eventually("both messages", () => received.length === 2)
        expect(connection.isOpen()).toBe(true)
      }).pipe(Effect.provide(Logger.layer([]))),
    ))

  it("cuts a long close reason to the 123 bytes a close frame holds", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        const server = new Peer()
        const client = new Peer()
        const listener = yield* transport.listen("ws://127.0.0.1:0", server.handlers)
        const connection = yield* transport.connect(listener.address, client.handlers)
        const reason = "é".repeat(200)
        yield* connection.close({ code: 4000, reason })
        yield* eventually("the server to see the close", () => server.closes.length === 1)
        expect(client.closes).toEqual([{ code: 4000, reason }])
        expect(server.closes[0]!.code).toBe(4000)
        expect(Buffer.byteLength(server.closes[0]!.reason)).toBeLessThanOrEqual(123)
        expect(reason.startsWith(server.closes[0]!.reason.slice(0, -1))).toBe(true)
      }),
    ))

  it("drops the socket for a code no close frame can carry; the peer sees 1006", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        const server = new Peer()
        const listener = yield* transport.listen("ws://127.0.0.1:0", server.handlers)
        const connection = yield* transport.connect(listener.address, new Peer().handlers)
        yield* connection.close({ code: 1006, reason: "simulated loss" })
        yield* eventually("the server to see the loss", () => server.closes.length === 1)
        expect(server.closes[0]!.code).toBe(1006)
      }),
    ))

  it("refuses addresses that are not ws:// or wss://", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        for (const address of ["http://127.0.0.1:0", "memory://x", "not a url"]) {
          const listenError = yield* Effect.flip(transport.listen(address, new Peer().handlers))
          expect(listenError).toBeInstanceOf(TransportError)
          expect(listenError.reason).toBe("UnsupportedAddress")
          expect((yield* Effect.flip(transport.connect(address, new Peer().handlers))).reason).toBe("UnsupportedAddress")
        }
      }),
    ))
})
