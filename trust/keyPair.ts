/**
 * A peer's own key pair: made in the process that uses it, and never sent anywhere (only its CSR is).
 *
 * `generateKeyPair()` makes an ECDSA P-256 pair with WebCrypto and returns it twice over: the `CryptoKey`s, to sign
 * a CSR (`createCsr`), and the private key as PKCS#8 PEM, which is what node's `tls` wants as `key`. Keep the
 * result in memory; nothing in Crank writes a peer's key to disk (a restarted peer joins again with a new one).
 *
 * @example
 * ```ts
 * const keyPair = yield* generateKeyPair()
 * const csrPem = yield* createCsr(keyPair, { role: "worker", id: "hello-1k3" })
 * ```
 */
import * as Effect from "effect/Effect"
import { crypto, keyAlgorithm, x509 } from "./x509.ts"

export interface KeyPair {
  /** For WebCrypto and x509: signs the CSR. */
  readonly keys: CryptoKeyPair
  /** PKCS#8 PEM of `keys.privateKey`, for node's `tls` (`key`). */
  readonly privateKeyPem: string
}

export const generateKeyPair = (): Effect.Effect<KeyPair> =>
  Effect.promise(async () => {
    // Extractable only so the PEM node's TLS needs can be made: the key still never leaves this process.
    const keys = (await crypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"])) as CryptoKeyPair
    const privateKeyPem = x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY")
    return { keys, privateKeyPem }
  })
