/**
 * First contact without a CA certificate: the dialer knows only the SHA-256 fingerprint of the CA (from its join
 * token, as kubeadm's `--discovery-token-ca-cert-hash`) and checks the server against it, so joining is pinned and
 * not trust-on-first-use.
 *
 * `caFingerprintOf(caCertificatePem)` is what a token carries: `sha256:<64 hex>` of the CA certificate's DER.
 * `checkPinnedChain(socket, pin, now)` runs once the TLS handshake is over (the server has proved it holds its
 * leaf's key) and accepts the server only if the chain it sent holds a CA certificate with that fingerprint, the
 * leaf was issued and signed by that CA (Crank's CA signs leaves directly: path length 0), and both are valid
 * `now`. OpenSSL cannot do this check during the handshake, since it needs the CA certificate up front; the server
 * sends it (node appends the leaf's issuer from `ca`), so the dialer can find it in the chain.
 *
 * The checks use node's own `X509Certificate` (signature, issuer, dates): only the chain the server sent is read,
 * and nothing is sent by the dialer before they pass except the HTTP upgrade request, which carries no secret.
 *
 * @example
 * ```ts
 * const pin = caFingerprintOf(ca.certificatePem)               // "sha256:9f86d0..."
 * const verdict = checkPinnedChain(tlsSocket, parseCaFingerprint(pin)!, new Date())
 * if (verdict._tag === "Refused") socket.destroy()
 * ```
 */
import { createHash, X509Certificate } from "node:crypto"
import type { DetailedPeerCertificate, TLSSocket } from "node:tls"

const pinPattern = /^sha256:([0-9a-fA-F]{64})$/

/** The lower-case hex digest of a `sha256:<hex>` pin, or `undefined` when it is not one. */
export const parseCaFingerprint = (pin: string): string | undefined => pinPattern.exec(pin.trim())?.[1]?.toLowerCase()

/** The pin of a CA certificate (PEM): `sha256:` and the hex SHA-256 of its DER. */
export const caFingerprintOf = (caCertificatePem: string): string => `sha256:${sha256(new X509Certificate(caCertificatePem).raw)}`

const sha256 = (der: Uint8Array): string => createHash("sha256").update(der).digest("hex")

export type PinVerdict =
  | { readonly _tag: "Accepted"; readonly leaf: DetailedPeerCertificate }
  | {
      readonly _tag: "Refused"
      readonly reason: "no-certificate" | "ca-fingerprint-mismatch" | "not-signed-by-ca" | "expired" | "not-yet-valid"
      readonly message: string
    }

const refused = (reason: Extract<PinVerdict, { _tag: "Refused" }>["reason"], message: string): PinVerdict => ({ _tag: "Refused", reason, message })

/** At most this many certificates are read from the chain a server sends (Crank's is two: leaf and CA). */
const maxChain = 4

export const checkPinnedChain = (socket: TLSSocket, pinHex: string, now: Date): PinVerdict => {
  const leaf = socket.getPeerCertificate(true)
  if (leaf?.raw === undefined) return refused("no-certificate", "the server presented no certificate")
  let caCertificate: DetailedPeerCertificate | undefined
  let current = leaf
  for (let depth = 0; depth < maxChain && current.issuerCertificate !== undefined && current.issuerCertificate !== current; depth++) {
    current = current.issuerCertificate
    if (current.raw !== undefined && sha256(current.raw) === pinHex) {
      caCertificate = current
      break
    }
  }
  if (caCertificate === undefined) {
    return refused("ca-fingerprint-mismatch", `no certificate in the server's chain has the pinned CA fingerprint sha256:${pinHex}`)
  }
  const ca = new X509Certificate(caCertificate.raw)
  const server = new X509Certificate(leaf.raw)
  if (!ca.ca) return refused("not-signed-by-ca", `the pinned certificate (${ca.subject}) is not a CA`)
  if (!server.checkIssued(ca) || !server.verify(ca.publicKey)) {
    return refused("not-signed-by-ca", `the server's certificate (${server.subject}) is not signed by the pinned CA (${ca.subject})`)
  }
  for (const [what, certificate] of [
    ["the server's certificate", server],
    ["the pinned CA", ca],
  ] as const) {
    if (now.getTime() < new Date(certificate.validFrom).getTime()) return refused("not-yet-valid", `${what} is valid from ${certificate.validFrom}`)
    if (now.getTime() > new Date(certificate.validTo).getTime()) return refused("expired", `${what} expired at ${certificate.validTo}`)
  }
  return { _tag: "Accepted", leaf }
}
