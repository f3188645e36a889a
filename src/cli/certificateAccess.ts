/**
 * The secure half of meshAccess.ts: a command's certificate for a `wss://` controller, from a join token (`--token`,
 * the controller pinned by the CA fingerprint the token carries) or from the controller's CA beside it (`--data-dir`).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { type CrankError, crankError, messageOf } from "../../capabilities/CrankError.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import { caDirectory, hasLocalCa } from "../trust/caLocation.ts"
import { CredentialsCell, type HeldCertificate } from "../trust/credentialsCell.ts"
import { parseJoinToken } from "../trust/joinToken.ts"
import { localCertificate } from "../trust/localCertificate.ts"
import { requestCertificate } from "../trust/requestCertificate.ts"
import { type AccessFlags, type AccessIdentity, dataRootOf } from "./meshAccess.ts"
import { pick } from "./options.ts"

const joinBackoff = Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

const noCredentials = (controller: string, as: AccessIdentity, dataRoot: string): CrankError =>
  crankError(
    "UNAUTHORIZED",
    `the controller at ${controller} admits only peers with a certificate from its CA, and this ${as.hint === "worker" ? "worker" : "command"} has none: ` +
      `pass --token with a join token (on the controller's host: crank token create --role ${as.hint === "worker" ? "worker" : "client"}), ` +
      `run it where the controller's data directory is (--data-dir; ${caDirectory(dataRoot)} has no CA), or reach a controller started with --insecure at its ws:// address`,
  )

/**
 * Over `wss://`: the transport with this process's certificate, got as meshAccess.ts's header says, or
 * `UNAUTHORIZED` when there is no way to one. Loaded only by a command that reaches a secure controller.
 */
export const certificateAccess = (
  controller: string,
  flags: AccessFlags,
  as: AccessIdentity,
): Effect.Effect<
  { readonly transport: WebSocketTransport.WebSocketTransport; readonly cell: CredentialsCell; readonly caFingerprint: string | undefined },
  CrankError
> =>
  Effect.gen(function* () {
    const tokenText = pick(flags.token, "token")
    const joinToken = tokenText === undefined ? undefined : parseJoinToken(tokenText)
    if (tokenText !== undefined && joinToken === undefined) {
      return yield* crankError(
        "UNAUTHORIZED",
        "--token is not a join token: it reads crank1.<16 hex>.<43 characters>.<64 hex>, as crank token create prints it",
      )
    }
    const dataRoot = dataRootOf(flags.dataDir)
    // The controller is checked by the fingerprint its token carries, or by the CA beside this command.
    const caFingerprint = joinToken?.caFingerprint ?? (hasLocalCa(dataRoot) ? yield* localCaFingerprint(dataRoot) : undefined)
    const cell = new CredentialsCell()
    const transport = WebSocketTransport.make({
      tls: {
        credentials: cell.current,
        expectServer: { role: "controller" },
        ...(caFingerprint === undefined ? {} : { caFingerprint }),
        // A worker's listener admits probes without a certificate (its /readyz for kubelet, Docker); the worker refuses
        // their requests (Worker's `certificates`). Only workers listen: for other commands this changes nothing.
        ...(as.hint === "worker" ? { allowAnonymous: true } : {}),
      },
    })
    let held: HeldCertificate
    if (joinToken !== undefined) {
      if (caFingerprint === undefined) {
        return yield* crankError(
          "UNAUTHORIZED",
          "this join token carries no CA fingerprint, so the controller cannot be checked before the token is sent: use the token as crank token create prints it (four parts)",
        )
      }
      const join = requestCertificate({ controller, id: as.id, hint: as.hint, token: joinToken.token, caFingerprint }).pipe(
        Effect.provideService(Transport, transport),
      )
      // A worker may start before its controller: it waits for it, as it waits to register. A refused token never becomes good.
      held = yield* as.hint !== "worker"
        ? join
        : join.pipe(
            Effect.tapError((error) =>
              error.code === "UNAVAILABLE" ? Effect.logInfo(`cannot join ${controller} yet (${error.message}); retrying with backoff`) : Effect.void,
            ),
            Effect.retry({ schedule: joinBackoff, while: (error) => error.code === "UNAVAILABLE" }),
          )
    } else if (hasLocalCa(dataRoot)) {
      held = yield* mintLocally(dataRoot, as)
    } else {
      return yield* noCredentials(controller, as, dataRoot)
    }
    cell.set(held)
    return { transport, cell, caFingerprint }
  })

/** A certificate from the controller's CA in `dataRoot`, for a command on the controller's host. */
const mintLocally = (dataRoot: string, as: AccessIdentity): Effect.Effect<HeldCertificate, CrankError> =>
  Effect.gen(function* () {
    const ca = yield* CertificateAuthority.load(caDirectory(dataRoot))
    return yield* localCertificate(ca, { role: as.local, id: as.id }, CertificateAuthority.defaultLeafLifetimeMs)
  }).pipe(Effect.mapError((error) => crankError("UNAUTHORIZED", `cannot use the controller's CA in ${caDirectory(dataRoot)}: ${messageOf(error)}`)))

/** The fingerprint of the CA in `dataRoot`'s controller directory. */
const localCaFingerprint = (dataRoot: string): Effect.Effect<string, CrankError> =>
  Effect.try({
    try: () => WebSocketTransport.caFingerprintOf(readFileSync(join(caDirectory(dataRoot), CertificateAuthority.caCertificateFile), "utf8")),
    catch: (error) => crankError("UNAUTHORIZED", `cannot read the controller's CA certificate in ${caDirectory(dataRoot)}: ${messageOf(error)}`),
  })
