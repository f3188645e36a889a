/**
 * The controller's `certificate.sign_csr` (contract in capabilities/crank.ts): how a worker, client or operator
 * gets a certificate from the controller's CA, and renews it.
 *
 * The identity is the controller's decision, never the CSR's (`CertificateAuthority.signCsr` ignores what the CSR
 * asks for):
 * - with a join token: the token's role and the `id` asked for, the token spent (`JoinTokens.redeem`: constant
 *   time, single-use tokens admit once, expired and revoked ones never);
 * - without one: a renewal, only of the identity the caller's own certificate proves (`Caller`), so a process
 *   renews before expiry over the link it already has, and nothing is dropped.
 *
 * An id some live connection holds is refused (`FORBIDDEN`) unless the caller is that connection's identity
 * renewing itself: a second process cannot get a certificate for a node that is running. Checked in this order,
 * so a bad request spends no token: the id, the id in use, the token, then the CSR.
 *
 * @example
 * ```ts
 * const implementation = signingImplementation({ ca, tokens, lifetimeMs: 3_600_000 }, (identity) => live.has(key(identity)))
 * // served by the controller's system server, with `Caller` provided per request
 * ```
 */
import { X509Certificate } from "node:crypto"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { crankError } from "../capabilities/CrankError.ts"
import { CertificateSignCsr } from "../capabilities/crank.ts"
import { type CertificateAuthority, defaultLeafLifetimeMs } from "../trust/CertificateAuthority.ts"
import { type Identity, idProblem } from "../trust/identity.ts"
import type { JoinTokens } from "../trust/JoinTokens.ts"
import { isTokenRefusal, type TrustError } from "../trust/TrustError.ts"
import { Caller } from "./authorization.ts"
import { type Implementation, implement } from "./Implementation.ts"
import type { Revocations } from "./revocation.ts"

/** What the controller signs with. */
export interface SigningAuthority {
  readonly ca: CertificateAuthority
  readonly tokens: JoinTokens
  /** How long a certificate it signs is valid; default 1 h (`defaultLeafLifetimeMs`). */
  readonly lifetimeMs?: number
  /** Identities refused (`crank.revoke`), kept beside the CA; default: in memory only. */
  readonly revocations?: Revocations
}

/**
 * When a certificate expires, as TLS will judge it: X.509 keeps whole seconds, so a lifetime that does not end on
 * one is cut short by up to a second, which a renewal timed from the lifetime asked for would miss.
 */
export const notAfterOf = (certificatePem: string): number => Date.parse(new X509Certificate(certificatePem).validTo)

/** `worker/n1`: an identity as a map key and in messages. */
export const identityKey = (identity: Identity): string => `${identity.role}/${identity.id}`

/** The role a signed certificate may carry: only what a token grants (a controller certificate is never issued here). */
type GrantedRole = "worker" | "client" | "operator"

const tokenRefusal = (error: TrustError) =>
  isTokenRefusal(error.reason)
    ? crankError("UNAUTHORIZED", `join token refused (${error.reason}): ${error.message}`)
    : crankError("INTERNAL", `the token store could not be read: ${error.message}`)

const signingFailure = (error: TrustError) =>
  error.reason === "invalid-csr" || error.reason === "invalid-argument"
    ? crankError("INVALID_INPUT", `the CSR was refused (${error.reason}): ${error.message}`)
    : crankError("INTERNAL", `the CA could not sign (${error.reason}): ${error.message}`)

/**
 * The handler of `certificate.sign_csr` over `authority`; `inUse(identity)` says whether a live connection holds
 * that identity now.
 */
export const signingImplementation = (
  authority: SigningAuthority,
  inUse: (identity: Identity) => boolean,
  isRevoked: (identity: Identity) => boolean,
): Implementation =>
  implement(CertificateSignCsr, ({ csr, id, token }) =>
    Effect.gen(function* () {
      const problem = idProblem(id)
      if (problem !== undefined) return yield* crankError("INVALID_INPUT", `the id cannot be a certificate's: ${problem}`)
      const { peer } = yield* Caller
      const now = new Date(yield* Clock.currentTimeMillis)
      let identity: Identity & { readonly role: GrantedRole }
      if (token !== undefined) {
        const redeemedRole = yield* Effect.suspend(() => {
          // Checked before the token is spent: a running node's id is not handed to a second process.
          for (const role of ["worker", "client", "operator"] as const) {
            if (inUse({ role, id }) && !(peer?.id === id && peer.role === role)) {
              return Effect.fail(
                crankError("FORBIDDEN", `${role} ${id} is connected now; a second process cannot get a certificate for it (pick another id, or stop it first)`),
              )
            }
          }
          return Effect.map(Effect.mapError(authority.tokens.redeem(token, now), tokenRefusal), (redeemed) => redeemed.role)
        })
        identity = { role: redeemedRole, id }
      } else if (peer === undefined) {
        return yield* crankError(
          "UNAUTHORIZED",
          "a certificate is signed for a join token (crank token create), or renewed over a connection whose certificate proves the identity; this one has neither",
        )
      } else if (peer.role === "controller" || peer.id !== id) {
        return yield* crankError("FORBIDDEN", `${peer.role} ${peer.id} may renew only its own certificate; it asked for ${id}`)
      } else {
        identity = { role: peer.role, id }
      }
      if (isRevoked(identity)) {
        return yield* crankError("FORBIDDEN", `the certificate of ${identity.role} ${identity.id} was revoked; it gets no other until the revocation lapses`)
      }
      const certificate = yield* Effect.mapError(
        authority.ca.signCsr(csr, { identity, now, lifetimeMs: authority.lifetimeMs ?? defaultLeafLifetimeMs }),
        signingFailure,
      )
      return { certificate, caCertificate: authority.ca.certificatePem, role: identity.role, id, notAfter: notAfterOf(certificate) }
    }),
  )
