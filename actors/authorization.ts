/**
 * The one place that decides what a connection may do, from who it proved to be (`Connection.peer`, the identity
 * in the certificate it presented over mutual TLS) and the controller's access mode.
 *
 * - `open` (one process, `crank dev`, `crank controller --insecure`): every connection may do everything, as
 *   before trust existed. Nothing proved anything: the in-memory transport is one process trusting itself, and
 *   plain `ws://` is for loopback only.
 * - `certificates` (`crank controller`'s default, `wss://` with mutual TLS): a connection with a peer may do what
 *   its role may (`trust/identity.ts`'s permissions table); a connection without one (a TLS client admitted
 *   without a certificate, to fetch its first one) may only ask for a certificate, `certificate.sign_csr` with a
 *   join token.
 *
 * Refusals are typed: `UNAUTHORIZED` when the connection proved nothing (or not enough), `FORBIDDEN` when it proved
 * an identity whose role may not do this. Every message names the role, the id and what it lacks, so the person
 * reading it knows which token to ask for.
 *
 * A worker registers under the node its certificate names: a certificate is per process (one TLS identity for
 * every connection a process makes), and a process's workers are `<node>/<name>` (`src/Node.ts`), so a
 * `Register` from a peer `worker/n1` must say `nodeId: "n1"` and a `workerId` of `n1` or `n1/<name>`.
 *
 * @example
 * ```ts
 * const refusal = refusalOf("certificates", connection.peer, actionOf("crank.drain"))
 * if (refusal !== undefined) return failureOf(invoke.id, refusal) // FORBIDDEN: client c1 may not drain...
 * ```
 */
import { createHash, timingSafeEqual } from "node:crypto"
import * as Context from "effect/Context"
import { type CrankError, crankError } from "../capabilities/CrankError.ts"
import type { Register } from "../transports/Envelope.ts"
import { type Action, type Identity, may, permissions } from "../trust/identity.ts"

/** Who may do what on a controller: everyone (`open`), or what each peer's certificate allows (`certificates`). */
export type AccessMode = "open" | "certificates"

/**
 * Who made the request a system handler is serving: the controller provides it around each request from a
 * connection, so a handler such as `certificate.sign_csr` can tell a renewal (a peer renewing itself) from a join.
 * Absent peer: the connection proved nothing, or the call came from this process (`controller.serve`).
 */
export const Caller = Context.Reference<{ readonly peer?: Identity | undefined }>("crank/Caller", { defaultValue: () => ({}) })

/** The capability a connection without a certificate may call (with a join token): how it gets one. */
export const certificateCapabilityId = "certificate.sign_csr"

/** The action a request for `capability` is: the system capabilities have their own, everything else is `invoke`. */
export const actionOf = (capability: string): Action | "join" => {
  switch (capability) {
    case "crank.status":
      return "read-status"
    case "crank.routes":
      return "read-routes"
    case "crank.drain":
      return "drain"
    case "crank.revoke":
      return "revoke"
    case certificateCapabilityId:
      return "join"
    default:
      return "invoke"
  }
}

const describe = (peer: Identity): string => `${peer.role} ${peer.id}`

/** The roles that may do `action`, for a message that says which token to ask for. */
const rolesThatMay = (action: Action): string =>
  (Object.keys(permissions) as Array<keyof typeof permissions>).filter((role) => role !== "controller" && may(role, action)).join(" or ")

/**
 * Why a connection whose peer is `peer` may not do `action`, or `undefined` when it may. `join` (asking for a
 * certificate) is open to everyone: the join token or the certificate it presents is checked by the signer.
 */
export const refusalOf = (mode: AccessMode, peer: Identity | undefined, action: Action | "join"): CrankError | undefined => {
  if (mode === "open" || action === "join") return undefined
  if (peer === undefined) {
    return crankError(
      "UNAUTHORIZED",
      `this controller admits only peers with a certificate from its CA; this connection presented none. Join with a token (crank token create, then --token) to get one`,
    )
  }
  if (may(peer.role, action)) return undefined
  return crankError("FORBIDDEN", `${describe(peer)} may not ${action}: it needs the ${rolesThatMay(action)} role`)
}

/** Whether `workerId` is the node `node` itself or one of its workers (`node/<name>`). */
const belongsTo = (workerId: string, node: string): boolean => workerId === node || (workerId.startsWith(`${node}/`) && workerId.length > node.length + 1)

/**
 * Why `register` may not be accepted from a connection whose peer is `peer`, or `undefined`: the role must may
 * `register`, and the worker must be on the node the certificate names.
 */
export const registrationRefusalOf = (mode: AccessMode, peer: Identity | undefined, register: Register): CrankError | undefined => {
  const refusal = refusalOf(mode, peer, "register")
  if (refusal !== undefined || mode === "open" || peer === undefined) return refusal
  if (register.nodeId !== peer.id || !belongsTo(register.workerId, peer.id)) {
    return crankError(
      "FORBIDDEN",
      `${describe(peer)} may register only as node ${peer.id} (worker ${peer.id} or ${peer.id}/<name>); it asked for worker ${register.workerId} on node ${register.nodeId}`,
    )
  }
  return undefined
}

/**
 * Whether two secrets are equal, in time that does not depend on where they differ (nor, as both are hashed first,
 * on their lengths): the legacy shared registration token is compared this way.
 */
export const sameSecret = (presented: string | undefined, expected: string): boolean => {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()
  return timingSafeEqual(digest(presented ?? ""), digest(expected)) && presented !== undefined
}
