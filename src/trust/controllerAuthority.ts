/**
 * What a secure controller starts with: its CA (`<data root>/controller/ca.key.pem` 0600 and `ca.crt.pem`, made on
 * first start, reused after: `CertificateAuthority.loadOrCreate`), its join-token store beside it (`tokens.json`,
 * 0600, shared with `crank token` run on the same directory), and its own server certificate (`controller/controller`,
 * minted from the CA in the process, renewed by `keepRenewed`), and the identities an operator revoked
 * (`revoked.json`, 0600).
 *
 * @example
 * ```ts
 * const authority = yield* openControllerAuthority(".crank", 3_600_000)
 * const transport = WebSocketTransport.make({ tls: { credentials: authority.cell.current, allowAnonymous: true } })
 * ```
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { Revocations, revocationFile } from "../../actors/revocation.ts"
import * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import * as JoinTokens from "../../trust/JoinTokens.ts"
import type { TrustError } from "../../trust/TrustError.ts"
import { CredentialsCell, type HeldCertificate } from "./credentialsCell.ts"
import { caDirectory, localCertificate } from "./localCertificate.ts"

/** The controller's own identity in its server certificate: what workers and clients expect to find there. */
export const controllerIdentity = { role: "controller", id: "controller" } as const

export interface ControllerAuthority {
  readonly ca: CertificateAuthority.CertificateAuthority
  readonly tokens: JoinTokens.JoinTokens
  /** `<data root>/controller`. */
  readonly directory: string
  /** True when this start made the CA (every peer needs a new token, whose fingerprint names it). */
  readonly created: boolean
  /** The controller's server certificate, as its transport presents it. */
  readonly cell: CredentialsCell
  /** A fresh server certificate for the controller (what its renewal signs). */
  readonly mintOwn: Effect.Effect<HeldCertificate, TrustError>
  /** Identities revoked (`crank revoke`), kept in `revoked.json` beside the CA. */
  readonly revocations: Revocations
}

/** The CA and token store under `dataRoot` (made on first use), without a certificate of the controller's own: for `crank token`. */
export const openCa = (dataRoot: string) =>
  Effect.gen(function* () {
    const directory = caDirectory(dataRoot)
    const { ca, created } = yield* CertificateAuthority.loadOrCreate(directory, new Date(yield* Clock.currentTimeMillis))
    return { ca, created, directory, tokens: yield* JoinTokens.make(directory) }
  })

export const openControllerAuthority = (dataRoot: string, lifetimeMs: number): Effect.Effect<ControllerAuthority, TrustError> =>
  Effect.gen(function* () {
    const { ca, created, directory, tokens } = yield* openCa(dataRoot)
    const mintOwn = localCertificate(ca, controllerIdentity, lifetimeMs)
    const cell = new CredentialsCell()
    cell.set(yield* mintOwn)
    const revocations = yield* Revocations.open(revocationFile(directory))
    return { ca, tokens, directory, created, cell, mintOwn, revocations }
  })
