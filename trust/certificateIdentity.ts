/**
 * The identity a certificate of @peculiar/x509 names (`CertificateAuthority.verifyLeaf`), by the rule of
 * `sanIdentity.ts`, which also reads TLS peers' certificates with Node's own parser.
 */
import * as Result from "effect/Result"
import type { Identity } from "./identity.ts"
import { identityOfUris } from "./sanIdentity.ts"
import { type TrustError, trustError } from "./TrustError.ts"
import { x509 } from "./x509.ts"

export const identityOfCertificate = (certificate: x509.X509Certificate): Result.Result<Identity, TrustError> => {
  let uris: string[]
  try {
    const sans = certificate.getExtensions(x509.SubjectAlternativeNameExtension)
    uris = sans.flatMap((san) => san.names.items.filter((name) => name.type === "url").map((name) => name.value))
  } catch (error) {
    // x509 throws on SAN kinds it cannot represent (otherName, X.400...): not a certificate Crank issued.
    return Result.fail(trustError("invalid-identity", `the certificate's subjectAltName does not parse: ${(error as Error).message}`))
  }
  return identityOfUris(uris)
}

export { identityOfDer } from "./sanIdentity.ts"
