/**
 * The one error of the trust layer: a `reason` callers can switch on (to answer `UNAUTHORIZED`/`FORBIDDEN`, to count
 * refusals by reason in `/metrics`) and a message a person can act on.
 *
 * The reasons fall in families, each exported as its own union so a caller can say which it handles:
 * - `CertificateRefusal`: why `CertificateAuthority.verifyLeaf` or a TLS handshake (`handshakeRefusal`) does not
 *   accept a certificate;
 * - `TokenRefusal`: why `JoinTokens.redeem` does not accept a join token;
 * - `FileProblem`: why the CA or the token store could not be read or written;
 * - `invalid-csr` (a CSR that does not parse, verify or use P-256) and `invalid-argument` (a caller's mistake:
 *   a bad identity, a non-positive lifetime or TTL).
 *
 * @example
 * ```ts
 * ca.verifyLeaf(pem, now).pipe(Effect.catchTag("TrustError", (e) => Effect.succeed(`refused: ${e.reason}`)))
 * ```
 */
import * as Data from "effect/Data"

export const CertificateRefusals = [
  // the TLS peer presented no certificate
  "no-certificate",
  // the TLS handshake failed before any certificate was judged (not TLS at all, no common protocol version...)
  "handshake-failed",
  "malformed-certificate",
  "not-signed-by-ca",
  "not-a-leaf",
  "not-yet-valid",
  "expired",
  "no-identity",
  "invalid-identity",
] as const
export type CertificateRefusal = (typeof CertificateRefusals)[number]

export const TokenRefusals = ["token-malformed", "token-unknown", "token-wrong-secret", "token-revoked", "token-expired", "token-used-up"] as const
export type TokenRefusal = (typeof TokenRefusals)[number]

export const FileProblems = [
  // a private file (CA key, token store) that group or others can read: refused until it is chmod 600
  "file-exposed",
  // a file that should be there is not (for example a CA certificate without its key)
  "file-missing",
  // refusing to overwrite (a CA is never replaced by accident)
  "file-exists",
  // a file whose content does not parse
  "file-corrupt",
  // any other filesystem failure, with the system's message
  "file-io",
  // the token store's lock stayed taken by a live process
  "store-busy",
  // the CA key does not belong to the CA certificate beside it
  "ca-key-mismatch",
  // the CA certificate is past its notAfter: it can sign nothing any peer would accept
  "ca-expired",
] as const
export type FileProblem = (typeof FileProblems)[number]

export type TrustReason = CertificateRefusal | TokenRefusal | FileProblem | "invalid-csr" | "invalid-argument"

export class TrustError extends Data.TaggedError("TrustError")<{ readonly reason: TrustReason; readonly message: string }> {}

/** Shorthand for the constructor, as most failures are built inline. */
export const trustError = (reason: TrustReason, message: string): TrustError => new TrustError({ reason, message })

export const isCertificateRefusal = (reason: TrustReason): reason is CertificateRefusal => (CertificateRefusals as readonly string[]).includes(reason)
export const isTokenRefusal = (reason: TrustReason): reason is TokenRefusal => (TokenRefusals as readonly string[]).includes(reason)
