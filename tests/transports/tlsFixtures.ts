/**
 * Certificates for TLS tests, made with trust/ as the controller makes them: a CA, and credentials it signs for an
 * identity (at a given time, to make an expired one), one from another CA, and a self-signed one. The handshake
 * (OpenSSL) checks dates against the real clock, so "now" here is the real time.
 */
import { Effect } from "effect"
import * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import { createCsr } from "../../trust/csr.ts"
import type { Identity } from "../../trust/identity.ts"
import { generateKeyPair } from "../../trust/keyPair.ts"
import type { Credentials } from "../../trust/tlsOptions.ts"
import { crypto, signingAlgorithm, x509 } from "../../trust/x509.ts"

export const makeCa = (): Promise<CertificateAuthority.CertificateAuthority> => Effect.runPromise(CertificateAuthority.create({ now: new Date() }))

/** Credentials `ca` signs for `identity` at `now`, trusting `trustedCa` (the mesh's CA unless said otherwise). */
export const issue = async (
  ca: CertificateAuthority.CertificateAuthority,
  identity: Identity,
  options: { readonly now?: Date; readonly trustedCa?: CertificateAuthority.CertificateAuthority } = {},
): Promise<Credentials> => {
  const keyPair = await Effect.runPromise(generateKeyPair())
  const now = options.now ?? new Date()
  const certificatePem = await Effect.runPromise(Effect.flatMap(createCsr(keyPair, identity), (csr) => ca.signCsr(csr, { identity, now })))
  return { privateKeyPem: keyPair.privateKeyPem, certificatePem, caCertificatePem: (options.trustedCa ?? ca).certificatePem }
}

/** A certificate naming `identity` that nobody signed but its own key, trusting `trustedCa`. */
export const selfSigned = async (identity: Identity, trustedCa: CertificateAuthority.CertificateAuthority): Promise<Credentials> => {
  const keyPair = await Effect.runPromise(generateKeyPair())
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: `CN=${identity.id}`,
      keys: keyPair.keys,
      signingAlgorithm,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://crank/${identity.role}/${identity.id}` }])],
    },
    crypto,
  )
  return { privateKeyPem: keyPair.privateKeyPem, certificatePem: certificate.toString("pem"), caCertificatePem: trustedCa.certificatePem }
}

/** Three hours ago: a certificate signed then (1 h lifetime) has expired. */
export const hoursAgo = (hours: number): Date => new Date(Date.now() - hours * 60 * 60 * 1000)
