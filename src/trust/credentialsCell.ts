/**
 * A process's own certificate, as its transport presents it: set once the process has joined (or minted one from
 * a local CA), replaced at each renewal. The transport reads `current()` at every dial and when a listener starts
 * (and at `renew()`), so a swap here changes the certificate of every connection made afterwards, while the
 * connections already open keep theirs.
 *
 * @example
 * ```ts
 * const cell = new CredentialsCell()
 * const transport = WebSocketTransport.make({ tls: { credentials: cell.current } })
 * cell.set(yield* requestCertificate({ controller, id: "n1", token, hint: "worker" }))
 * ```
 */
import type { Identity } from "../../trust/identity.ts"
import type { Credentials } from "../../trust/tlsOptions.ts"

/** A certificate this process holds, with what it names and how long it lasts. */
export interface HeldCertificate {
  readonly identity: Identity
  readonly credentials: Credentials
  /** When it was obtained (ms since the epoch, the process's `Clock`): renewal is timed from here. */
  readonly obtainedAt: number
  /** When it expires (ms since the epoch). */
  readonly notAfter: number
}

export class CredentialsCell {
  private held: HeldCertificate | undefined = undefined

  /** The credentials to present now, or `undefined` before the first certificate (a join is anonymous). */
  readonly current = (): Credentials | undefined => this.held?.credentials

  /** The certificate held now, with its identity and dates. */
  readonly certificate = (): HeldCertificate | undefined => this.held

  readonly set = (held: HeldCertificate): void => {
    this.held = held
  }
}
