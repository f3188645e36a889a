/**
 * Identities the controller refuses (`crank revoke`, the `crank.revoke` capability): a worker's, client's or
 * operator's certificate stops working at once, and not later: its open connections are closed, a new connection
 * presenting it is refused, and it can neither renew nor get a new certificate for that id. Crank has no
 * certificate revocation list; this is one, kept by the one party that checks certificates.
 *
 * An entry lasts until every certificate the identity could hold has expired: one certificate lifetime from the
 * revocation (a renewal just before it lasts no longer than that). After that it is dropped, and the id may join
 * again with a new token. Entries are kept in `<controller dir>/revoked.json` (0600, replaced atomically), so a
 * restarted controller still refuses them.
 *
 * @example
 * ```ts
 * const revocations = yield* Revocations.open(revocationFile(dir))
 * yield* revocations.add({ role: "worker", id: "n1" }, now + lifetimeMs, now)
 * revocations.isRevoked({ role: "worker", id: "n1" }, now) // true
 * ```
 */
import * as path from "node:path"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { CrankRevoke } from "../capabilities/crank.ts"
import type { Identity } from "../trust/identity.ts"
import { exists, privateMode, readPrivateFile, writeFileAtomically } from "../trust/privateFile.ts"
import { type TrustError, trustError } from "../trust/TrustError.ts"
import { type Implementation, implement } from "./Implementation.ts"

export const revocationFileName = "revoked.json"

const Entry = Schema.Struct({ role: Schema.Literals(["worker", "client", "operator", "controller"]), id: Schema.String, until: Schema.Number })
const decodeFile = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Struct({ version: Schema.Literal(1), revoked: Schema.Array(Entry) })))

const keyOf = (identity: Identity): string => `${identity.role}/${identity.id}`

export class Revocations {
  private readonly until = new Map<string, { readonly identity: Identity; readonly until: number }>()

  private constructor(private readonly file: string | undefined) {}

  /** Revocations kept in `file` (read now if it exists), or only in memory when `file` is undefined. */
  static open(file: string | undefined): Effect.Effect<Revocations, TrustError> {
    return Effect.gen(function* () {
      const revocations = new Revocations(file)
      if (file === undefined || !exists(file)) return revocations
      const decoded = decodeFile(yield* readPrivateFile(file))
      if (Result.isFailure(decoded)) return yield* Effect.fail(trustError("file-corrupt", `${file} is not a revocation list: ${decoded.failure.message}`))
      for (const entry of decoded.success.revoked) revocations.until.set(keyOf(entry), { identity: { role: entry.role, id: entry.id }, until: entry.until })
      return revocations
    })
  }

  /** Whether `identity` is refused at `now`; an entry past its time is dropped. */
  isRevoked(identity: Identity, now: number): boolean {
    const entry = this.until.get(keyOf(identity))
    if (entry === undefined) return false
    if (entry.until > now) return true
    this.until.delete(keyOf(identity))
    return false
  }

  /** Refuses `identity` until `until` (ms since the epoch), and writes the list down. */
  add(identity: Identity, until: number, now: number): Effect.Effect<void, TrustError> {
    return Effect.suspend(() => {
      const previous = this.until.get(keyOf(identity))
      this.until.set(keyOf(identity), { identity, until: Math.max(until, previous?.until ?? 0) })
      for (const [key, entry] of this.until) if (entry.until <= now) this.until.delete(key)
      if (this.file === undefined) return Effect.void
      const revoked = [...this.until.values()].map(({ identity, until }) => ({ role: identity.role, id: identity.id, until }))
      return writeFileAtomically(this.file, `${JSON.stringify({ version: 1, revoked }, null, 2)}\n`, { mode: privateMode, replace: true })
    })
  }
}

/** Where a controller keeps its revocations: beside its CA. */
export const revocationFile = (controllerDirectory: string): string => path.join(controllerDirectory, revocationFileName)

/**
 * The controller's `crank.revoke`: refuses `role/id` for a certificate lifetime from now, and closes its
 * connections with `close` (which says how many it closed).
 */
export const revokeImplementation = (revocations: Revocations, lifetimeMs: number, close: (identity: Identity, reason: string) => number): Implementation =>
  implement(CrankRevoke, ({ role, id }) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const until = now + lifetimeMs
      yield* Effect.orDie(revocations.add({ role, id }, until, now))
      const closed = close({ role, id }, `the certificate of ${role} ${id} was revoked`)
      yield* Effect.logWarning(`controller: revoked ${role} ${id} until ${new Date(until).toISOString()}; closed ${closed} connection(s)`)
      return { role, id, until, closed }
    }),
  )
