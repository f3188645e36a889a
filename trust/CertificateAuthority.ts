/**
 * The controller's certificate authority: it signs the certificates of workers, clients and operators (and the
 * controller's own), and says whether a certificate is one of them.
 *
 * - `create({ now })`: a fresh CA, an ECDSA P-256 key and a self-signed certificate named `Crank CA <8 hex>`
 *   (CA:true with path length 0, keyCertSign and cRLSign, valid from a minute before `now` for 10 years).
 * - `ca.save(dir)`: writes `ca.key.pem` (PKCS#8, mode 0600 from its creation) and `ca.crt.pem` (0644); never
 *   overwrites either (`file-exists`).
 * - `load(dir)`: reads them back; a key file that group or others can read is refused (`file-exposed`), as is a
 *   key that does not match the certificate (`ca-key-mismatch`) or a certificate that is not a CA.
 * - `loadOrCreate(dir, now)`: the controller's start-up: load the CA if the directory has one, else create and
 *   save one (a second process racing on the same directory never overwrites the first one's CA: it loads it, or
 *   fails with `file-missing` if it looked between the two writes); an expired CA is `ca-expired` rather than a CA
 *   that signs certificates no peer would accept.
 * - `ca.signCsr(csrPem, { identity, now, lifetimeMs })`: checks the CSR's own signature (proof its sender holds the
 *   key) and signs a leaf for *the identity the caller decided*: the controller decides it from the join token,
 *   so whatever subject or SAN the CSR asks for is ignored. The leaf: CN = id, one URI SAN
 *   `spiffe://crank/<role>/<id>`, CA:false, keyUsage digitalSignature, extKeyUsage serverAuth + clientAuth (a
 *   worker both dials and serves), a random 128-bit serial, valid from `now - 1 min` (clock skew between hosts)
 *   to `now + lifetimeMs` (default 1 h), never past the CA's own notAfter.
 * - `ca.verifyLeaf(certPem, now)`: the identity a leaf names if this CA signed it and it is valid at `now`, else a
 *   `TrustError` whose reason is a `CertificateRefusal`.
 *
 * Time is always a parameter (`now`), read by the caller from Effect's `Clock`; serials and the CA name come from
 * node's CSPRNG (security randomness, not simulation). TLS itself checks chains during the handshake; `verifyLeaf`
 * is for certificates handed over as data (a renewal, a test, `crank` tooling).
 *
 * @example
 * ```ts
 * const { ca } = yield* CertificateAuthority.loadOrCreate(dataDir, new Date(yield* Clock.currentTimeMillis))
 * const certificatePem = yield* ca.signCsr(csrPem, { identity: { role: "worker", id: "hello-1k3" }, now })
 * const identity = yield* ca.verifyLeaf(certificatePem, now) // { role: "worker", id: "hello-1k3" }
 * ```
 */
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { identityOfCertificate } from "./certificateIdentity.ts"
import { type Identity, identityUri, idProblem, isIdentityRole } from "./identity.ts"
import { ensurePrivateDirectory, exists, privateMode, publicMode, readPrivateFile, readPublicFile, writeFileAtomically } from "./privateFile.ts"
import { TrustError, trustError } from "./TrustError.ts"
import { crypto, keyAlgorithm, signingAlgorithm, x509 } from "./x509.ts"

export { caCertificateFile, caKeyFile } from "./caFiles.ts"

import { caCertificateFile, caKeyFile } from "./caFiles.ts"

export const defaultCaLifetimeMs = 10 * 365 * 24 * 60 * 60 * 1000
export const defaultLeafLifetimeMs = 60 * 60 * 1000
/** How far back a certificate's notBefore goes, so a peer whose clock is a little behind accepts it. */
export const clockSkewMs = 60 * 1000

export interface SignOptions {
  /** Who the certificate is for, as the controller decided (from the token), never as the CSR asks. */
  readonly identity: Identity
  readonly now: Date
  /** Default `defaultLeafLifetimeMs` (1 h). */
  readonly lifetimeMs?: number
}

export interface CertificateAuthority {
  /** `Crank CA <8 hex>`: tells two CAs apart in logs and in `openssl x509 -text`. */
  readonly name: string
  /** The CA certificate: what every peer trusts (`ca` in node's TLS options). */
  readonly certificatePem: string
  readonly notAfter: Date
  readonly signCsr: (csrPem: string, options: SignOptions) => Effect.Effect<string, TrustError>
  readonly verifyLeaf: (certificatePem: string, now: Date) => Effect.Effect<Identity, TrustError>
  /** Writes `ca.key.pem` (0600) and `ca.crt.pem` (0644) into `dir` (made 0700 if missing); fails if either exists. */
  readonly save: (dir: string) => Effect.Effect<void, TrustError>
}

const failWith =
  (reason: TrustError["reason"], what: string) =>
  (error: unknown): TrustError =>
    error instanceof TrustError ? error : trustError(reason, `${what}: ${error instanceof Error ? error.message : String(error)}`)

/** A positive serial of 128 random bits (RFC 5280 asks for at most 20 octets, positive and unpredictable). */
const randomSerial = (): string => {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes.toString("hex")
}

const pemOfPrivateKey = async (key: CryptoKey): Promise<string> => x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY")

const keyMatchesCertificate = (keyPem: string, certificate: x509.X509Certificate): boolean => {
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" })
  return fromKey.equals(Buffer.from(certificate.publicKey.rawData))
}

const isCa = (certificate: x509.X509Certificate): boolean => certificate.getExtension(x509.BasicConstraintsExtension)?.ca === true

/** Builds the CA from its parts; `keyPem` stays in this closure (for `save`) and is never a property. */
const fromParts = async (certificate: x509.X509Certificate, keyPem: string): Promise<CertificateAuthority> => {
  const signingKey = await crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(keyPem), keyAlgorithm, false, ["sign"])
  const authorityKeyIdentifier = await x509.AuthorityKeyIdentifierExtension.create(certificate, false, crypto)
  const certificatePem = certificate.toString("pem")
  const name = certificate.subjectName.getField("CN")[0] ?? certificate.subject

  const signCsr = (csrPem: string, options: SignOptions): Effect.Effect<string, TrustError> =>
    Effect.tryPromise({
      try: async () => {
        const { identity, now } = options
        const lifetimeMs = options.lifetimeMs ?? defaultLeafLifetimeMs
        if (!isIdentityRole(identity.role)) throw trustError("invalid-argument", `unknown role ${JSON.stringify(identity.role)}`)
        const problem = idProblem(identity.id)
        if (problem !== undefined) throw trustError("invalid-argument", problem)
        if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0)
          throw trustError("invalid-argument", `a certificate lifetime must be positive; got ${lifetimeMs} ms`)
        let csr: x509.Pkcs10CertificateRequest
        try {
          csr = new x509.Pkcs10CertificateRequest(csrPem)
        } catch (error) {
          throw trustError("invalid-csr", `the CSR does not parse: ${(error as Error).message}`)
        }
        const algorithm = csr.publicKey.algorithm as EcKeyAlgorithm
        if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
          throw trustError("invalid-csr", `the CSR's key is ${algorithm.name} ${algorithm.namedCurve ?? ""}; Crank certificates use ECDSA P-256`)
        }
        if (!(await csr.verify(crypto)))
          throw trustError("invalid-csr", "the CSR's signature does not verify: its sender does not hold the key it asks a certificate for")
        if (now.getTime() >= certificate.notAfter.getTime()) throw trustError("ca-expired", `the CA ${name} expired at ${certificate.notAfter.toISOString()}`)
        const notAfter = new Date(Math.min(now.getTime() + lifetimeMs, certificate.notAfter.getTime()))
        const leaf = await x509.X509CertificateGenerator.create(
          {
            serialNumber: randomSerial(),
            subject: [{ CN: [identity.id] }],
            issuer: certificate.subjectName,
            notBefore: new Date(now.getTime() - clockSkewMs),
            notAfter,
            publicKey: csr.publicKey,
            signingKey,
            signingAlgorithm,
            extensions: [
              new x509.BasicConstraintsExtension(false, undefined, true),
              new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
              new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
              new x509.SubjectAlternativeNameExtension([{ type: "url", value: identityUri(identity) }]),
              await x509.SubjectKeyIdentifierExtension.create(csr.publicKey, false, crypto),
              authorityKeyIdentifier,
            ],
          },
          crypto,
        )
        return leaf.toString("pem")
      },
      catch: failWith("invalid-csr", "signing the CSR"),
    })

  const verifyLeaf = (leafPem: string, now: Date): Effect.Effect<Identity, TrustError> =>
    Effect.tryPromise({
      try: async () => {
        let leaf: x509.X509Certificate
        try {
          leaf = new x509.X509Certificate(leafPem)
        } catch (error) {
          throw trustError("malformed-certificate", `the certificate does not parse: ${(error as Error).message}`)
        }
        // The issuer's name first: a signature check against a key that did not sign is wasted work.
        const signed = leaf.issuer === certificate.subject && (await leaf.verify({ publicKey: certificate, signatureOnly: true }, crypto))
        if (!signed) throw trustError("not-signed-by-ca", `the certificate of ${leaf.subject} (issued by ${leaf.issuer}) is not signed by ${name}`)
        if (isCa(leaf)) throw trustError("not-a-leaf", `${leaf.subject} is a CA certificate, not a peer's`)
        if (now.getTime() < leaf.notBefore.getTime()) throw trustError("not-yet-valid", `the certificate is valid from ${leaf.notBefore.toISOString()}`)
        if (now.getTime() > leaf.notAfter.getTime()) throw trustError("expired", `the certificate expired at ${leaf.notAfter.toISOString()}`)
        const identity = identityOfCertificate(leaf)
        if (Result.isFailure(identity)) throw identity.failure
        return identity.success
      },
      catch: failWith("malformed-certificate", "verifying the certificate"),
    })

  const save = (dir: string): Effect.Effect<void, TrustError> =>
    Effect.gen(function* () {
      yield* ensurePrivateDirectory(dir)
      // The key first: a directory with a certificate and no key reads as a broken CA, never as a fresh start.
      yield* writeFileAtomically(path.join(dir, caKeyFile), keyPem, { mode: privateMode, replace: false })
      yield* writeFileAtomically(path.join(dir, caCertificateFile), certificatePem, { mode: publicMode, replace: false })
    })

  return { name, certificatePem, notAfter: certificate.notAfter, signCsr, verifyLeaf, save }
}

export interface CreateOptions {
  readonly now: Date
  /** Default `defaultCaLifetimeMs` (10 years). */
  readonly lifetimeMs?: number
}

export const create = (options: CreateOptions): Effect.Effect<CertificateAuthority, TrustError> =>
  Effect.tryPromise({
    try: async () => {
      const lifetimeMs = options.lifetimeMs ?? defaultCaLifetimeMs
      if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) throw trustError("invalid-argument", `a CA lifetime must be positive; got ${lifetimeMs} ms`)
      const keys = (await crypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"])) as CryptoKeyPair
      const now = options.now.getTime()
      const certificate = await x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: randomSerial(),
          name: [{ CN: [`Crank CA ${randomBytes(4).toString("hex")}`] }],
          notBefore: new Date(now - clockSkewMs),
          notAfter: new Date(now + lifetimeMs),
          keys,
          signingAlgorithm,
          extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
            await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
          ],
        },
        crypto,
      )
      return fromParts(certificate, await pemOfPrivateKey(keys.privateKey))
    },
    catch: failWith("invalid-argument", "creating a CA"),
  })

export const load = (dir: string): Effect.Effect<CertificateAuthority, TrustError> =>
  Effect.gen(function* () {
    const keyPath = path.join(dir, caKeyFile)
    const certificatePath = path.join(dir, caCertificateFile)
    const keyPem = yield* readPrivateFile(keyPath)
    const certificatePem = yield* readPublicFile(certificatePath)
    return yield* Effect.tryPromise({
      try: async () => {
        let certificate: x509.X509Certificate
        try {
          certificate = new x509.X509Certificate(certificatePem)
        } catch (error) {
          throw trustError("file-corrupt", `${certificatePath} is not a certificate: ${(error as Error).message}`)
        }
        if (!isCa(certificate)) throw trustError("file-corrupt", `${certificatePath} is not a CA certificate (no CA:true)`)
        let matches: boolean
        try {
          matches = keyMatchesCertificate(keyPem, certificate)
        } catch (error) {
          throw trustError("file-corrupt", `${keyPath} is not a private key: ${(error as Error).message}`)
        }
        if (!matches) throw trustError("ca-key-mismatch", `${keyPath} is not the key of the certificate in ${certificatePath}`)
        return fromParts(certificate, keyPem)
      },
      catch: failWith("file-corrupt", `loading the CA from ${dir}`),
    })
  })

export interface LoadedOrCreated {
  readonly ca: CertificateAuthority
  /** True when this call made the CA (worth a log line: every peer needs the new `ca.crt.pem`). */
  readonly created: boolean
}

export const loadOrCreate = (dir: string, now: Date): Effect.Effect<LoadedOrCreated, TrustError> =>
  Effect.gen(function* () {
    const hasKey = exists(path.join(dir, caKeyFile))
    const hasCertificate = exists(path.join(dir, caCertificateFile))
    let result: LoadedOrCreated
    if (!hasKey && !hasCertificate) {
      const fresh = yield* create({ now })
      const saved = yield* Effect.result(fresh.save(dir))
      // Another process saved its CA between our look and our write: use that one, so there is one CA.
      if (Result.isFailure(saved) && saved.failure.reason !== "file-exists") return yield* Effect.fail(saved.failure)
      result = Result.isSuccess(saved) ? { ca: fresh, created: true } : { ca: yield* load(dir), created: false }
    } else if (hasKey !== hasCertificate) {
      const missing = hasKey ? caCertificateFile : caKeyFile
      return yield* Effect.fail(
        trustError("file-missing", `${dir} has half a CA: ${missing} is missing (restore it, or move the directory away to start a new CA)`),
      )
    } else {
      result = { ca: yield* load(dir), created: false }
    }
    if (now.getTime() >= result.ca.notAfter.getTime()) {
      return yield* Effect.fail(trustError("ca-expired", `the CA ${result.ca.name} in ${dir} expired at ${result.ca.notAfter.toISOString()}; rotate it`))
    }
    return result
  })
