/**
 * Renews a process's certificate before it expires, for as long as the calling scope lives: at two thirds of its
 * life (an hour's certificate at 40 minutes), then again for the next one. A renewal that fails (the controller
 * restarting, a dropped link) is retried every tenth of what is left, at most every 5 s, and logged; the
 * certificate held keeps working until its `notAfter`, so a controller away for less than a third of a lifetime
 * costs nothing.
 *
 * The new certificate goes into the `CredentialsCell` first (dials from then on present it), then `renewed` runs
 * (the transport's `renew()`, so its listeners present it to the handshakes to come). Connections already open
 * keep going on the certificate they opened with: nothing in flight is dropped.
 *
 * @example
 * ```ts
 * yield* keepRenewed(cell, requestCertificate({ controller, id, hint: "worker" }), transport.renew())
 * ```
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { CredentialsCell, HeldCertificate } from "./credentialsCell.ts"

/** When a certificate obtained at `obtainedAt` and expiring at `notAfter` is renewed. */
export const renewalTime = (held: Pick<HeldCertificate, "obtainedAt" | "notAfter">): number =>
  held.obtainedAt + Math.floor(((held.notAfter - held.obtainedAt) * 2) / 3)

/** How long to wait before trying a failed renewal again, with `left` ms of validity remaining. */
const retryAfter = (left: number): number => Math.max(100, Math.min(5_000, Math.floor(left / 10)))

export const keepRenewed = <E>(
  cell: CredentialsCell,
  renew: Effect.Effect<HeldCertificate, E>,
  renewed: Effect.Effect<void>,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        const held = cell.certificate()
        if (held === undefined) return yield* Effect.sleep(1_000)
        const now = yield* Clock.currentTimeMillis
        const at = renewalTime(held)
        if (now < at) yield* Effect.sleep(at - now)
        const next = yield* Effect.result(renew)
        const after = yield* Clock.currentTimeMillis
        if (next._tag === "Success") {
          cell.set(next.success)
          yield* renewed
          yield* Effect.logInfo(`certificate of ${held.identity.role} ${held.identity.id} renewed until ${new Date(next.success.notAfter).toISOString()}`)
          return
        }
        const left = held.notAfter - after
        yield* (left > 0 ? Effect.logWarning : Effect.logError)(
          `renewing the certificate of ${held.identity.role} ${held.identity.id} failed (${String((next.failure as { message?: unknown })?.message ?? next.failure)}); ${left > 0 ? `it expires in ${Math.round(left / 1000)} s` : "it has expired"}; trying again`,
        )
        yield* Effect.sleep(retryAfter(Math.max(0, left)))
      }),
    ),
  ).pipe(Effect.asVoid)
