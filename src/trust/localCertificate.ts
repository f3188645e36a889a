/**
 * A certificate minted from the controller's own CA, on the controller's host: how the controller gets its
 * server certificate, and how a command run beside it (same `--data-dir`, a user who can read the CA key) gets an
 * operator's or a worker's without a join token. Whoever can read `ca.key.pem` can sign anything already, so this
 * grants nothing new; it spares the operator a token for work on the controller's own machine.
 *
 * The CA lives in `<data root>/controller` (`caDirectory`): `ca.key.pem` (0600) and `ca.crt.pem`, with the token
 * store beside them (`tokens.json`, 0600).
 *
 * @example
 * ```ts
 * const ca = yield* CertificateAuthority.load(caDirectory(".crank"))
 * const held = yield* localCertificate(ca, { role: "operator", id: "ops-1" }, 3_600_000)
 * ```
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { notAfterOf } from "../../actors/certificateSigning.ts"
import type { CertificateAuthority } from "../../trust/CertificateAuthority.ts"
import { createCsr } from "../../trust/csr.ts"
import type { Identity } from "../../trust/identity.ts"
import { generateKeyPair } from "../../trust/keyPair.ts"
import type { TrustError } from "../../trust/TrustError.ts"
import type { HeldCertificate } from "./credentialsCell.ts"

export { caDirectory, hasLocalCa } from "./caLocation.ts"

/** A fresh key pair and a certificate for `identity` from `ca`, valid `lifetimeMs`. */
export const localCertificate = (ca: CertificateAuthority, identity: Identity, lifetimeMs: number): Effect.Effect<HeldCertificate, TrustError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const keyPair = yield* generateKeyPair()
    const certificatePem = yield* ca.signCsr(yield* createCsr(keyPair, identity), { identity, now: new Date(now), lifetimeMs })
    return {
      identity,
      credentials: { privateKeyPem: keyPair.privateKeyPem, certificatePem, caCertificatePem: ca.certificatePem },
      obtainedAt: now,
      notAfter: notAfterOf(certificatePem),
    }
  })
