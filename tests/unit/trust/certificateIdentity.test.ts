import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { identityOfCertificate, identityOfDer } from "../../../trust/certificateIdentity.ts"
import { crypto, signingAlgorithm, x509 } from "../../../trust/x509.ts"

const withSans = async (names: x509.JsonGeneralNames | undefined): Promise<x509.X509Certificate> => {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair
  return x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=peer",
    keys,
    signingAlgorithm,
    extensions: names === undefined ? [] : [new x509.SubjectAlternativeNameExtension(names)],
  })
}

const reasonOf = (result: Result.Result<unknown, { reason: string }>): string | undefined => (Result.isFailure(result) ? result.failure.reason : undefined)

describe("identityOfCertificate", () => {
  it("reads the identity from the one URI SAN, ignoring DNS and IP names beside it", async () => {
    const certificate = await withSans([
      { type: "dns", value: "localhost" },
      { type: "url", value: "spiffe://crank/client/cli-7" },
      { type: "ip", value: "127.0.0.1" },
    ])
    expect(Result.getOrThrow(identityOfCertificate(certificate))).toEqual({ role: "client", id: "cli-7" })
    expect(Result.getOrThrow(identityOfDer(new Uint8Array(certificate.rawData)))).toEqual({ role: "client", id: "cli-7" })
  })

  it("finds no identity without a URI SAN", async () => {
    expect(reasonOf(identityOfCertificate(await withSans(undefined)))).toBe("no-identity")
    expect(reasonOf(identityOfCertificate(await withSans([{ type: "dns", value: "worker.example" }])))).toBe("no-identity")
  })

  it("refuses two URIs, or a URI that is not a Crank identity", async () => {
    const two = await withSans([
      { type: "url", value: "spiffe://crank/worker/a" },
      { type: "url", value: "spiffe://crank/operator/b" },
    ])
    expect(reasonOf(identityOfCertificate(two))).toBe("invalid-identity")
    expect(reasonOf(identityOfCertificate(await withSans([{ type: "url", value: "spiffe://example.org/worker/a" }])))).toBe("invalid-identity")
    expect(reasonOf(identityOfCertificate(await withSans([{ type: "url", value: "spiffe://crank/worker/a/../b" }])))).toBe("invalid-identity")
  })

  it("says a certificate that does not parse is malformed", () => {
    expect(reasonOf(identityOfDer(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])))).toBe("malformed-certificate")
  })
})
