/**
 * Join tokens: what an operator hands a new worker, client or operator so the controller will sign its first
 * certificate (`crank token create`, then `--token` on the joining side).
 *
 * A token reads `crank1.<tokenId>.<secret>`: `tokenId` is 16 hex characters (public: it names the token in
 * `list`, `revoke` and logs), `secret` is 32 random bytes in base64url (43 characters). The store keeps, per token,
 * its id, role, `createdAt`, `expiresAt` (ISO 8601), `usesLeft` (absent: unlimited), `revoked`, and the SHA-256 of
 * the secret, never the secret: a copy of the store admits no one. The token string exists once, in `create`'s
 * answer.
 *
 * `JoinTokens.make(dir)` is a store over `<dir>/tokens.json`. The file is mode 0600, replaced atomically (temporary
 * file + rename), and re-read on every call, so a token created by another process (`crank token create` beside a
 * running controller) is seen at once; updates hold `tokens.json.lock` (`fileLock.ts`) so two processes never
 * lose each other's write, and a `Semaphore` orders the calls of one store.
 *
 * - `create({ role, ttlMs, uses, now })` → `{ token, record }`.
 * - `list()` → every record, without hashes (`tokenStatus(record, now)` says which still work).
 * - `revoke(tokenId)` → the revoked record; the token is refused from then on (the record stays, for `list`).
 * - `redeem(token, now)` → `{ role, tokenId }`, spending one use; else a `TrustError` whose reason is a
 *   `TokenRefusal`, checked in this order: `token-malformed`, `token-unknown`, `token-wrong-secret` (compared in
 *   constant time, `timingSafeEqual` over the two SHA-256 digests), then `token-revoked`, `token-expired` (at or
 *   after `expiresAt`), `token-used-up`. The secret is checked before the state, so knowing an id (it is in
 *   logs) tells nothing about whether its token still works.
 *
 * @example
 * ```ts
 * const tokens = yield* JoinTokens.make(dataDir)
 * const { token } = yield* tokens.create({ role: "worker", ttlMs: 3_600_000, uses: 1, now })
 * const { role } = yield* tokens.redeem(token, now) // "worker"; a second redeem fails with "token-used-up"
 * ```
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import { withFileLock } from "./fileLock.ts"
import { isRole, type Role, Roles } from "./identity.ts"
import { ensurePrivateDirectory, exists, privateMode, readPrivateFile, writeFileAtomically } from "./privateFile.ts"
import { type TrustError, trustError } from "./TrustError.ts"

export const tokensFile = "tokens.json"
export const tokenPrefix = "crank1"

const tokenPattern = /^crank1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/

/** What `list` shows of a token: everything but the hash of its secret. */
export interface JoinTokenRecord {
  readonly id: string
  readonly role: Role
  readonly createdAt: string
  readonly expiresAt: string
  /** Absent: unlimited. */
  readonly usesLeft?: number
  readonly revoked: boolean
}

export interface CreateTokenOptions {
  readonly role: Role
  readonly ttlMs: number
  /** How many joins it admits; absent: any number until it expires. */
  readonly uses?: number
  readonly now: Date
}

export interface CreatedToken {
  /** `crank1.<tokenId>.<secret>`: shown once, stored nowhere. */
  readonly token: string
  readonly record: JoinTokenRecord
}

export interface Redeemed {
  readonly role: Role
  readonly tokenId: string
}

export interface JoinTokens {
  readonly create: (options: CreateTokenOptions) => Effect.Effect<CreatedToken, TrustError>
  readonly list: () => Effect.Effect<ReadonlyArray<JoinTokenRecord>, TrustError>
  readonly revoke: (tokenId: string) => Effect.Effect<JoinTokenRecord, TrustError>
  readonly redeem: (token: string, now: Date) => Effect.Effect<Redeemed, TrustError>
}

export type TokenStatus = "active" | "revoked" | "expired" | "used-up"

/** Whether a token still admits anyone at `now`, and if not, why (for `crank token list`). */
export const tokenStatus = (record: JoinTokenRecord, now: Date): TokenStatus => {
  if (record.revoked) return "revoked"
  if (now.getTime() >= Date.parse(record.expiresAt)) return "expired"
  if (record.usesLeft !== undefined && record.usesLeft <= 0) return "used-up"
  return "active"
}

/** The parts of a well-formed token string, or `undefined`. */
export const parseToken = (token: string): { readonly tokenId: string; readonly secret: string } | undefined => {
  const match = tokenPattern.exec(token)
  return match === null ? undefined : { tokenId: match[1]!, secret: match[2]! }
}

const Sha256Hex = Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/))
const IsoDate = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/))
const StoredToken = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^[0-9a-f]{16}$/)),
  role: Schema.Literals(Roles),
  createdAt: IsoDate,
  expiresAt: IsoDate,
  usesLeft: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
  revoked: Schema.Boolean,
  secretSha256: Sha256Hex,
})
type StoredToken = typeof StoredToken.Type
const StoreFile = Schema.Struct({ version: Schema.Literal(1), tokens: Schema.Array(StoredToken) })
const decodeStoreFile = Schema.decodeUnknownResult(Schema.fromJsonString(StoreFile))

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

const publicRecord = ({ secretSha256: _, ...record }: StoredToken): JoinTokenRecord => record

const validCreate = (options: CreateTokenOptions): TrustError | undefined => {
  if (!isRole(options.role)) return trustError("invalid-argument", `a token grants one of ${Roles.join(", ")}; got ${JSON.stringify(options.role)}`)
  if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) return trustError("invalid-argument", `a token's TTL must be positive; got ${options.ttlMs} ms`)
  if (options.uses !== undefined && (!Number.isInteger(options.uses) || options.uses < 1)) {
    return trustError("invalid-argument", `a token's uses must be a whole number ≥ 1 (or absent: unlimited); got ${options.uses}`)
  }
  return undefined
}

export const make = (dir: string): Effect.Effect<JoinTokens> =>
  Effect.gen(function* () {
    const file = path.join(dir, tokensFile)
    const lockFile = `${file}.lock`
    const serial = yield* Semaphore.make(1)

    const read: Effect.Effect<Array<StoredToken>, TrustError> = Effect.gen(function* () {
      if (!exists(file)) return []
      const text = yield* readPrivateFile(file)
      const decoded = decodeStoreFile(text)
      if (Result.isFailure(decoded)) return yield* Effect.fail(trustError("file-corrupt", `${file} is not a token store: ${decoded.failure.message}`))
      return [...decoded.success.tokens]
    })

    const write = (tokens: ReadonlyArray<StoredToken>): Effect.Effect<void, TrustError> =>
      writeFileAtomically(file, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`, { mode: privateMode, replace: true })

    /** Read, change, write back: one at a time in this process, and under the lock across processes. */
    const update = <A>(change: (tokens: Array<StoredToken>) => Effect.Effect<{ result: A; write: boolean }, TrustError>) => {
      const readChangeWrite = Effect.gen(function* () {
        const tokens = yield* read
        const { result, write: changed } = yield* change(tokens)
        if (changed) yield* write(tokens)
        return result
      })
      return Semaphore.withPermits(serial, 1)(Effect.andThen(ensurePrivateDirectory(dir), withFileLock(lockFile, readChangeWrite)))
    }

    const create = (options: CreateTokenOptions): Effect.Effect<CreatedToken, TrustError> => {
      const invalid = validCreate(options)
      if (invalid !== undefined) return Effect.fail(invalid)
      return update((tokens) => {
        let id = randomBytes(8).toString("hex")
        // 64 random bits: a clash is all but impossible, and harmless to step around.
        for (let attempt = 0; attempt < 8 && tokens.some((token) => token.id === id); attempt++) id = randomBytes(8).toString("hex")
        const secret = randomBytes(32).toString("base64url")
        const now = options.now.getTime()
        const stored: StoredToken = {
          id,
          role: options.role,
          createdAt: new Date(now).toISOString(),
          expiresAt: new Date(now + options.ttlMs).toISOString(),
          ...(options.uses === undefined ? {} : { usesLeft: options.uses }),
          revoked: false,
          secretSha256: sha256(secret).toString("hex"),
        }
        tokens.push(stored)
        return Effect.succeed({ result: { token: `${tokenPrefix}.${id}.${secret}`, record: publicRecord(stored) }, write: true })
      })
    }

    const list = (): Effect.Effect<ReadonlyArray<JoinTokenRecord>, TrustError> => Effect.map(read, (tokens) => tokens.map(publicRecord))

    const revoke = (tokenId: string): Effect.Effect<JoinTokenRecord, TrustError> =>
      update((tokens) => {
        const index = tokens.findIndex((token) => token.id === tokenId)
        if (index < 0) return Effect.fail(trustError("token-unknown", `no token has the id ${JSON.stringify(tokenId.slice(0, 40))}`))
        const revoked = { ...tokens[index]!, revoked: true }
        tokens[index] = revoked
        return Effect.succeed({ result: publicRecord(revoked), write: true })
      })

    const redeem = (token: string, now: Date): Effect.Effect<Redeemed, TrustError> => {
      const parts = parseToken(token)
      if (parts === undefined) return Effect.fail(trustError("token-malformed", "a join token reads crank1.<16 hex>.<43 base64url characters>"))
      const presented = sha256(parts.secret)
      return update((tokens) => {
        const index = tokens.findIndex((stored) => stored.id === parts.tokenId)
        const stored = tokens[index]
        if (stored === undefined) return Effect.fail(trustError("token-unknown", `no token has the id ${parts.tokenId}`))
        if (!timingSafeEqual(presented, Buffer.from(stored.secretSha256, "hex"))) {
          return Effect.fail(trustError("token-wrong-secret", `the secret of token ${parts.tokenId} is wrong`))
        }
        const status = tokenStatus(stored, now)
        if (status === "revoked") return Effect.fail(trustError("token-revoked", `token ${stored.id} was revoked`))
        if (status === "expired") return Effect.fail(trustError("token-expired", `token ${stored.id} expired at ${stored.expiresAt}`))
        if (status === "used-up") return Effect.fail(trustError("token-used-up", `token ${stored.id} has been used as many times as it allowed`))
        const result = { role: stored.role, tokenId: stored.id }
        if (stored.usesLeft === undefined) return Effect.succeed({ result, write: false })
        tokens[index] = { ...stored, usesLeft: stored.usesLeft - 1 }
        return Effect.succeed({ result, write: true })
      })
    }

    return { create, list, revoke, redeem }
  })
