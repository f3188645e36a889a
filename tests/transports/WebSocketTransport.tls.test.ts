/**
 * The WebSocket transport over mutual TLS (`wss://`) on 127.0.0.1, with certificates made by trust/'s CA: the whole
 * conformance suite, then what only TLS has: each connection's `peer`, the refusals (each reported once to
 * `onRefusal` with its reason, and no handler reached), anonymous bootstrap clients, the CA fingerprint pin, renewing
 * a listener's certificate, HTTP on the same port, and the frame limits and keepalive unchanged over TLS.
 */
import { X509Certificate } from "node:crypto"
import * as https from "node:https"
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect, Logger, type Scope } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import type { Connection, HttpHandler } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import type * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import type { Identity } from "../../trust/identity.ts"
import { type Credentials, wsClientOptions } from "../../trust/tlsOptions.ts"
import { eventually } from "../support/poll.ts"
import { invoke, Peer, transportConformance } from "./conformance.ts"
import { hoursAgo, issue, makeCa, selfSigned } from "./tlsFixtures.ts"

let ca: CertificateAuthority.CertificateAuthority
let otherCa: CertificateAuthority.CertificateAuthority
let controller: Credentials
let worker: Credentials

beforeAll(async () => {
  ca = await makeCa()
  otherCa = await makeCa()
  controller = await issue(ca, { role: "controller", id: "ctl" })
  worker = await issue(ca, { role: "worker", id: "w1" })
})

// One transport both listens and dials in the suite: a worker's certificate serves both ends (serverAuth + clientAuth).
transportConformance(
  "WebSocketTransport over wss://127.0.0.1 (mutual TLS)",
  () => WebSocketTransport.make({ tls: { credentials: () => worker } }),
  () => "wss://127.0.0.1:0/mesh",
)

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

interface Refused {
  readonly reason: string
  readonly remoteAddress: string
  readonly detail: string
}

/** Records what `onRefusal` hears. */
const refusals = () => {
  const heard: Refused[] = []
  return { heard, onRefusal: (reason: string, remoteAddress: string, detail: string) => void heard.push({ reason, remoteAddress, detail }) }
}

/** A controller-like listener: mutual TLS with `credentials`, a Peer, and an HTTP handler that counts its requests. */
const controllerListener = (options: Omit<WebSocketTransport.WebSocketTransportOptions, "onRefusal"> & { credentials?: () => Credentials } = {}) =>
  Effect.gen(function* () {
    const refused = refusals()
    const server = new Peer()
    const requests: Array<Identity | undefined> = []
    const http: HttpHandler = (request, response) => {
      requests.push(WebSocketTransport.peerOfRequest(request))
      response.end("page")
    }
    const transport = WebSocketTransport.make({
      ...options,
      tls: { credentials: options.credentials ?? (() => controller), ...options.tls },
      onRefusal: refused.onRefusal,
    })
    const listener = yield* transport.listen("wss://127.0.0.1:0/mesh", server.handlers, { http })
    return { transport, listener, server, requests, refused: refused.heard }
  })

const dialerWith = (tlsOptions: WebSocketTransport.WebSocketTlsOptions) => {
  const refused = refusals()
  return { transport: WebSocketTransport.make({ tls: tlsOptions, onRefusal: refused.onRefusal }), refused: refused.heard }
}

const portOf = (address: string): number => Number(new URL(address).port)

/** The serial number of the certificate the server at `port` presents now (a raw TLS handshake). */
const serverSerial = (port: number, credentials: Credentials): Effect.Effect<string> =>
  Effect.promise(
    () =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect({
          host: "127.0.0.1",
          port,
          key: credentials.privateKeyPem,
          cert: credentials.certificatePem,
          ca: [credentials.caCertificatePem],
          checkServerIdentity: () => undefined,
        })
        socket.once("secureConnect", () => {
          resolve(socket.getPeerCertificate().serialNumber)
          socket.destroy()
        })
        socket.once("error", reject)
      }),
  )

const serialOf = (certificatePem: string): string => new X509Certificate(certificatePem).serialNumber

describe("WebSocketTransport over mutual TLS", () => {
  it("gives each connection the identity its peer proved: the client's on the listener, the controller's on the dialer", () =>
    run(
      Effect.gen(function* () {
        const { listener, server, refused } = yield* controllerListener()
        const client = new Peer()
        const dialer = dialerWith({ credentials: () => worker, expectServer: { role: "controller" } })
        const connection = yield* dialer.transport.connect(listener.address, client.handlers)
        yield* eventually("the listener to accept", () => server.connections.length === 1)
        expect(connection.peer).toEqual({ role: "controller", id: "ctl" })
        expect(server.connections[0]!.peer).toEqual({ role: "worker", id: "w1" })
        expect(yield* connection.call(invoke("p", "test.echo", "over mTLS"))).toEqual({ _tag: "Result", id: "p", output: "over mTLS" })
        expect(yield* server.connections[0]!.call(invoke("q", "test.echo", "back"))).toEqual({ _tag: "Result", id: "q", output: "back" })
        expect(refused).toEqual([])
        expect(dialer.refused).toEqual([])
      }),
    ))

  it("has no peer on plain ws:// links", () =>
    run(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make({ tls: { credentials: () => worker } })
        const server = new Peer()
        const listener = yield* transport.listen("ws://127.0.0.1:0", server.handlers)
        const connection = yield* transport.connect(listener.address, new Peer().handlers)
        yield* eventually("the listener to accept", () => server.connections.length === 1)
        expect(connection.peer).toBeUndefined()
        expect(server.connections[0]!.peer).toBeUndefined()
      }),
    ))

  it("refuses in the handshake a client with no certificate, another CA's, a self-signed or an expired one, and plain ws://, each with its reason", () =>
    run(
      Effect.gen(function* () {
        const { listener, server, requests, refused } = yield* controllerListener()
        const foreign = yield* Effect.promise(() => issue(otherCa, { role: "worker", id: "w1" }, { trustedCa: ca }))
        const forged = yield* Effect.promise(() => selfSigned({ role: "worker", id: "w1" }, ca))
        const expired = yield* Effect.promise(() => issue(ca, { role: "worker", id: "w1" }, { now: hoursAgo(3) }))
        const clients: Array<readonly [string, WebSocketTransport.WebSocketTransport]> = [
          // A bootstrap client: no certificate, the server checked by the CA's fingerprint.
          ["no-certificate", dialerWith({ credentials: () => undefined, caFingerprint: WebSocketTransport.caFingerprintOf(ca.certificatePem) }).transport],
          ["not-signed-by-ca", dialerWith({ credentials: () => foreign }).transport],
          ["not-signed-by-ca", dialerWith({ credentials: () => forged }).transport],
          ["expired", dialerWith({ credentials: () => expired }).transport],
          ["handshake-failed", WebSocketTransport.make()],
        ]
        for (const [index, [, transport]] of clients.entries()) {
          const address = index === clients.length - 1 ? listener.address.replace("wss://", "ws://") : listener.address
          const error = yield* Effect.flip(transport.connect(address, new Peer().handlers))
          expect(error.reason).toBe("ConnectFailed")
          yield* eventually(`the listener to report refusal ${index + 1}`, () => refused.length === index + 1)
        }
        expect(refused.map((refusal) => refusal.reason)).toEqual(clients.map(([reason]) => reason))
        for (const refusal of refused) {
          expect(refusal.remoteAddress).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
          expect(refusal.detail).not.toBe("")
        }
        expect(server.connections).toEqual([])
        expect(requests).toEqual([])
      }),
    ))

  it("lets a dialer refuse a server that is not the peer it expects, or from another CA, with its reason", () =>
    run(
      Effect.gen(function* () {
        // A worker's listener, where a dialer expects the controller.
        const posing = yield* controllerListener({ credentials: () => worker })
        const dialer = dialerWith({ credentials: () => worker, expectServer: { role: "controller" } })
        const error = yield* Effect.flip(dialer.transport.connect(posing.listener.address, new Peer().handlers))
        expect(error.message).toMatch(/unexpected-server.*the server is worker w1, not a controller/)
        expect(dialer.refused).toEqual([
          { reason: "unexpected-server", remoteAddress: posing.listener.address, detail: "the server is worker w1, not a controller" },
        ])
        // Expecting that very worker (a direct link) is fine.
        const direct = yield* dialerWith({ credentials: () => controller, expectServer: { role: "worker", id: "w1" } }).transport.connect(
          posing.listener.address,
          new Peer().handlers,
        )
        expect(direct.peer).toEqual({ role: "worker", id: "w1" })

        const otherController = yield* Effect.promise(() => issue(otherCa, { role: "controller", id: "ctl" }))
        const otherMesh = yield* controllerListener({ credentials: () => otherController })
        const refusedForeign = yield* Effect.flip(dialer.transport.connect(otherMesh.listener.address, new Peer().handlers))
        expect(refusedForeign.reason).toBe("ConnectFailed")
        expect(dialer.refused.map((refusal) => refusal.reason)).toEqual(["unexpected-server", "not-signed-by-ca"])
        expect(posing.server.connections).toHaveLength(1)
        expect(otherMesh.server.connections).toEqual([])
      }),
    ))

  it("with allowAnonymous, admits a client without a certificate (no peer) and still refuses bad certificates", () =>
    run(
      Effect.gen(function* () {
        const { listener, server, refused, requests } = yield* controllerListener({ tls: { credentials: () => controller, allowAnonymous: true } })
        const pin = WebSocketTransport.caFingerprintOf(ca.certificatePem)
        const newcomer = dialerWith({ credentials: () => undefined, caFingerprint: pin, expectServer: { role: "controller" } })
        const connection = yield* newcomer.transport.connect(listener.address, new Peer().handlers)
        yield* eventually("the listener to accept", () => server.connections.length === 1)
        expect(server.connections[0]!.peer).toBeUndefined()
        expect(connection.peer).toEqual({ role: "controller", id: "ctl" })
        expect(yield* connection.call(invoke("a", "test.echo", "first"))).toEqual({ _tag: "Result", id: "a", output: "first" })
        // A worker with a good certificate is still known by it.
        const known = yield* dialerWith({ credentials: () => worker }).transport.connect(listener.address, new Peer().handlers)
        expect(known.peer).toEqual({ role: "controller", id: "ctl" })
        yield* eventually("the listener to accept the worker", () => server.connections.length === 2)
        expect(server.connections[1]!.peer).toEqual({ role: "worker", id: "w1" })

        const foreign = yield* Effect.promise(() => issue(otherCa, { role: "worker", id: "w1" }, { trustedCa: ca }))
        const forged = yield* Effect.promise(() => selfSigned({ role: "worker", id: "w1" }, ca))
        const expired = yield* Effect.promise(() => issue(ca, { role: "worker", id: "w1" }, { now: hoursAgo(3) }))
        for (const credentials of [foreign, forged, expired]) {
          const error = yield* Effect.flip(dialerWith({ credentials: () => credentials }).transport.connect(listener.address, new Peer().handlers))
          expect(error.reason).toBe("ConnectFailed")
        }
        yield* eventually("three refusals", () => refused.length === 3)
        expect(refused.map((refusal) => refusal.reason)).toEqual(["not-signed-by-ca", "not-signed-by-ca", "expired"])
        expect(server.connections).toHaveLength(2)
        expect(requests).toEqual([])
      }),
    ))

  it("pins a bootstrap dial to the CA fingerprint: the right CA is accepted, a server of another CA refused", () =>
    run(
      Effect.gen(function* () {
        const ours = yield* controllerListener({ tls: { credentials: () => controller, allowAnonymous: true } })
        const otherController = yield* Effect.promise(() => issue(otherCa, { role: "controller", id: "ctl" }))
        const theirs = yield* controllerListener({ tls: { credentials: () => otherController, allowAnonymous: true } })
        const pin = WebSocketTransport.caFingerprintOf(ca.certificatePem)
        expect(pin).toMatch(/^sha256:[0-9a-f]{64}$/)
        const newcomer = dialerWith({ credentials: () => undefined, caFingerprint: pin, expectServer: { role: "controller" } })
        const connection = yield* newcomer.transport.connect(ours.listener.address, new Peer().handlers)
        expect(connection.peer).toEqual({ role: "controller", id: "ctl" })

        const error = yield* Effect.flip(newcomer.transport.connect(theirs.listener.address, new Peer().handlers))
        expect(error.message).toMatch(/ca-fingerprint-mismatch/)
        expect(newcomer.refused.map((refusal) => refusal.reason)).toEqual(["ca-fingerprint-mismatch"])
        expect(theirs.server.connections).toEqual([])

        // The pinned CA, but a worker where the controller was expected.
        const workerListener = yield* controllerListener({ tls: { credentials: () => worker, allowAnonymous: true } })
        yield* Effect.flip(newcomer.transport.connect(workerListener.listener.address, new Peer().handlers))
        expect(newcomer.refused.map((refusal) => refusal.reason)).toEqual(["ca-fingerprint-mismatch", "unexpected-server"])
        expect(workerListener.server.connections).toEqual([])

        // A malformed pin, and no pin and no certificate at all: nothing to trust the server by, so no dial.
        const malformed = yield* Effect.flip(
          dialerWith({ credentials: () => undefined, caFingerprint: "sha256:abc" }).transport.connect(ours.listener.address, new Peer().handlers),
        )
        expect(malformed.message).toMatch(/not sha256:<64 hex digits>/)
        const blind = yield* Effect.flip(dialerWith({ credentials: () => undefined }).transport.connect(ours.listener.address, new Peer().handlers))
        expect(blind.message).toMatch(/needs credentials, or the CA fingerprint/)
      }),
    ))

  it("renew() gives new dials the listener's new certificate while an open connection keeps serving", () =>
    run(
      Effect.gen(function* () {
        let current = controller
        const { transport, listener, server } = yield* controllerListener({ credentials: () => current })
        const open = yield* dialerWith({ credentials: () => worker, expectServer: { role: "controller" } }).transport.connect(
          listener.address,
          new Peer().handlers,
        )
        const port = portOf(listener.address)
        expect(yield* serverSerial(port, worker)).toBe(serialOf(controller.certificatePem).toUpperCase())

        const renewed = yield* Effect.promise(() => issue(ca, { role: "controller", id: "ctl" }))
        current = renewed
        yield* transport.renew()
        expect(yield* serverSerial(port, worker)).toBe(serialOf(renewed.certificatePem).toUpperCase())
        expect(serialOf(renewed.certificatePem)).not.toBe(serialOf(controller.certificatePem))
        expect(yield* open.call(invoke("o", "test.echo", "still here"))).toEqual({ _tag: "Result", id: "o", output: "still here" })
        const fresh = yield* dialerWith({ credentials: () => worker, expectServer: { role: "controller" } }).transport.connect(
          listener.address,
          new Peer().handlers,
        )
        expect(yield* fresh.call(invoke("f", "test.echo", "new"))).toEqual({ _tag: "Result", id: "f", output: "new" })
        expect(server.connections).toHaveLength(2)

        // Credentials that do not go together (another key) change nothing: the renewed certificate stays.
        current = { ...renewed, privateKeyPem: controller.privateKeyPem }
        yield* transport.renew().pipe(Effect.provide(Logger.layer([])))
        expect(yield* serverSerial(port, worker)).toBe(serialOf(renewed.certificatePem).toUpperCase())
      }),
    ))

  it("serves the listener's HTTP handler over https to a client with a certificate, telling it who the client is", () =>
    run(
      Effect.gen(function* () {
        const { listener, requests, refused } = yield* controllerListener()
        const get = (options: https.RequestOptions) =>
          Effect.promise(
            () =>
              new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
                const request = https.get({ host: "127.0.0.1", port: portOf(listener.address), path: "/healthz", ...options }, (response) => {
                  let body = ""
                  response.setEncoding("utf8")
                  response.on("data", (chunk) => (body += chunk))
                  response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
                })
                request.on("error", (error) => resolve({ error: error.message }))
              }),
          )
        const tlsOptions = wsClientOptions(worker, { role: "controller" }) as https.RequestOptions
        expect(yield* get(tlsOptions)).toEqual({ status: 200, body: "page" })
        expect(requests).toEqual([{ role: "worker", id: "w1" }])
        const { key: _key, cert: _cert, ...withoutCertificate } = tlsOptions
        const anonymous = yield* get(withoutCertificate)
        expect(anonymous.status).toBeUndefined()
        yield* eventually("the refusal", () => refused.length === 1)
        expect(refused[0]!.reason).toBe("no-certificate")
        expect(requests).toHaveLength(1)
      }),
    ))

  it("fails to listen or dial on wss:// without credentials or with a key that is not the certificate's; a dialer trusting only the system's CAs refuses the mesh's server", () =>
    run(
      Effect.gen(function* () {
        const noTls = yield* Effect.flip(WebSocketTransport.make().listen("wss://127.0.0.1:0", new Peer().handlers))
        expect(noTls.reason).toBe("ListenFailed")
        const noCredentials = yield* Effect.flip(
          WebSocketTransport.make({ tls: { credentials: () => undefined } }).listen("wss://127.0.0.1:0", new Peer().handlers),
        )
        expect(noCredentials.reason).toBe("ListenFailed")
        expect(noCredentials.message).toMatch(/no credentials/)
        // A key that is not the certificate's: neither side gets going.
        const mismatched = { ...worker, privateKeyPem: controller.privateKeyPem }
        const badListen = yield* Effect.flip(
          WebSocketTransport.make({ tls: { credentials: () => mismatched } }).listen("wss://127.0.0.1:0", new Peer().handlers),
        )
        expect(badListen.message).toMatch(/do not make a TLS context/)
        const { listener, refused } = yield* controllerListener()
        const badDial = yield* Effect.flip(WebSocketTransport.make({ tls: { credentials: () => mismatched } }).connect(listener.address, new Peer().handlers))
        expect(badDial.reason).toBe("ConnectFailed")
        expect(badDial.message).toMatch(/do not make a TLS context/)
        expect(refused).toEqual([])
        const error = yield* Effect.flip(WebSocketTransport.make().connect(listener.address, new Peer().handlers))
        expect(error.reason).toBe("ConnectFailed")
        expect(error.message).toMatch(/self[- ]signed/i)
      }),
    ))
})

/** A raw `ws` client over TLS with a worker's certificate: frames written by hand. */
const rawTlsClient = (address: string, options: WebSocket.ClientOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ socket: WebSocket; frames: Array<Record<string, unknown>>; closed: { code?: number } }>((resolve, reject) => {
          const socket = new WebSocket(address, { ...wsClientOptions(worker, { role: "controller" }), ...options })
          const frames: Array<Record<string, unknown>> = []
          const closed: { code?: number } = {}
          socket.on("message", (data) => void frames.push(JSON.parse(String(data)) as Record<string, unknown>))
          socket.on("close", (code) => (closed.code = code))
          socket.once("open", () => resolve({ socket, frames, closed }))
          socket.once("error", reject)
        }),
    ),
    ({ socket }) => Effect.sync(() => socket.terminate()),
  )

describe("WebSocketTransport over mutual TLS: frames, limits and keepalive as over ws://", () => {
  it("answers a bad frame BAD_FRAME and keeps serving; closes a frame over maxPayload with 1009", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const transport = WebSocketTransport.make({ tls: { credentials: () => controller }, maxPayload: 1024 })
        const listener = yield* transport.listen("wss://127.0.0.1:0", server.handlers)
        const client = yield* rawTlsClient(listener.address)
        client.socket.send("{ not json")
        yield* eventually("the BAD_FRAME answer", () => client.frames.length === 1)
        expect(client.frames[0]).toMatchObject({ _tag: "Failure", code: "BAD_FRAME" })
        client.socket.send(JSON.stringify(invoke("g", "test.echo", "good")))
        yield* eventually("the answer", () => client.frames.length === 2)
        expect(client.frames[1]).toEqual({ _tag: "Result", id: "g", output: "good" })
        client.socket.send(JSON.stringify(invoke("big", "test.echo", "x".repeat(2048))))
        yield* eventually("the close", () => client.closed.code !== undefined)
        expect(client.closed.code).toBe(1009)
        yield* eventually("the listener's close", () => server.closes.length === 1)
        expect(server.closes[0]!.code).toBe(1009)
      }),
    ))

  it("drops a socket that never starts its TLS handshake within handshakeTimeoutMs, as a refusal", () =>
    run(
      Effect.gen(function* () {
        const refused = refusals()
        const listener = yield* WebSocketTransport.make({
          tls: { credentials: () => controller },
          handshakeTimeoutMs: 100,
          onRefusal: refused.onRefusal,
        }).listen("wss://127.0.0.1:0", new Peer().handlers)
        let closed = false
        const socket = net.connect(portOf(listener.address), "127.0.0.1")
        socket.on("close", () => (closed = true))
        socket.on("error", () => {})
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
        yield* eventually("the listener to drop the silent socket", () => closed && refused.heard.length === 1, { timeoutMs: 5_000 })
        expect(refused.heard[0]!.reason).toBe("handshake-failed")
      }),
    ))

  it("drops a peer that stops answering pings, with 1006 and a reason", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const listener = yield* WebSocketTransport.make({ tls: { credentials: () => controller }, pingIntervalMs: 20 }).listen(
          "wss://127.0.0.1:0",
          server.handlers,
        )
        const client = yield* rawTlsClient(listener.address, { autoPong: false })
        yield* eventually("the silent peer to be dropped", () => server.closes.length === 1 && client.closed.code !== undefined)
        expect(server.closes[0]).toEqual({ code: 1006, reason: "no pong from the peer within 20 ms" })
      }),
    ))

  it("keeps a connection's peer for its whole life, and tells each connection apart", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const listener = yield* WebSocketTransport.make({ tls: { credentials: () => controller } }).listen("wss://127.0.0.1:0", server.handlers)
        const client2 = yield* Effect.promise(() => issue(ca, { role: "client", id: "c2" }))
        const connections: Connection[] = []
        for (const credentials of [worker, client2]) {
          connections.push(yield* WebSocketTransport.make({ tls: { credentials: () => credentials } }).connect(listener.address, new Peer().handlers))
        }
        yield* eventually("both accepted", () => server.connections.length === 2)
        expect(server.connections.map((connection) => connection.peer)).toEqual([
          { role: "worker", id: "w1" },
          { role: "client", id: "c2" },
        ])
        expect(connections.map((connection) => connection.peer)).toEqual([
          { role: "controller", id: "ctl" },
          { role: "controller", id: "ctl" },
        ])
      }),
    ))
})
