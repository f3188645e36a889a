import { describe, expect, it } from "vitest"
import { x509 } from "../../../trust/x509.ts"

type Metadata = {
  defineMetadata: (key: unknown, value: unknown, target: object, property?: PropertyKey) => void
  getMetadata: (key: unknown, target: object, property?: PropertyKey) => unknown
  getOwnMetadata: (key: unknown, target: object, property?: PropertyKey) => unknown
  hasMetadata: (key: unknown, target: object, property?: PropertyKey) => boolean
  hasOwnMetadata: (key: unknown, target: object, property?: PropertyKey) => boolean
}

describe("the Reflect metadata shim trust/x509.ts loads before @peculiar/x509", () => {
  it("lets x509 (and its tsyringe container) load and work with no polyfill imported by the caller", async () => {
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({ name: "CN=probe", keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } })
    expect(await certificate.verify()).toBe(true)
  })

  it("keeps metadata per target and property, inherited along the prototype chain but not owned there", () => {
    const reflect = Reflect as unknown as Metadata
    class Base {}
    class Derived extends Base {}
    reflect.defineMetadata("k", "base", Base)
    reflect.defineMetadata("k", "method", Base, "run")
    expect(reflect.getOwnMetadata("k", Base)).toBe("base")
    expect(reflect.getMetadata("k", Derived)).toBe("base")
    expect(reflect.getOwnMetadata("k", Derived)).toBeUndefined()
    expect(reflect.hasMetadata("k", Derived)).toBe(true)
    expect(reflect.hasOwnMetadata("k", Derived)).toBe(false)
    expect(reflect.getMetadata("k", Base, "run")).toBe("method")
    expect(reflect.getMetadata("other", Base)).toBeUndefined()
    reflect.defineMetadata("k", "derived", Derived)
    expect(reflect.getMetadata("k", Derived)).toBe("derived")
    expect(reflect.getMetadata("k", Base)).toBe("base")
  })
})
