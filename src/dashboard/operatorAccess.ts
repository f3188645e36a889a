/**
 * Who may read the controller's dashboard and `/api/*` when it runs securely: an operator, and no one else.
 * `/healthz`, `/readyz` and `/metrics` stay open (probes and Prometheus carry no credentials); the rest needs one of:
 *
 * 1. an operator's client certificate, on the `wss://` port (`curl --cert --key --cacert`, `crank watch`): the
 *    identity the TLS handshake proved (`peerOfRequest`);
 * 2. a session: `POST /api/login` with an operator join token (`crank token create --role operator`) in the form
 *    field or JSON property `token` redeems it (spending one use) and answers with a session cookie
 *    (`crank_session`: HttpOnly, SameSite=Strict, Secure, 8 h), or with `{ session, expiresAt }` for a caller that
 *    asks for JSON, to send as `Authorization: Bearer <session>`. Sessions live in the controller's memory, kept
 *    as SHA-256 digests (looked up by digest, so no comparison leaks a prefix), and end with it.
 *
 * Anything else is `401 UNAUTHORIZED` (no credentials, or a token the store refuses) or `403 FORBIDDEN` (a valid
 * identity that is not an operator's), each with a reason, counted and logged by the controller. A browser with
 * no session gets a login form instead of the dashboard.
 *
 * @example
 * ```ts
 * const access = operatorAccess(tokens, clock, (reason, remote, detail) => controller.refused(reason, remote, detail))
 * const verdict = yield* access.check(request)  // { _tag: "Allowed" } | { _tag: "Refused", status, code, message }
 * ```
 */
import { createHash, randomBytes } from "node:crypto"
import type * as http from "node:http"
import type { TLSSocket } from "node:tls"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { peerOfRequest } from "../../transports/WebSocketTransport.ts"
import { may } from "../../trust/identity.ts"
import type { JoinTokens } from "../../trust/JoinTokens.ts"
import { parseJoinToken } from "../trust/joinToken.ts"

export const sessionCookie = "crank_session"
export const sessionLifetimeMs = 8 * 60 * 60 * 1000
/** Sessions kept at once; the oldest goes first beyond it. */
const maxSessions = 1_024
/** A login body is one token: anything longer is not one. */
const maxLoginBytes = 4_096

export type Verdict =
  | { readonly _tag: "Allowed" }
  | { readonly _tag: "Refused"; readonly status: 401 | 403; readonly code: "UNAUTHORIZED" | "FORBIDDEN"; readonly message: string }

export interface LoginOutcome {
  readonly verdict: Verdict
  /** The session made, when the login succeeded. */
  readonly session?: { readonly value: string; readonly expiresAt: number }
}

export interface OperatorAccess {
  /** Whether `request` carries an operator's credentials. */
  readonly check: (request: http.IncomingMessage) => Effect.Effect<Verdict>
  /** Redeems the operator token in the body of a `POST /api/login`. */
  readonly login: (request: http.IncomingMessage) => Effect.Effect<LoginOutcome>
}

const digest = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex")

const unauthorized = (message: string): Verdict => ({ _tag: "Refused", status: 401, code: "UNAUTHORIZED", message })

const howTo =
  "an operator's client certificate, a session from POST /api/login with an operator token (crank token create --role operator), or Authorization: Bearer <session>"

/** The value of one cookie in a `Cookie` header. */
const cookieOf = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=")
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim()
  }
  return undefined
}

/** The body of a request, at most `limit` bytes (more is `undefined`). */
const bodyOf = (request: http.IncomingMessage, limit: number): Effect.Effect<string | undefined> =>
  Effect.callback<string | undefined>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        request.destroy()
        return resume(Effect.succeed(undefined))
      }
      chunks.push(chunk)
    })
    request.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    request.on("error", () => resume(Effect.succeed(undefined)))
  })

/** The token in a login body: a form field or a JSON property, both named `token`. */
const tokenIn = (body: string, contentType: string | undefined): string | undefined => {
  if ((contentType ?? "").startsWith("application/json")) {
    try {
      const parsed = JSON.parse(body) as { token?: unknown }
      return typeof parsed.token === "string" ? parsed.token : undefined
    } catch {
      return undefined
    }
  }
  return new URLSearchParams(body).get("token") ?? undefined
}

/** Whether an `Origin` header (when a browser sent one) is the page's own: a login posted from another site is refused. */
const sameOrigin = (request: http.IncomingMessage): boolean => {
  const origin = request.headers.origin
  if (origin === undefined) return true
  try {
    return new URL(origin).host === request.headers.host
  } catch {
    return false
  }
}

export const isSecureRequest = (request: http.IncomingMessage): boolean => (request.socket as Partial<TLSSocket>).encrypted === true

export const operatorAccess = (tokens: JoinTokens, clock: Clock.Clock): OperatorAccess => {
  /** Session digest → when it ends; a Map keeps insertion order, so the first entry is the oldest. */
  const sessions = new Map<string, number>()

  const sessionValid = (value: string | undefined): boolean => {
    if (value === undefined) return false
    const key = digest(value)
    const endsAt = sessions.get(key)
    if (endsAt === undefined) return false
    if (endsAt > clock.currentTimeMillisUnsafe()) return true
    sessions.delete(key)
    return false
  }

  const check = (request: http.IncomingMessage): Effect.Effect<Verdict> =>
    Effect.sync(() => {
      const peer = peerOfRequest(request)
      if (peer !== undefined) {
        return may(peer.role, "inspect")
          ? { _tag: "Allowed" as const }
          : {
              _tag: "Refused" as const,
              status: 403 as const,
              code: "FORBIDDEN" as const,
              message: `${peer.role} ${peer.id} may not read the dashboard: it needs the operator role`,
            }
      }
      const authorization = request.headers.authorization
      const bearer = authorization?.startsWith("Bearer ") ? authorization.slice("Bearer ".length).trim() : undefined
      if (bearer !== undefined)
        return sessionValid(bearer) ? { _tag: "Allowed" as const } : unauthorized(`the bearer session is unknown or has expired; needs ${howTo}`)
      if (sessionValid(cookieOf(request.headers.cookie, sessionCookie))) return { _tag: "Allowed" as const }
      return unauthorized(`the dashboard and /api/* need ${howTo}`)
    })

  const login = (request: http.IncomingMessage): Effect.Effect<LoginOutcome> =>
    Effect.gen(function* () {
      if (!sameOrigin(request))
        return { verdict: { _tag: "Refused", status: 403, code: "FORBIDDEN", message: "a login posted from another site's page" } as const }
      const body = yield* bodyOf(request, maxLoginBytes)
      const text = body === undefined ? undefined : tokenIn(body, request.headers["content-type"])
      const joinToken = text === undefined ? undefined : parseJoinToken(text)
      if (joinToken === undefined)
        return { verdict: unauthorized("POST /api/login takes an operator join token (crank token create --role operator) as `token`") }
      const now = clock.currentTimeMillisUnsafe()
      const redeemed = yield* Effect.result(tokens.redeem(joinToken.token, new Date(now)))
      if (redeemed._tag === "Failure") return { verdict: unauthorized(`the token was refused (${redeemed.failure.reason}): ${redeemed.failure.message}`) }
      if (redeemed.success.role !== "operator") {
        return {
          verdict: {
            _tag: "Refused",
            status: 403,
            code: "FORBIDDEN",
            message: `token ${redeemed.success.tokenId} is a ${redeemed.success.role}'s; the dashboard needs an operator's`,
          },
        } as const
      }
      const value = randomBytes(32).toString("base64url")
      const expiresAt = now + sessionLifetimeMs
      if (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value!)
      sessions.set(digest(value), expiresAt)
      return { verdict: { _tag: "Allowed" }, session: { value, expiresAt } }
    })

  return { check, login }
}

/** The `Set-Cookie` of a session: never readable by scripts, never sent by another site, only over TLS when served over it. */
export const sessionCookieHeader = (value: string, request: http.IncomingMessage): string =>
  `${sessionCookie}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(sessionLifetimeMs / 1000)}${isSecureRequest(request) ? "; Secure" : ""}`

/** A page that asks for an operator token: what a browser without a session gets instead of the dashboard. */
export const loginPage = (message?: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crank: sign in</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto">
<h1>Crank controller</h1>
<p>The dashboard is for operators. Paste an operator join token (on the controller's host: <code>crank token create --role operator</code>).</p>
${message === undefined ? "" : `<p role="alert"><strong>${message.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)}</strong></p>`}
<form method="post" action="/api/login"><input name="token" type="password" autocomplete="off" size="60" required> <button type="submit">Sign in</button></form>
</body></html>
`

/** The page's CSP: no script at all, the form posts to this origin only. */
export const loginPagePolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
