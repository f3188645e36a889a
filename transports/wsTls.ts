/**
 * Mutual TLS for the WebSocket transport's `wss://` links: who may complete a handshake, and who the other end is.
 *
 * Listener (`listenerTls`): an https server with `serverTlsOptions` (TLS 1.3, only the Crank CA trusted, a client
 * certificate asked for). Without `allowAnonymous` OpenSSL refuses a client with no certificate or a bad one in the
 * handshake, and node reports it as `tlsClientError`; `handshakeRefusal` says why. With `allowAnonymous` the
 * handshake lets every client through, so `admit` judges each socket before HTTP sees it: no certificate is
 * admitted with no identity (it may only ask for its first certificate), a certificate that did not verify (other
 * CA, self-signed, expired) is refused all the same. A verified certificate that names no Crank identity is refused
 * too. The identity admitted is kept on the socket, where the upgrade (`Connection.peer`) and a listener's HTTP
 * handler (`peerOfRequest`) read it.
 *
 * Dialer (`dialTls`): with credentials, `wsClientOptions`: the server's chain must lead to the Crank CA, and its
 * certificate must name a Crank identity, the one `expectServer` asks for when given. Without credentials (a peer
 * fetching its first certificate), the CA fingerprint from its join token pins the server (`caPin.ts`). A dialer
 * with neither has nothing to trust the server by, and does not dial. When the dialer refuses the server, the error
 * it fails with carries the reason (`dialRefusal`).
 *
 * Cost: reading the identity out of a certificate (trust/'s strict SAN parse) takes about a millisecond of CPU, and
 * a TLS context from PEM about as much; a mesh's peers present the same few certificates over and over, so both are
 * kept (`identityOf` by certificate fingerprint, a dialer's context by its credentials object).
 *
 * @internal Used by `WebSocketTransport.ts`.
 */
import type * as http from "node:http"
import { isIP } from "node:net"
import * as tls from "node:tls"
import * as Result from "effect/Result"
import type { ClientOptions } from "ws"
import type { Identity } from "../trust/identity.ts"
import { expectServer, handshakeRefusal, notFromCa, type ServerExpectation } from "../trust/peerIdentity.ts"
import { identityOfDer } from "../trust/sanIdentity.ts"
import type { TrustError } from "../trust/TrustError.ts"
import { type Credentials, serverTlsOptions, wsClientOptions } from "../trust/tlsOptions.ts"
import { checkPinnedChain, parseCaFingerprint } from "./caPin.ts"

export type { Credentials } from "../trust/tlsOptions.ts"

/** The `tls` option of `WebSocketTransport.make`. */
export interface WebSocketTlsOptions {
  /**
   * This side's key, certificate and the CA certificate that signs its peers. A function, read at each dial and
   * when a listener starts; `renew()` swaps a listener's context. Undefined for a dialer that has no certificate
   * yet (bootstrap: it fetches its first certificate with a join token over TLS, presenting none). Return the same
   * object until the credentials change: a dialer's TLS context is made once per object.
   */
  readonly credentials: () => Credentials | undefined
  /**
   * Listener: also accept TLS clients that present no certificate (their `peer` is undefined); the controller lets
   * such a connection do nothing but ask for its first certificate. Their HTTP requests reach the `http` handler
   * too, with `peerOfRequest` undefined. Clients presenting a bad certificate (other CA, self-signed, expired) are
   * always refused. Default false.
   */
  readonly allowAnonymous?: boolean
  /** Dialer: who the server must be, e.g. `{ role: "controller" }`. Absent: any peer with a Crank identity. */
  readonly expectServer?: ServerExpectation
  /**
   * Dialer without credentials (bootstrap): `sha256:<hex>` of the CA certificate, from the join token; the server's
   * chain must end in a CA with this fingerprint (`caPin.ts`).
   */
  readonly caFingerprint?: string
}

/**
 * Why a peer was refused, as `onRefusal` receives it: a `CertificateRefusal` from trust/ (`no-certificate`,
 * `not-signed-by-ca`, `expired`, `not-yet-valid`, `no-identity`, `invalid-identity`, `handshake-failed`), or on the
 * dialing side `unexpected-server` (a Crank peer, but not the one `expectServer` asked for) and
 * `ca-fingerprint-mismatch` (bootstrap pin), or `origin` (a browser page from another origin).
 */
export type RefusalReason =
  | "no-certificate"
  | "handshake-failed"
  | "malformed-certificate"
  | "not-signed-by-ca"
  | "not-a-leaf"
  | "not-yet-valid"
  | "expired"
  | "no-identity"
  | "invalid-identity"
  | "unexpected-server"
  | "ca-fingerprint-mismatch"
  | "origin"

export interface Refusal {
  readonly reason: RefusalReason
  readonly message: string
}

/** Identities already read, by the SHA-256 fingerprint node computes for every peer certificate; bounded. */
const identities = new Map<string, Result.Result<Identity, TrustError>>()
const maxIdentities = 1_024

/** `identityOfDer` of a peer's certificate, read once per certificate (the same rule as trust's `identityOfPeer`). */
const identityOf = (certificate: tls.PeerCertificate): Result.Result<Identity, TrustError> => {
  const known = identities.get(certificate.fingerprint256)
  if (known !== undefined) return known
  const identity = identityOfDer(certificate.raw)
  // Past the bound, start again: renewals and rotations make new certificates, and old ones are not looked up again.
  if (identities.size >= maxIdentities) identities.clear()
  identities.set(certificate.fingerprint256, identity)
  return identity
}

// ---------------------------------------------------------------------------------------------------------------
// Listener

/** What a listener's https server is made with: the mutual-TLS options and this transport's handshake limit. */
export const listenerTlsOptions = (credentials: Credentials, allowAnonymous: boolean, handshakeTimeoutMs: number): tls.TlsOptions => ({
  ...serverTlsOptions(credentials),
  // Anonymous clients must finish the handshake to be admitted; `admit` then refuses the bad certificates itself.
  rejectUnauthorized: !allowAnonymous,
  handshakeTimeout: handshakeTimeoutMs,
})

/** The options `renew` gives `server.setSecureContext`: the same context, new certificate. */
export const secureContextOptions = (credentials: Credentials): tls.SecureContextOptions => serverTlsOptions(credentials)

/** Who each admitted socket proved to be; a socket admitted anonymously has no entry. */
const kPeer = Symbol("crank.peer")
type AdmittedSocket = tls.TLSSocket & { [kPeer]?: Identity }

/**
 * Judges a socket whose handshake finished (`secureConnection`, before HTTP reads it): `undefined` when admitted
 * (its identity, if any, kept on the socket), else why not.
 */
export const admit = (socket: tls.TLSSocket, allowAnonymous: boolean): Refusal | undefined => {
  if (socket.authorized) {
    // As trust's `identityOfPeer`: an authorized socket's certificate verified against the CA; now its identity.
    const identity = identityOf(socket.getPeerCertificate())
    if (Result.isFailure(identity)) return { reason: identity.failure.reason as RefusalReason, message: identity.failure.message }
    ;(socket as AdmittedSocket)[kPeer] = identity.success
    return undefined
  }
  const presented = socket.getPeerCertificate()?.raw !== undefined
  if (!presented && allowAnonymous) return undefined
  if (!presented) return { reason: "no-certificate", message: "the peer presented no certificate" }
  // A certificate that did not verify: the same reasons the handshake would have given without `allowAnonymous`.
  const refusal = handshakeRefusal(new Error(String(socket.authorizationError)), socket)
  return { reason: refusal.reason as RefusalReason, message: refusal.message }
}

/** Why the https server dropped a client during the handshake (`tlsClientError`). */
export const listenerRefusal = (error: Error, socket: tls.TLSSocket): Refusal => {
  const refusal = handshakeRefusal(error, socket)
  return { reason: refusal.reason as RefusalReason, message: refusal.message }
}

/** The identity the peer of a TLS socket proved when it was admitted; `undefined` for plain sockets and anonymous peers. */
export const peerOfSocket = (socket: unknown): Identity | undefined => (socket as Partial<AdmittedSocket> | null)?.[kPeer]

/**
 * Who sent an HTTP request that reached a listener's `http` handler on a `wss://` port: the identity in its client
 * certificate, or `undefined` (plain `ws://` port, or a client admitted without a certificate). For pages that need
 * a role, such as an operator's `/api/*`.
 */
export const peerOfRequest = (request: http.IncomingMessage): Identity | undefined => peerOfSocket(request.socket)

/** The client's address on a TLS socket, even once node has dropped it (its TCP socket still knows). */
export const remoteOfTlsSocket = (socket: tls.TLSSocket): { readonly ip: string | undefined; readonly port: number | undefined } => {
  if (socket.remoteAddress !== undefined) return { ip: socket.remoteAddress, port: socket.remotePort }
  // node's TLSSocket keeps the TCP socket it wraps as `_parent` on the server side; the address the listener read
  // from it on `connection` survives the destroy.
  const parent = (socket as unknown as { _parent?: { remoteAddress?: string; remotePort?: number } | null })._parent
  return { ip: parent?.remoteAddress, port: parent?.remotePort }
}

// ---------------------------------------------------------------------------------------------------------------
// Dialer

/** The dialer refused the server: carried by the error the handshake fails with, so `dialRefusal` can read it. */
class ServerRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message)
  }
}

/**
 * The server's certificate must name a Crank identity, and the expected one when given; `found` hears the identity
 * of a server that passes. Node calls it after the chain verified.
 */
const checkServer =
  (expected: ServerExpectation | undefined, found: (identity: Identity) => void) =>
  (hostname: string, certificate: tls.PeerCertificate): Error | undefined => {
    const identity = identityOf(certificate)
    if (Result.isFailure(identity))
      return new ServerRefused(identity.failure.reason as RefusalReason, `the server is not a Crank peer: ${identity.failure.message}`)
    const { role, id } = identity.success
    if (expected !== undefined && (role !== expected.role || (expected.id !== undefined && id !== expected.id))) {
      // trust's own check says how it differs (it reads the certificate again, only on this path).
      const wrong = expectServer(expected)(hostname, certificate)
      return new ServerRefused("unexpected-server", wrong?.message ?? `the server is ${role} ${id}`)
    }
    found(identity.success)
    return undefined
  }

/** A dialer's TLS context, made once per credentials object (`credentials()` gives a new one when it renews). */
const contexts = new WeakMap<Credentials, tls.SecureContext>()
const contextOf = (credentials: Credentials, options: tls.ConnectionOptions): tls.SecureContext => {
  let context = contexts.get(credentials)
  if (context === undefined) {
    context = tls.createSecureContext(options)
    contexts.set(credentials, context)
  }
  return context
}

/** Why the dialer refused the server, when the error a dial failed with says so; `undefined` for any other failure. */
export const dialRefusal = (error: Error & { code?: string }): Refusal | undefined => {
  if (error instanceof ServerRefused) return { reason: error.reason, message: error.message }
  if (error.code === undefined) return undefined
  if (notFromCa.has(error.code)) return { reason: "not-signed-by-ca", message: `the server's certificate is not signed by the Crank CA (${error.code})` }
  if (error.code === "CERT_HAS_EXPIRED") return { reason: "expired", message: "the server's certificate has expired" }
  if (error.code === "CERT_NOT_YET_VALID") return { reason: "not-yet-valid", message: "the server's certificate is not valid yet" }
  return undefined
}

export interface DialTls {
  /** For `new WebSocket(url, options)`. */
  readonly options: ClientOptions
  /** The identity the server proved, once the handshake is over. */
  readonly peer: () => Identity | undefined
}

/**
 * The TLS side of one dial: options for ws, and the server's identity once known. A string when this dialer
 * cannot dial over TLS at all (no credentials and no usable pin, or credentials that do not go together).
 */
export const dialTls = (settings: WebSocketTlsOptions): DialTls | string => {
  const credentials = settings.credentials()
  let peer: Identity | undefined
  let judge: (socket: tls.TLSSocket) => Error | undefined
  let options: tls.ConnectionOptions
  if (credentials !== undefined) {
    const mutual = wsClientOptions(credentials, settings.expectServer ?? { role: "controller" }) as tls.ConnectionOptions
    let secureContext: tls.SecureContext
    try {
      secureContext = contextOf(credentials, mutual)
    } catch (error) {
      return `the credentials do not make a TLS context: ${(error as Error).message}`
    }
    options = {
      ...mutual,
      secureContext,
      // trust's check, wrapped to carry its reason, and to accept any Crank identity when no `expectServer` is set.
      checkServerIdentity: checkServer(settings.expectServer, (identity) => (peer = identity)),
    }
    // The chain and the identity were checked in the handshake (`checkServerIdentity` found the peer).
    judge = () => (peer === undefined ? new ServerRefused("no-identity", "the server's certificate was not checked for a Crank identity") : undefined)
  } else {
    if (settings.caFingerprint === undefined) {
      return "a wss:// dial needs credentials, or the CA fingerprint (sha256:<hex>) from a join token to check the server by"
    }
    const pin = parseCaFingerprint(settings.caFingerprint)
    if (pin === undefined) return `the CA fingerprint ${JSON.stringify(settings.caFingerprint.slice(0, 80))} is not sha256:<64 hex digits>`
    // Nothing to verify the chain against before the handshake: it is checked against the pin once it is over.
    options = { minVersion: "TLSv1.3", rejectUnauthorized: false }
    judge = (socket) => {
      // The dates are checked against the system clock, as OpenSSL checks them on every other link.
      const verdict = checkPinnedChain(socket, pin, new Date())
      if (verdict._tag === "Refused") return new ServerRefused(verdict.reason, verdict.message)
      return checkServer(settings.expectServer, (identity) => (peer = identity))("", verdict.leaf)
    }
  }
  const createConnection = (connectOptions: tls.ConnectionOptions): tls.TLSSocket => {
    // As ws's own tlsConnect: no SNI for an IP address, and no `path` (it would make node open a Unix socket).
    const host = connectOptions.host ?? ""
    const socket = tls.connect({
      ...connectOptions,
      path: undefined,
      servername: connectOptions.servername ?? (isIP(host) !== 0 ? "" : host),
    } as tls.ConnectionOptions)
    socket.once("secureConnect", () => {
      const refused = judge(socket)
      if (refused !== undefined) socket.destroy(refused)
    })
    return socket
  }
  return { options: { ...(options as ClientOptions), createConnection: createConnection as unknown as ClientOptions["createConnection"] }, peer: () => peer }
}
