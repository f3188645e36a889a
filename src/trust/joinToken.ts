/**
 * A join token as a person copies it: the token the controller's store knows (`crank1.<id>.<secret>`,
 * trust/JoinTokens.ts) and the fingerprint of the controller's CA, in one string:
 * `crank1.<16 hex>.<43 base64url>.<64 hex>`.
 *
 * Why the fingerprint travels with the token: a process joining for the first time has no CA certificate yet, so
 * nothing to check the controller's TLS certificate against. The fingerprint pins it (as kubeadm's
 * `--discovery-token-ca-cert-hash`): the transport accepts only a server whose chain holds the CA with that
 * SHA-256, so a join token is never handed to an impostor. A bare three-part token also parses (no pin); the
 * joining side then needs the CA certificate some other way.
 *
 * @example
 * ```ts
 * const printed = joinTokenOf(token, ca.certificatePem) // "crank1.0f3a….Qx9…​.9c1e…"
 * parseJoinToken(printed) // { token: "crank1.0f3a….Qx9…", caFingerprint: "sha256:9c1e…" }
 * ```
 */
import { caFingerprintOf } from "../../transports/WebSocketTransport.ts"
import { parseToken } from "../../trust/JoinTokens.ts"

export interface JoinToken {
  /** What the controller redeems: `crank1.<id>.<secret>`. */
  readonly token: string
  /** `sha256:<64 hex>` of the CA certificate, when the string carried it. */
  readonly caFingerprint?: string
}

/** The string `crank token create` prints: the token and its controller's CA fingerprint. */
export const joinTokenOf = (token: string, caCertificatePem: string): string => `${token}.${caFingerprintOf(caCertificatePem).slice("sha256:".length)}`

/** The parts of a join token as printed, or `undefined` when it is not one (its id is then safe to show: nothing else is). */
export const parseJoinToken = (text: string): JoinToken | undefined => {
  const trimmed = text.trim()
  const last = trimmed.lastIndexOf(".")
  const pin = trimmed.slice(last + 1)
  if (/^[0-9a-f]{64}$/.test(pin) && parseToken(trimmed.slice(0, last)) !== undefined) {
    return { token: trimmed.slice(0, last), caFingerprint: `sha256:${pin}` }
  }
  return parseToken(trimmed) === undefined ? undefined : { token: trimmed }
}
