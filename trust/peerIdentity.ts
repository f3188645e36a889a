/**
 * Who is on the other end of a TLS connection, once the handshake has checked the peer's chain against Crank's CA.
 *
 * - `identityOfPeer(socket)`: the identity in the peer's certificate (`Result`), or why there is none: no
 *   certificate, a chain TLS did not accept (`not-signed-by-ca`, with node's own reason), a SAN that is not a
 *   Crank identity. The server side calls it on each accepted socket (`req.socket` for a WebSocket upgrade).
 * - `handshakeRefusal(error, socket)`: why a server refused a handshake, as a `TrustError` to log and count: for
 *   `server.on("tlsClientError", ...)`. With `rejectUnauthorized` node drops such a client without telling it
 *   why (the error is "socket hang up"); the verdict OpenSSL reached is on `socket.authorizationError`, and this
 *   maps it: an unknown issuer or a self-signed certificate is `not-signed-by-ca`, then `expired`,
 *   `not-yet-valid`, `no-certificate`, and anything else (not TLS at all, no shared version) `handshake-failed`.
 * - `expectServer(expected)`: a `checkServerIdentity` for the dialing side. Node's default compares the host name
 *   with DNS/IP SANs, which Crank certificates do not carry; this one asks instead that the server be who the
 *   dialer meant: `{ role: "controller" }` when joining, `{ role: "worker", id }` on a direct link. Without it a
 *   worker's certificate, signed by the same CA, would pass for the controller's.
 *
 * @example
 * ```ts
 * const server = tls.createServer(serverTlsOptions(credentials), (socket) => {
 *   const peer = identityOfPeer(socket)
 *   if (Result.isFailure(peer) || !may(peer.success.role, "register")) return socket.destroy()
 * })
 * server.on("tlsClientError", (error, socket) => log(handshakeRefusal(error, socket)))
 * tls.connect({ ...clientTlsOptions(credentials), checkServerIdentity: expectServer({ role: "controller" }) })
 * ```
 */
import type { PeerCertificate, TLSSocket } from "node:tls"
import * as Result from "effect/Result"
import type { Identity, IdentityRole } from "./identity.ts"
import { identityOfDer } from "./sanIdentity.ts"
import { type TrustError, trustError } from "./TrustError.ts"

export const identityOfPeer = (socket: TLSSocket): Result.Result<Identity, TrustError> => {
  if (!socket.authorized) {
    return Result.fail(trustError("not-signed-by-ca", `the peer's certificate was not accepted: ${String(socket.authorizationError ?? "none presented")}`))
  }
  const peer = socket.getPeerCertificate()
  if (peer?.raw === undefined) return Result.fail(trustError("no-identity", "the peer presented no certificate"))
  return identityOfDer(peer.raw)
}

/** OpenSSL's verification codes (`X509_V_ERR_*` without the prefix) for a chain that does not lead to the CA. */
export const notFromCa: ReadonlySet<string> = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
])

export const handshakeRefusal = (error: Error, socket: TLSSocket): TrustError => {
  const verdict = socket.authorizationError === null || socket.authorizationError === undefined ? undefined : String(socket.authorizationError)
  if (verdict !== undefined) {
    if (notFromCa.has(verdict)) return trustError("not-signed-by-ca", `the peer's certificate is not signed by this CA (${verdict})`)
    if (verdict === "CERT_HAS_EXPIRED") return trustError("expired", "the peer's certificate has expired")
    if (verdict === "CERT_NOT_YET_VALID") return trustError("not-yet-valid", "the peer's certificate is not valid yet")
    return trustError("not-signed-by-ca", `the peer's certificate was refused (${verdict})`)
  }
  const code = (error as NodeJS.ErrnoException).code
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" || /did not return a certificate/.test(error.message)) {
    return trustError("no-certificate", "the peer presented no certificate")
  }
  if (code === "ERR_SSL_HTTP_REQUEST") return trustError("handshake-failed", "the peer spoke plain HTTP (ws://, http://) to a TLS port")
  return trustError("handshake-failed", `the TLS handshake failed: ${code ?? error.message.trim()}`)
}

export interface ServerExpectation {
  readonly role: IdentityRole
  /** A particular peer (a direct link to one worker); any id of `role` when absent. */
  readonly id?: string
}

/** Node calls it after the chain verified; an `Error` returned aborts the handshake with that message. */
export const expectServer =
  (expected: ServerExpectation) =>
  (_hostname: string, certificate: PeerCertificate): Error | undefined => {
    const identity = identityOfDer(certificate.raw)
    if (Result.isFailure(identity)) return new Error(`the server is not a Crank peer: ${identity.failure.message}`)
    const { role, id } = identity.success
    if (role !== expected.role || (expected.id !== undefined && id !== expected.id)) {
      const wanted = expected.id === undefined ? `a ${expected.role}` : `${expected.role} ${expected.id}`
      return new Error(`the server is ${role} ${id}, not ${wanted}`)
    }
    return undefined
  }
