/**
 * actors/authorization.ts: the one table of who may do what, read per request and per registration, and the
 * constant-time comparison of the legacy registration token.
 */
import { describe, expect, it } from "vitest"
import { actionOf, refusalOf, registrationRefusalOf, sameSecret } from "../../actors/authorization.ts"
import { protocolVersion, type Register } from "../../transports/Envelope.ts"

const register = (workerId: string, nodeId: string): Register => ({ _tag: "Register", protocolVersion, workerId, nodeId, capabilities: [], maxInFlight: 1 })
const code = (error: { readonly code: string; readonly message: string } | undefined) => (error === undefined ? "allowed" : `${error.code}: ${error.message}`)

describe("authorization", () => {
  it("names the action of each request: the system capabilities their own, everything else invoke", () => {
    expect(["crank.status", "crank.routes", "crank.drain", "crank.revoke", "certificate.sign_csr", "hello.greet", "crank.unknown"].map(actionOf)).toEqual([
      "read-status",
      "read-routes",
      "drain",
      "revoke",
      "join",
      "invoke",
      "invoke",
    ])
  })

  it("allows everything in open mode, and only a join without a certificate in certificates mode", () => {
    for (const action of ["invoke", "drain", "register", "join"] as const) expect(refusalOf("open", undefined, action)).toBeUndefined()
    expect(refusalOf("certificates", undefined, "join")).toBeUndefined()
    expect(code(refusalOf("certificates", undefined, "read-status"))).toMatch(/^UNAUTHORIZED: this controller admits only peers with a certificate from its CA/)
  })

  it("gives each role its permissions, and says which role a refused action needs", () => {
    const table = (["worker", "client", "operator"] as const).map((role) =>
      (["register", "invoke", "read-status", "drain", "inspect"] as const).map((action) =>
        refusalOf("certificates", { role, id: "x" }, action) === undefined ? "yes" : "no",
      ),
    )
    expect(table).toEqual([
      ["yes", "no", "no", "no", "no"],
      ["no", "yes", "yes", "no", "no"],
      ["yes", "yes", "yes", "yes", "yes"],
    ])
    expect(code(refusalOf("certificates", { role: "client", id: "c1" }, "drain"))).toBe("FORBIDDEN: client c1 may not drain: it needs the operator role")
    expect(code(refusalOf("certificates", { role: "worker", id: "n1" }, "invoke"))).toBe(
      "FORBIDDEN: worker n1 may not invoke: it needs the client or operator role",
    )
  })

  it("lets a certificate register only its own node: the node itself or <node>/<name>", () => {
    const n1 = { role: "worker", id: "n1" } as const
    expect(registrationRefusalOf("certificates", n1, register("n1/hello-1", "n1"))).toBeUndefined()
    expect(registrationRefusalOf("certificates", n1, register("n1", "n1"))).toBeUndefined()
    for (const [workerId, nodeId] of [
      ["n2/hello-1", "n2"],
      ["n2/hello-1", "n1"],
      ["n1/hello-1", "n2"],
      ["n1/", "n1"],
      ["n10/hello-1", "n1"],
    ] as const) {
      expect(code(registrationRefusalOf("certificates", n1, register(workerId, nodeId))), workerId).toMatch(
        /^FORBIDDEN: worker n1 may register only as node n1/,
      )
    }
    expect(code(registrationRefusalOf("certificates", { role: "client", id: "n1" }, register("n1/a", "n1")))).toMatch(/^FORBIDDEN: client n1 may not register/)
    expect(code(registrationRefusalOf("certificates", undefined, register("n1/a", "n1")))).toMatch(/^UNAUTHORIZED/)
    expect(registrationRefusalOf("open", undefined, register("anything/at-all", "x"))).toBeUndefined()
  })

  it("compares the legacy token as digests: equal only when both are the same string", () => {
    expect(sameSecret("s3cret", "s3cret")).toBe(true)
    expect(sameSecret("s3cre", "s3cret")).toBe(false)
    expect(sameSecret("s3cret!", "s3cret")).toBe(false)
    expect(sameSecret(undefined, "s3cret")).toBe(false)
    expect(sameSecret(undefined, "")).toBe(false)
    expect(sameSecret("", "")).toBe(true)
  })
})
