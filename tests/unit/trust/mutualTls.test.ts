/**
 * The trust layer's certificates over real TLS on 127.0.0.1: node's `tls`, and `ws` over `https`, both with
 * `serverTlsOptions` / `clientTlsOptions`. The handshake (OpenSSL) checks chains and dates against the real clock, so
 * the certificates here are signed for the current time.
 */
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as tls from "node:tls"
import { Effect, Result } from "effect"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import WebSocket, { WebSocketServer } from "ws"
import * as CertificateAuthority from "../../../trust/CertificateAuthority.ts"
import { createCsr } from "../../../trust/csr.ts"
import type { Identity } from "../../../trust/identity.ts"
import { generateKeyPair } from "../../../trust/keyPair.ts"
import { handshakeRefusal, identityOfPeer } from "../../../trust/peerIdentity.ts"
import { type Credentials, clientTlsOptions, serverTlsOptions, wsClientOptions } from "../../../trust/tlsOptions.ts"
import { crypto, signingAlgorithm, x509 } from "../../../trust/x509.ts"

const issue = async (ca: CertificateAuthority.CertificateAuthority, identity: Identity, now = new Date(), trustedCa = ca): Promise<Credentials> => {
  const keyPair = await Effect.runPromise(generateKeyPair())
  const certificatePem = await Effect.runPromise(Effect.flatMap(createCsr(keyPair, identity), (csr) => ca.signCsr(csr, { identity, now })))
  return { privateKeyPem: keyPair.privateKeyPem, certificatePem, caCertificatePem: trustedCa.certificatePem }
}

const selfSignedCredentials = async (trustedCa: CertificateAuthority.CertificateAuthority): Promise<Credentials> => {
  const keyPair = await Effect.runPromise(generateKeyPair())
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: "CN=w1",
      keys: keyPair.keys,
      signingAlgorithm,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://crank/worker/w1" }])],
    },
    crypto,
  )
  return { privateKeyPem: keyPair.privateKeyPem, certificatePem: certificate.toString("pem"), caCertificatePem: trustedCa.certificatePem }
}

/** Rejects after `ms`: every wait here is bounded. */
const within = <A>(promise: Promise<A>, ms = 5_000): Promise<A> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no outcome within ${ms} ms`)), ms).unref())])

/** Waits (bounded) until `read` returns `length` items: the server hears of a refusal a moment after the client. */
const settled = async <A>(read: () => ReadonlyArray<A>, length: number): Promise<ReadonlyArray<A>> => {
  for (let attempt = 0; attempt < 100 && read().length < length; attempt++) await new Promise((resolve) => setTimeout(resolve, 20))
  return read()
}

const closers: Array<() => void> = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

let ca: CertificateAuthority.CertificateAuthority
let otherCa: CertificateAuthority.CertificateAuthority
let controller: Credentials
let worker: Credentials

beforeAll(async () => {
  ca = await Effect.runPromise(CertificateAuthority.create({ now: new Date() }))
  otherCa = await Effect.runPromise(CertificateAuthority.create({ now: new Date() }))
  controller = await issue(ca, { role: "controller", id: "ctl" })
  worker = await issue(ca, { role: "worker", id: "w1" })
})

interface TlsServer {
  readonly port: number
  /** The identity (or refusal reason) of every connection that completed a handshake, and its subjectaltname. */
  readonly accepted: Array<{ identity: Identity | string; subjectaltname: string | undefined }>
  /** Every handshake the server refused, by `handshakeRefusal` reason. */
  readonly refused: Array<string>
}

/** A TLS server that answers each accepted peer with `hello <role>/<id>` and closes. */
const startTlsServer = async (credentials: Credentials): Promise<TlsServer> => {
  const accepted: TlsServer["accepted"] = []
  const refused: string[] = []
  const server = tls.createServer(serverTlsOptions(credentials), (socket) => {
    const identity = identityOfPeer(socket)
    accepted.push({
      identity: Result.isSuccess(identity) ? identity.success : identity.failure.reason,
      subjectaltname: socket.getPeerCertificate().subjectaltname,
    })
    socket.end(Result.isSuccess(identity) ? `hello ${identity.success.role}/${identity.success.id}` : "who?")
  })
  server.on("tlsClientError", (error, socket) => refused.push(handshakeRefusal(error, socket).reason))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  closers.push(() => server.close())
  return { port: (server.address() as AddressInfo).port, accepted, refused }
}

/** Connects, reads until the server closes; resolves with what arrived, or the error that ended the link. */
const talk = (port: number, options: tls.ConnectionOptions): Promise<{ data: string; error?: string }> =>
  within(
    new Promise((resolve) => {
      let data = ""
      const socket = tls.connect({ ...options, host: "127.0.0.1", port })
      closers.push(() => socket.destroy())
      socket.setEncoding("utf8")
      socket.on("data", (chunk) => (data += chunk))
      socket.on("error", (error) => resolve({ data, error: error.message }))
      socket.on("close", () => resolve({ data }))
    }),
  )

describe("mutual TLS with CA-signed certificates", () => {
  it("connects a client whose certificate the CA signed, and the server reads its URI SAN", async () => {
    const server = await startTlsServer(controller)
    const outcome = await talk(server.port, clientTlsOptions(worker, { role: "controller" }))
    expect(outcome).toEqual({ data: "hello worker/w1" })
    expect(server.accepted).toEqual([{ identity: { role: "worker", id: "w1" }, subjectaltname: "URI:spiffe://crank/worker/w1" }])
    expect(server.refused).toEqual([])
  })

  it("refuses in the handshake a client certificate from another CA, a self-signed one, an expired one, and none", async () => {
    const server = await startTlsServer(controller)
    const foreign = await issue(otherCa, { role: "worker", id: "w1" }, new Date(), ca)
    const selfSigned = await selfSignedCredentials(ca)
    const expired = await issue(ca, { role: "worker", id: "w1" }, new Date(Date.now() - 3 * 60 * 60 * 1000))
    const { key: _key, cert: _cert, ...noCertificate } = clientTlsOptions(worker, { role: "controller" })
    for (const options of [
      clientTlsOptions(foreign, { role: "controller" }),
      clientTlsOptions(selfSigned, { role: "controller" }),
      clientTlsOptions(expired, { role: "controller" }),
      noCertificate,
    ]) {
      const outcome = await talk(server.port, options)
      // TLS 1.3: the client's side of the handshake is over before the server judges its certificate, so the
      // client sees the link close (or an alert) with nothing said.
      expect(outcome.data).toBe("")
    }
    expect(server.accepted).toEqual([])
    expect(await settled(() => server.refused, 4)).toEqual(["not-signed-by-ca", "not-signed-by-ca", "expired", "no-certificate"])
  })

  it("lets a client refuse a server that is not the peer it meant: a worker posing as the controller, another CA", async () => {
    const posing = await startTlsServer(worker)
    const wrongPeer = await talk(posing.port, clientTlsOptions(controller, { role: "controller" }))
    expect(wrongPeer.data).toBe("")
    expect(wrongPeer.error).toContain("the server is worker w1, not a controller")
    expect(await talk(posing.port, clientTlsOptions(controller, { role: "worker", id: "w1" }))).toEqual({ data: "hello controller/ctl" })
    const otherWorker = await talk(posing.port, clientTlsOptions(controller, { role: "worker", id: "w2" }))
    expect(otherWorker.error).toContain("not worker w2")

    const foreignServer = await startTlsServer(await issue(otherCa, { role: "controller", id: "ctl" }, new Date(), otherCa))
    const foreign = await talk(foreignServer.port, clientTlsOptions(worker, { role: "controller" }))
    expect(foreign.data).toBe("")
    expect(foreign.error).toMatch(/certificate/i)
    expect(foreignServer.accepted).toEqual([])
  })
})

describe("ws over https with client certificates", () => {
  const startWss = async () => {
    const peers: Array<Identity | string> = []
    const refused: string[] = []
    const server = https.createServer(serverTlsOptions(controller))
    server.on("tlsClientError", (error, socket) => refused.push(handshakeRefusal(error, socket).reason))
    const wss = new WebSocketServer({ server })
    wss.on("connection", (socket, request) => {
      const identity = identityOfPeer(request.socket as tls.TLSSocket)
      peers.push(Result.isSuccess(identity) ? identity.success : identity.failure.reason)
      socket.on("message", (data) => socket.send(`echo ${String(data)} to ${Result.isSuccess(identity) ? identity.success.id : "?"}`))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    closers.push(() => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      server.close()
    })
    return { port: (server.address() as AddressInfo).port, peers, refused }
  }

  /** Opens a WebSocket, sends `ping`, resolves with the reply or the error that ended it. */
  const exchange = (url: string, options: WebSocket.ClientOptions): Promise<{ reply?: string; error?: string }> =>
    within(
      new Promise((resolve) => {
        const socket = new WebSocket(url, options)
        closers.push(() => socket.terminate())
        socket.on("open", () => socket.send("ping"))
        socket.on("message", (data) => resolve({ reply: String(data) }))
        socket.on("error", (error) => resolve({ error: error.message }))
        socket.on("close", (code) => resolve({ error: `closed ${code}` }))
      }),
    )

  it("opens a wss:// link for a CA-signed client, and the server knows who it is", async () => {
    const server = await startWss()
    const outcome = await exchange(`wss://127.0.0.1:${server.port}`, wsClientOptions(worker, { role: "controller" }))
    expect(outcome).toEqual({ reply: "echo ping to w1" })
    expect(server.peers).toEqual([{ role: "worker", id: "w1" }])
    // ws passes the server check through to tls: a client that meant to reach a worker refuses the controller.
    const wrongPeer = await exchange(`wss://127.0.0.1:${server.port}`, wsClientOptions(worker, { role: "worker", id: "w2" }))
    expect(wrongPeer.error).toContain("the server is controller ctl, not worker w2")
  })

  it("refuses a client certificate from another CA, and a plain ws:// connection", async () => {
    const server = await startWss()
    const foreign = await issue(otherCa, { role: "worker", id: "w1" }, new Date(), ca)
    const refused = await exchange(`wss://127.0.0.1:${server.port}`, wsClientOptions(foreign, { role: "controller" }))
    expect(refused.reply).toBeUndefined()
    expect(refused.error).toBeDefined()
    const plain = await exchange(`ws://127.0.0.1:${server.port}`, {})
    expect(plain.reply).toBeUndefined()
    expect(plain.error).toBeDefined()
    expect(server.peers).toEqual([])
    expect(await settled(() => server.refused, 2)).toEqual(["not-signed-by-ca", "handshake-failed"])
  })
})
