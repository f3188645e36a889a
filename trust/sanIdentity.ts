/**
 * The identity a certificate names, by the one rule every reader applies: its subjectAltName holds exactly one URI,
 * and that URI parses as `spiffe://crank/<role>/<id>` (identity.ts). No URI SAN is `no-identity`; two URIs, or one
 * that is not a Crank identity, is `invalid-identity`: a peer is never given the benefit of the doubt. Other SAN
 * kinds (DNS, IP) are ignored. Nothing here checks signatures or time.
 *
 * `identityOfDer` reads a TLS peer's certificate with Node's own `X509Certificate` (native code, no library), so the
 * WebSocket transport's data path never loads @peculiar/x509 (a third of a second of start-up for every CLI command);
 * `certificateIdentity.ts` applies the same rule to the library's certificates, for the CA.
 */
import { X509Certificate } from "node:crypto"
import * as Result from "effect/Result"
import { type Identity, parseIdentityUri } from "./identity.ts"
import { type TrustError, trustError } from "./TrustError.ts"

/** The identity named by a certificate whose URI SANs are `uris`. */
export const identityOfUris = (uris: ReadonlyArray<string>): Result.Result<Identity, TrustError> => {
  const [uri, ...more] = uris
  if (uri === undefined) return Result.fail(trustError("no-identity", "the certificate has no URI subjectAltName naming a Crank identity"))
  if (more.length > 0) return Result.fail(trustError("invalid-identity", `the certificate names ${uris.length} URIs; a Crank identity is exactly one`))
  const identity = parseIdentityUri(uri)
  if (identity === undefined)
    return Result.fail(trustError("invalid-identity", `the certificate's URI ${JSON.stringify(uri.slice(0, 80))} is not a Crank identity`))
  return Result.succeed(identity)
}

/**
 * The URIs in Node's rendering of a subjectAltName (`URI:spiffe://crank/worker/w1, DNS:a.example`). Node quotes an
 * entry holding a comma or a quote (`URI:"..."`): such an entry is kept quoted, and then is no Crank identity.
 */
const urisOf = (subjectAltName: string | undefined): Array<string> =>
  (subjectAltName ?? "")
    .split(/, (?=[A-Za-z ]+:)/)
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length))

/** The identity in a certificate's DER bytes (`socket.getPeerCertificate().raw`). */
export const identityOfDer = (der: Uint8Array): Result.Result<Identity, TrustError> => {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(der)
  } catch (error) {
    return Result.fail(trustError("malformed-certificate", `the certificate does not parse: ${(error as Error).message}`))
  }
  return identityOfUris(urisOf(certificate.subjectAltName))
}
