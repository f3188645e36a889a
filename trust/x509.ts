/**
 * `@peculiar/x509`, ready to use: every module in trust/ imports the library from here, never directly.
 *
 * Two things must happen before its first use, and both are done once, here, so importers need nothing:
 * - its dependency `tsyringe` needs a `Reflect` metadata polyfill at import time (`./reflectMetadata.ts`, imported
 *   first: ES modules evaluate their imports in order);
 * - it signs and verifies through a WebCrypto provider, Node's own `webcrypto` (ECDSA P-256 with SHA-256 here).
 */
import "./reflectMetadata.ts"
import { webcrypto } from "node:crypto"
import * as x509 from "@peculiar/x509"

/** Node's WebCrypto, typed as the DOM's `Crypto` that x509 expects (the same object at run time). */
export const crypto = webcrypto as unknown as Crypto

x509.cryptoProvider.set(crypto)

export { x509 }

/** The one key and signature algorithm of Crank's certificates: small keys, fast signatures, supported by every TLS peer. */
export const keyAlgorithm: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" }
export const signingAlgorithm: EcdsaParams = { name: "ECDSA", hash: "SHA-256" }
