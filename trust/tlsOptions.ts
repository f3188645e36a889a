/**
 * A peer's key, its certificate and the CA certificate, as the options node's `tls` (and `https`, and `ws` over
 * either) take: mutual TLS where only Crank's CA is trusted.
 *
 * - `serverTlsOptions(credentials)`: for `tls.createServer` / `https.createServer`: asks every client for a
 *   certificate and refuses the handshake when there is none or it is not from the CA (`requestCert`,
 *   `rejectUnauthorized`).
 * - `clientTlsOptions(credentials, expected)`: for `tls.connect` / `https.request`: verifies the server's chain
 *   against the CA, and that the server is the peer `expected` names (see `expectServer`).
 * - `wsClientOptions(credentials, expected)`: the same, typed for `new WebSocket(url, options)`: ws hands them to
 *   `tls.connect` unchanged, but @types/ws declares `checkServerIdentity` returning a boolean, which node does not.
 *
 * `ca` is only Crank's CA: the system's root CAs are not trusted on these links. TLS 1.3 only: every Crank peer is
 * node ≥ 20. With TLS 1.3 a client whose certificate the server refuses learns it just after its own handshake
 * finished (an alert, then the socket closes), so a client waits for the first reply before trusting a link.
 *
 * @example
 * ```ts
 * const credentials = { privateKeyPem: keyPair.privateKeyPem, certificatePem, caCertificatePem: ca.certificatePem }
 * https.createServer(serverTlsOptions(credentials))
 * new WebSocket("wss://127.0.0.1:7700", wsClientOptions(credentials, { role: "controller" }))
 * ```
 */
import type { ConnectionOptions, TlsOptions } from "node:tls"
import type { ClientOptions } from "ws"
import { expectServer, type ServerExpectation } from "./peerIdentity.ts"

export interface Credentials {
  /** PKCS#8 PEM (`KeyPair.privateKeyPem`). */
  readonly privateKeyPem: string
  /** The peer's leaf, as `CertificateAuthority.signCsr` returned it. */
  readonly certificatePem: string
  /** `CertificateAuthority.certificatePem`: the one CA trusted. */
  readonly caCertificatePem: string
}

const common = (credentials: Credentials) => ({
  key: credentials.privateKeyPem,
  cert: credentials.certificatePem,
  ca: [credentials.caCertificatePem],
  minVersion: "TLSv1.3" as const,
})

export const serverTlsOptions = (credentials: Credentials): TlsOptions => ({
  ...common(credentials),
  requestCert: true,
  rejectUnauthorized: true,
})

export const clientTlsOptions = (credentials: Credentials, expected: ServerExpectation): ConnectionOptions => ({
  ...common(credentials),
  rejectUnauthorized: true,
  checkServerIdentity: expectServer(expected),
})

export const wsClientOptions = (credentials: Credentials, expected: ServerExpectation): ClientOptions =>
  clientTlsOptions(credentials, expected) as unknown as ClientOptions
