/**
 * A certificate signing request: the public half of a peer's key, signed by its private half, sent to the controller
 * with a join token so the CA can sign a certificate for it (`CertificateAuthority.signCsr`).
 *
 * `createCsr(keyPair, identityHint)` puts the hint in the CSR (CN = id, a URI SAN `spiffe://crank/<role>/<id>`) so a
 * person reading the CSR sees what the peer hoped for; the CA ignores both and uses the identity the controller
 * decided from the token. An invalid hint fails with `invalid-argument` before anything is signed.
 *
 * @example
 * ```ts
 * const csrPem = yield* createCsr(keyPair, { role: "worker", id: "hello-1k3" }) // "-----BEGIN CERTIFICATE REQUEST-----..."
 * ```
 */
import * as Effect from "effect/Effect"
import { type Identity, identityUri, idProblem, isIdentityRole } from "./identity.ts"
import type { KeyPair } from "./keyPair.ts"
import { type TrustError, trustError } from "./TrustError.ts"
import { crypto, signingAlgorithm, x509 } from "./x509.ts"

export const createCsr = (keyPair: KeyPair, identityHint: Identity): Effect.Effect<string, TrustError> => {
  if (!isIdentityRole(identityHint.role)) return Effect.fail(trustError("invalid-argument", `unknown role ${JSON.stringify(identityHint.role)}`))
  const problem = idProblem(identityHint.id)
  if (problem !== undefined) return Effect.fail(trustError("invalid-argument", problem))
  return Effect.promise(async () => {
    const csr = await x509.Pkcs10CertificateRequestGenerator.create(
      {
        name: [{ CN: [identityHint.id] }],
        keys: keyPair.keys,
        signingAlgorithm,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: identityUri(identityHint) }])],
      },
      crypto,
    )
    return csr.toString("pem")
  })
}
