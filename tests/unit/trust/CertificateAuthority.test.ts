import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as CertificateAuthority from "../../../trust/CertificateAuthority.ts"
import { createCsr } from "../../../trust/csr.ts"
import type { Identity } from "../../../trust/identity.ts"
import { generateKeyPair } from "../../../trust/keyPair.ts"
import type { TrustError } from "../../../trust/TrustError.ts"
import { crypto, signingAlgorithm, x509 } from "../../../trust/x509.ts"
import { useTempDirs } from "./tempDirs.ts"

const run = <A>(effect: Effect.Effect<A, TrustError>): Promise<A> => Effect.runPromise(effect)
const refusal = (effect: Effect.Effect<unknown, TrustError>): Promise<TrustError> => Effect.runPromise(Effect.flip(effect))

const now = new Date("2030-01-15T12:00:00.000Z")
const hour = 60 * 60 * 1000
const worker: Identity = { role: "worker", id: "hello-1k3" }
const modeOf = (file: string): number => fs.statSync(file).mode & 0o777

/** A leaf for `identity`, signed by `ca`, from a fresh key pair whose CSR asks for `hint`. */
const leafFor = async (ca: CertificateAuthority.CertificateAuthority, identity: Identity, hint: Identity = identity, at = now, lifetimeMs?: number) => {
  const keyPair = await Effect.runPromise(generateKeyPair())
  const csrPem = await run(createCsr(keyPair, hint))
  return run(ca.signCsr(csrPem, { identity, now: at, ...(lifetimeMs === undefined ? {} : { lifetimeMs }) }))
}

/** A self-signed certificate that claims a Crank identity, made without any CA. */
const selfSigned = async (name: string, sanUri: string): Promise<string> => {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    signingAlgorithm,
    notBefore: new Date(now.getTime() - hour),
    notAfter: new Date(now.getTime() + hour),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: sanUri }])],
  })
  return certificate.toString("pem")
}

describe("CertificateAuthority: create, save, load", () => {
  const tempDir = useTempDirs()

  it("creates a self-signed CA named 'Crank CA <hex>' that may sign certificates, valid for 10 years", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    expect(ca.name).toMatch(/^Crank CA [0-9a-f]{8}$/)
    const certificate = new x509.X509Certificate(ca.certificatePem)
    expect(certificate.subject).toBe(`CN=${ca.name}`)
    expect(certificate.issuer).toBe(certificate.subject)
    expect(await certificate.verify({ signatureOnly: true })).toBe(true)
    expect(certificate.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true)
    const usages = certificate.getExtension(x509.KeyUsagesExtension)!.usages
    expect(usages & x509.KeyUsageFlags.keyCertSign).toBe(x509.KeyUsageFlags.keyCertSign)
    expect(certificate.notAfter.getTime() - now.getTime()).toBe(CertificateAuthority.defaultCaLifetimeMs)
    expect((await run(CertificateAuthority.create({ now }))).name).not.toBe(ca.name)
  })

  it("saves the key with mode 0600 and the certificate 0644, and loads the same CA back", async () => {
    const dir = path.join(tempDir(), "data")
    const ca = await run(CertificateAuthority.create({ now }))
    await run(ca.save(dir))
    const keyFile = path.join(dir, CertificateAuthority.caKeyFile)
    expect(modeOf(keyFile)).toBe(0o600)
    expect(modeOf(path.join(dir, CertificateAuthority.caCertificateFile))).toBe(0o644)
    expect(modeOf(dir)).toBe(0o700)
    expect(fs.readFileSync(keyFile, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(fs.readdirSync(dir).sort()).toEqual([CertificateAuthority.caCertificateFile, CertificateAuthority.caKeyFile])

    const loaded = await run(CertificateAuthority.load(dir))
    expect(loaded.certificatePem).toBe(ca.certificatePem)
    expect(loaded.name).toBe(ca.name)
    // Same key: what the loaded CA signs, the original accepts.
    expect(await run(ca.verifyLeaf(await leafFor(loaded, worker), now))).toEqual(worker)
  })

  it("never overwrites a saved CA", async () => {
    const dir = tempDir()
    const first = await run(CertificateAuthority.create({ now }))
    await run(first.save(dir))
    const second = await run(CertificateAuthority.create({ now }))
    expect((await refusal(second.save(dir))).reason).toBe("file-exists")
    expect((await run(CertificateAuthority.load(dir))).name).toBe(first.name)
  })

  it("loadOrCreate creates a CA on first start and reuses it on restart", async () => {
    const dir = tempDir()
    const first = await run(CertificateAuthority.loadOrCreate(dir, now))
    expect(first.created).toBe(true)
    const again = await run(CertificateAuthority.loadOrCreate(dir, new Date(now.getTime() + 24 * hour)))
    expect(again.created).toBe(false)
    expect(again.ca.certificatePem).toBe(first.ca.certificatePem)
  })

  it("refuses a key file that group or others can read, saying how to fix it", async () => {
    const dir = tempDir()
    await run((await run(CertificateAuthority.create({ now }))).save(dir))
    const keyFile = path.join(dir, CertificateAuthority.caKeyFile)
    for (const mode of [0o644, 0o640, 0o604]) {
      fs.chmodSync(keyFile, mode)
      const error = await refusal(CertificateAuthority.load(dir))
      expect(error.reason).toBe("file-exposed")
      expect(error.message).toContain(`chmod 600 ${keyFile}`)
      expect((await refusal(CertificateAuthority.loadOrCreate(dir, now))).reason).toBe("file-exposed")
    }
    fs.chmodSync(keyFile, 0o600)
    expect((await run(CertificateAuthority.load(dir))).name).toMatch(/^Crank CA/)
  })

  it("refuses a key file that is a symbolic link", async () => {
    const dir = tempDir()
    const elsewhere = tempDir()
    await run((await run(CertificateAuthority.create({ now }))).save(elsewhere))
    fs.symlinkSync(path.join(elsewhere, CertificateAuthority.caKeyFile), path.join(dir, CertificateAuthority.caKeyFile))
    fs.copyFileSync(path.join(elsewhere, CertificateAuthority.caCertificateFile), path.join(dir, CertificateAuthority.caCertificateFile))
    expect((await refusal(CertificateAuthority.load(dir))).reason).toBe("file-exposed")
  })

  it("refuses half a CA, a key that is not the certificate's, and an expired CA", async () => {
    const half = tempDir()
    await run((await run(CertificateAuthority.create({ now }))).save(half))
    fs.rmSync(path.join(half, CertificateAuthority.caCertificateFile))
    const missing = await refusal(CertificateAuthority.loadOrCreate(half, now))
    expect(missing.reason).toBe("file-missing")
    expect(missing.message).toContain(CertificateAuthority.caCertificateFile)

    const [a, b] = [tempDir(), tempDir()]
    await run((await run(CertificateAuthority.create({ now }))).save(a))
    await run((await run(CertificateAuthority.create({ now }))).save(b))
    fs.rmSync(path.join(a, CertificateAuthority.caKeyFile))
    fs.copyFileSync(path.join(b, CertificateAuthority.caKeyFile), path.join(a, CertificateAuthority.caKeyFile))
    fs.chmodSync(path.join(a, CertificateAuthority.caKeyFile), 0o600)
    expect((await refusal(CertificateAuthority.load(a))).reason).toBe("ca-key-mismatch")

    const old = tempDir()
    await run((await run(CertificateAuthority.create({ now, lifetimeMs: hour }))).save(old))
    expect((await refusal(CertificateAuthority.loadOrCreate(old, new Date(now.getTime() + 2 * hour)))).reason).toBe("ca-expired")
  })
})

describe("CertificateAuthority: signing CSRs", () => {
  it("signs a leaf that names the identity, for serverAuth and clientAuth, valid from now - 1 min to now + 1 h", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    const leafPem = await leafFor(ca, worker)
    const leaf = new x509.X509Certificate(leafPem)
    expect(leaf.subject).toBe("CN=hello-1k3")
    expect(leaf.issuer).toBe(`CN=${ca.name}`)
    expect(leaf.notBefore.getTime()).toBe(now.getTime() - CertificateAuthority.clockSkewMs)
    expect(leaf.notAfter.getTime()).toBe(now.getTime() + hour)
    expect(leaf.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false)
    expect(leaf.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature)
    expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])
    expect(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON()).toEqual([{ type: "url", value: "spiffe://crank/worker/hello-1k3" }])
    expect(await run(ca.verifyLeaf(leafPem, now))).toEqual(worker)
    const other = new x509.X509Certificate(await leafFor(ca, worker))
    expect(other.serialNumber).not.toBe(leaf.serialNumber)
    expect(leaf.serialNumber).toMatch(/^[0-9a-f]{32}$/)
  })

  it("ignores the identity the CSR asks for: the certificate names the identity the CA was given", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    const leafPem = await leafFor(ca, worker, { role: "operator", id: "root" })
    const leaf = new x509.X509Certificate(leafPem)
    expect(leaf.subject).toBe("CN=hello-1k3")
    expect(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON()).toEqual([{ type: "url", value: "spiffe://crank/worker/hello-1k3" }])
    expect(await run(ca.verifyLeaf(leafPem, now))).toEqual(worker)
  })

  it("honours a lifetime, but never past the CA's own expiry", async () => {
    const ca = await run(CertificateAuthority.create({ now, lifetimeMs: 2 * hour }))
    const short = new x509.X509Certificate(await leafFor(ca, worker, worker, now, 5 * 60 * 1000))
    expect(short.notAfter.getTime()).toBe(now.getTime() + 5 * 60 * 1000)
    const long = new x509.X509Certificate(await leafFor(ca, worker, worker, now, 10 * hour))
    expect(long.notAfter.getTime()).toBe(ca.notAfter.getTime())
  })

  it("refuses a CSR whose signature does not verify, one that is not a CSR, and a key that is not P-256", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    const csrPem = await run(createCsr(await Effect.runPromise(generateKeyPair()), worker))
    const der = new Uint8Array(x509.PemConverter.decodeFirst(csrPem))
    der[der.length - 1]! ^= 0x01 // the last byte of the signature
    const tampered = x509.PemConverter.encode(der.buffer, "CERTIFICATE REQUEST")
    const bad = await refusal(ca.signCsr(tampered, { identity: worker, now }))
    expect(bad.reason).toBe("invalid-csr")
    expect(bad.message).toMatch(/does not verify/)
    expect((await refusal(ca.signCsr("not a csr", { identity: worker, now }))).reason).toBe("invalid-csr")

    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"])) as CryptoKeyPair
    const p384 = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=w", keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } })
    const curve = await refusal(ca.signCsr(p384.toString("pem"), { identity: worker, now }))
    expect(curve.reason).toBe("invalid-csr")
    expect(curve.message).toMatch(/P-256/)
  })

  it("refuses an invalid identity or lifetime before signing", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    const csrPem = await run(createCsr(await Effect.runPromise(generateKeyPair()), worker))
    expect((await refusal(ca.signCsr(csrPem, { identity: { role: "worker", id: "../x" }, now }))).reason).toBe("invalid-argument")
    expect((await refusal(ca.signCsr(csrPem, { identity: worker, now, lifetimeMs: 0 }))).reason).toBe("invalid-argument")
    expect((await refusal(createCsr(await Effect.runPromise(generateKeyPair()), { role: "worker", id: "" }))).reason).toBe("invalid-argument")
  })
})

describe("CertificateAuthority: verifying leaves", () => {
  it("refuses a certificate from another CA, a self-signed one, and one that borrows the CA's name", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    const otherCa = await run(CertificateAuthority.create({ now }))
    const foreign = await refusal(ca.verifyLeaf(await leafFor(otherCa, worker), now))
    expect(foreign.reason).toBe("not-signed-by-ca")
    expect(foreign.message).toContain(ca.name)
    expect((await refusal(ca.verifyLeaf(await selfSigned("CN=hello-1k3", "spiffe://crank/operator/root"), now))).reason).toBe("not-signed-by-ca")
    // Same issuer name as the CA, different key: the signature decides.
    expect((await refusal(ca.verifyLeaf(await selfSigned(`CN=${ca.name}`, "spiffe://crank/operator/root"), now))).reason).toBe("not-signed-by-ca")
  })

  it("refuses the CA's own certificate as a peer's", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    expect((await refusal(ca.verifyLeaf(ca.certificatePem, now))).reason).toBe("not-a-leaf")
  })

  it("refuses a leaf outside its validity, allowing a minute of clock skew before it", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    const leafPem = await leafFor(ca, worker)
    const at = (offsetMs: number) => new Date(now.getTime() + offsetMs)
    expect(await run(ca.verifyLeaf(leafPem, at(-30_000)))).toEqual(worker)
    expect(await run(ca.verifyLeaf(leafPem, at(hour)))).toEqual(worker)
    const early = await refusal(ca.verifyLeaf(leafPem, at(-2 * 60_000)))
    expect(early.reason).toBe("not-yet-valid")
    const late = await refusal(ca.verifyLeaf(leafPem, at(hour + 1_000)))
    expect(late.reason).toBe("expired")
    expect(late.message).toContain(new Date(now.getTime() + hour).toISOString())
  })

  it("refuses what is not a certificate", async () => {
    const ca = await run(CertificateAuthority.create({ now }))
    expect((await refusal(ca.verifyLeaf("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", now))).reason).toBe("malformed-certificate")
  })
})
