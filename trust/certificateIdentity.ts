/**
 * The identity a certificate names, read from its URI SAN: the one rule shared by `CertificateAuthority.verifyLeaf`
 * (a certificate handed over as PEM) and `identityOfPeer` (the peer of a TLS socket, whose chain TLS has verified).
 *
 * A certificate names an identity when its subjectAltName holds exactly one URI and that URI parses as
 * `spiffe://crank/<role>/<id>` (see `identity.ts`). No URI SAN is `no-identity`; two URIs, or one that is not a
 * Crank identity, is `invalid-identity`: a peer is never given the benefit of the doubt. Other SAN kinds
 * (DNS, IP) are ignored. Nothing here checks signatures or time.
 *
 * @example
 * ```ts
 * const peer = socket.getPeerCertificate()
 * const identity = identityOfDer(peer.raw) // Result<Identity, TrustError>
 * ```
 */
import * as Result from "effect/Result"
import { type Identity, parseIdentityUri } from "./identity.ts"
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
  const [uri, ...more] = uris
  if (uri === undefined) return Result.fail(trustError("no-identity", "the certificate has no URI subjectAltName naming a Crank identity"))
  if (more.length > 0) return Result.fail(trustError("invalid-identity", `the certificate names ${uris.length} URIs; a Crank identity is exactly one`))
  const identity = parseIdentityUri(uri)
  if (identity === undefined)
    return Result.fail(trustError("invalid-identity", `the certificate's URI ${JSON.stringify(uri.slice(0, 80))} is not a Crank identity`))
  return Result.succeed(identity)
}

/** The same, from the DER bytes a TLS socket gives (`socket.getPeerCertificate().raw`). */
export const identityOfDer = (der: Uint8Array): Result.Result<Identity, TrustError> => {
  let certificate: x509.X509Certificate
  try {
    // A copy: node hands out views into a shared pool, and x509 wants bytes of their own.
    certificate = new x509.X509Certificate(new Uint8Array(der))
  } catch (error) {
    return Result.fail(trustError("malformed-certificate", `the certificate does not parse: ${(error as Error).message}`))
  }
  return identityOfCertificate(certificate)
}
