/**
 * How a process gets a certificate from its controller: it makes its own key pair (the private key never leaves
 * the process), a CSR, and asks `certificate.sign_csr` over the transport in its context.
 *
 * - Joining: with a join token, over a TLS connection that presents no certificate; the transport checks the
 *   controller against the CA fingerprint the token carried (src/trust/joinToken.ts), and the CA certificate the
 *   controller answers with must have that fingerprint too.
 * - Renewing: without a token, over a connection that presents the certificate held now (the transport reads the
 *   process's `CredentialsCell`); the controller renews only the identity that certificate proves.
 *
 * Refusals come back as the controller typed them (`UNAUTHORIZED` for a bad token, `FORBIDDEN` for an id in use);
 * a controller that cannot be reached, or that TLS refused, is `UNAVAILABLE` with the transport's reason.
 *
 * @example
 * ```ts
 * const held = yield* requestCertificate({ controller: "wss://10.0.0.5:7070", id: "n1", hint: "worker", token, caFingerprint })
 * ```
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Client from "../../actors/Client.ts"
import { type CrankError, crankError } from "../../capabilities/CrankError.ts"
import { CertificateSignCsr } from "../../capabilities/crank.ts"
import type { Transport } from "../../transports/Transport.ts"
import { caFingerprintOf } from "../../transports/WebSocketTransport.ts"
import { createCsr } from "../../trust/csr.ts"
import type { IdentityRole } from "../../trust/identity.ts"
import { generateKeyPair } from "../../trust/keyPair.ts"
import type { HeldCertificate } from "./credentialsCell.ts"

export interface CertificateRequest {
  /** The controller's `wss://` address. */
  readonly controller: string
  /** The id asked for: a node's id for a worker process. */
  readonly id: string
  /** What the CSR says it hopes to be; the controller decides from the token (or the certificate renewed). */
  readonly hint: IdentityRole
  /** A join token (`crank1.<id>.<secret>`); absent: a renewal of the certificate the transport presents. */
  readonly token?: string
  /** The CA fingerprint the join token carried: the CA the controller answers with must be that one. */
  readonly caFingerprint?: string
  /** Default 10 s. */
  readonly timeoutMs?: number
}

export const requestCertificate = (request: CertificateRequest): Effect.Effect<HeldCertificate, CrankError, Transport> =>
  Effect.scoped(
    Effect.gen(function* () {
      const keyPair = yield* generateKeyPair()
      const csr = yield* Effect.mapError(createCsr(keyPair, { role: request.hint, id: request.id }), (error) => crankError("INVALID_INPUT", error.message))
      const client = yield* Client.make({ controller: request.controller, direct: false, timeoutMs: request.timeoutMs ?? 10_000 }).pipe(
        Effect.mapError((error) => crankError("UNAVAILABLE", `cannot reach the controller at ${request.controller} to get a certificate: ${error.message}`)),
      )
      const answer = yield* client.invoke(CertificateSignCsr, { csr, id: request.id, ...(request.token === undefined ? {} : { token: request.token }) })
      if (request.caFingerprint !== undefined && caFingerprintOf(answer.caCertificate) !== request.caFingerprint.toLowerCase()) {
        return yield* crankError("UNAUTHORIZED", `the controller answered with a CA other than the join token's (${request.caFingerprint}); refusing it`)
      }
      return {
        identity: { role: answer.role, id: answer.id },
        credentials: { privateKeyPem: keyPair.privateKeyPem, certificatePem: answer.certificate, caCertificatePem: answer.caCertificate },
        obtainedAt: yield* Clock.currentTimeMillis,
        notAfter: answer.notAfter,
      }
    }),
  )
