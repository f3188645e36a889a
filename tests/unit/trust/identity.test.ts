import { describe, expect, it } from "vitest"
import { Actions, IdentityRoles, identityUri, idProblem, maxIdLength, may, parseIdentityUri, permissions } from "../../../trust/identity.ts"

describe("identity URIs", () => {
  it("round-trip every role with ids at the edges of the charset and length", () => {
    const ids = ["w", "hello-1k3", "a.b_c-d", "9", "x".repeat(maxIdLength), "Worker.Node_7"]
    for (const role of IdentityRoles) {
      for (const id of ids) {
        const uri = identityUri({ role, id })
        expect(uri).toBe(`spiffe://crank/${role}/${id}`)
        expect(parseIdentityUri(uri)).toEqual({ role, id })
      }
    }
  })

  it("parse strictly: anything but spiffe://crank/<role>/<id> is no identity", () => {
    const refused = [
      "",
      "spiffe://crank/worker/",
      "spiffe://crank/worker",
      "spiffe://crank/worker/w1/",
      "spiffe://crank/worker/w1/extra",
      "spiffe://crank/worker/../operator/x",
      "spiffe://crank/worker/.hidden",
      "spiffe://crank/worker/-dash",
      "spiffe://crank/worker/w%2F1",
      "spiffe://crank/worker/w1?x=1",
      "spiffe://crank/worker/w1#f",
      "spiffe://crank/worker/w 1",
      "spiffe://crank/worker/wé",
      "spiffe://crank/admin/w1",
      "spiffe://crank/Worker/w1",
      "spiffe://other/worker/w1",
      "SPIFFE://crank/worker/w1",
      "spiffe://crank:443/worker/w1",
      "spiffe://user@crank/worker/w1",
      "https://crank/worker/w1",
      " spiffe://crank/worker/w1",
      "spiffe://crank/worker/w1\n",
      `spiffe://crank/worker/${"x".repeat(maxIdLength + 1)}`,
    ]
    for (const uri of refused) expect(parseIdentityUri(uri), uri).toBeUndefined()
  })

  it("refuse to write an identity with an invalid id or role, and say why", () => {
    expect(idProblem("")).toMatch(/empty/)
    expect(idProblem("x".repeat(maxIdLength + 1))).toMatch(/at most 128/)
    expect(idProblem("a/b")).toMatch(/A-Z a-z 0-9/)
    expect(idProblem("hello-1")).toBeUndefined()
    expect(() => identityUri({ role: "worker", id: "a/b" })).toThrow(TypeError)
    expect(() => identityUri({ role: "root" as "worker", id: "a" })).toThrow(/unknown role/)
  })
})

describe("permissions", () => {
  it("let workers join and serve, clients call and read, operators and the controller do everything", () => {
    expect(Actions.filter((action) => may("worker", action))).toEqual(["register", "heartbeat", "serve"])
    expect(Actions.filter((action) => may("client", action))).toEqual(["invoke", "read-status", "read-routes"])
    expect(Actions.filter((action) => may("operator", action))).toEqual([...Actions])
    expect(Actions.filter((action) => may("controller", action))).toEqual([...Actions])
  })

  it("keep operator-only actions from workers and clients", () => {
    for (const action of ["drain", "revoke", "token-admin", "inspect"] as const) {
      expect(may("worker", action)).toBe(false)
      expect(may("client", action)).toBe(false)
    }
    expect(may("worker", "invoke")).toBe(false)
    expect(may("client", "register")).toBe(false)
  })

  it("name only known actions", () => {
    for (const role of IdentityRoles) for (const action of permissions[role]) expect(Actions).toContain(action)
  })
})
