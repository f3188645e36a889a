/**
 * Who a peer is, and what it may do: pure data, no crypto.
 *
 * An identity is a role and an id, carried in a certificate as one URI SAN in SPIFFE form,
 * `spiffe://crank/<role>/<id>`; `identityUri` writes it and `parseIdentityUri` reads it back, strictly: the
 * trust domain `crank`, a known role, and an id of 1 to 128 characters from `A-Z a-z 0-9 . _ -` starting with a
 * letter or digit (so never `.` or `..`, never a `/`, `%`, `?` or `#` that another URI parser could read
 * differently). Anything else is no identity at all.
 *
 * Roles: `worker`, `client` and `operator` are what a join token grants (`Role`); the controller's own
 * certificate says `controller`, so a worker or client can tell the controller from another CA-signed peer.
 *
 * What each role may do is the `permissions` table; `may(role, action)` reads it. The controller checks it for
 * every control message and system capability; the table is the one place to change a rule.
 *
 * @example
 * ```ts
 * identityUri({ role: "worker", id: "hello-1k3" })            // "spiffe://crank/worker/hello-1k3"
 * parseIdentityUri("spiffe://crank/worker/hello-1k3")         // { role: "worker", id: "hello-1k3" }
 * parseIdentityUri("spiffe://crank/worker/../operator/x")     // undefined
 * may("client", "drain")                                      // false
 * ```
 */

/** The roles a join token can grant. */
export const Roles = ["worker", "client", "operator"] as const
export type Role = (typeof Roles)[number]

/** The roles a certificate can name: a token's roles, and the controller's own. */
export const IdentityRoles = [...Roles, "controller"] as const
export type IdentityRole = (typeof IdentityRoles)[number]

export interface Identity {
  readonly role: IdentityRole
  readonly id: string
}

/** The SPIFFE trust domain of every Crank identity. */
export const trustDomain = "crank"

/** As the controller's `maxIdLength` default: an id that fits in a certificate also fits in a registration. */
export const maxIdLength = 128

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const uriPattern = /^spiffe:\/\/crank\/([a-z]+)\/([^/]+)$/

export const isRole = (value: unknown): value is Role => typeof value === "string" && (Roles as readonly string[]).includes(value)

export const isIdentityRole = (value: unknown): value is IdentityRole => typeof value === "string" && (IdentityRoles as readonly string[]).includes(value)

/** Why `id` cannot be an identity's id, or `undefined` when it can. */
export const idProblem = (id: string): string | undefined => {
  if (id.length === 0) return "an id cannot be empty"
  if (id.length > maxIdLength) return `an id has at most ${maxIdLength} characters; this one has ${id.length}`
  if (!idPattern.test(id)) return `an id uses only A-Z a-z 0-9 . _ - and starts with a letter or digit; got ${JSON.stringify(id.slice(0, 40))}`
  return undefined
}

/**
 * The URI SAN of an identity. Throws a `TypeError` for an invalid role or id: identities are decided by the
 * controller, so an invalid one is a bug, not input (check input with `idProblem` first).
 */
export const identityUri = (identity: Identity): string => {
  if (!isIdentityRole(identity.role)) throw new TypeError(`unknown role ${JSON.stringify(identity.role)}`)
  const problem = idProblem(identity.id)
  if (problem !== undefined) throw new TypeError(problem)
  return `spiffe://${trustDomain}/${identity.role}/${identity.id}`
}

/** The identity a URI SAN names, or `undefined` when it is not exactly `spiffe://crank/<role>/<id>`. */
export const parseIdentityUri = (uri: string): Identity | undefined => {
  const match = uriPattern.exec(uri)
  if (match === null) return undefined
  const [, role, id] = match
  if (!isIdentityRole(role) || id === undefined || idProblem(id) !== undefined) return undefined
  return { role, id }
}

/** Every action the controller or a worker guards. */
export const Actions = [
  // a worker's control messages
  "register",
  "heartbeat",
  // answering requests (a worker's `Invoke` server)
  "serve",
  // calling capabilities
  "invoke",
  // `crank.status`, `crank.routes`
  "read-status",
  "read-routes",
  // operator-only
  "drain",
  "revoke",
  "token-admin",
  "inspect",
] as const
export type Action = (typeof Actions)[number]

/**
 * What each role may do. The operator and the controller may do everything (the operator administers the mesh,
 * the controller relays and drains); workers only join and serve; clients call and read.
 */
export const permissions: { readonly [R in IdentityRole]: readonly Action[] } = {
  worker: ["register", "heartbeat", "serve"],
  client: ["invoke", "read-status", "read-routes"],
  operator: Actions,
  controller: Actions,
}

export const may = (role: IdentityRole, action: Action): boolean => permissions[role].includes(action)
