/**
 * How a command that joins or calls the mesh (`worker`, `invoke`, `status`, `drain`, `watch`) reaches its
 * controller: over mutual TLS (`wss://`) with a certificate of its own, or plainly (`ws://`, `--insecure`, `crank
 * dev`), as before.
 *
 * The scheme of the controller's URL decides. Without `--controller` (or `CRANK_CONTROLLER_URL`) the default is
 * `wss://127.0.0.1:7070` when this command has a way to prove who it is (a join token, or the controller's CA in
 * its data directory), else `ws://127.0.0.1:7070`, so `npm start` followed by `crank invoke` stays zero-config (and
 * still does in a directory where a secure controller once ran: `connectMesh` reaches a plain controller on the
 * default port plainly when the default chose `wss://` only because of the CA).
 *
 * Over `wss://` the command's certificate comes, in this order, from:
 * 1. `--token` (`CRANK_TOKEN`): a join token as `crank token create` prints it; the process makes its key pair and
 *    asks the controller to sign it (`requestCertificate`), checking the controller against the CA fingerprint the
 *    token carries. The token's role decides what the command may do.
 * 2. The controller's CA in `--data-dir` (`CRANK_DATA_DIR`, `.crank`), when the command runs beside the controller
 *    as the same user: it mints its own certificate (an operator's for tools, a worker's for workers).
 * 3. Nothing: `UNAUTHORIZED`, saying how to get one.
 *
 * @example
 * ```ts
 * const access = yield* meshAccess({ controller, token, dataDir, insecure }, { hint: "client", id: cliId(), local: "operator" })
 * const client = yield* connectClient(access.controller, timeoutMs).pipe(Effect.provideService(Transport, access.transport))
 * ```
 */
import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Client from "../../actors/Client.ts"
import { defaultDataRoot } from "../../actors/dataDirectory.ts"
import { type CrankError, crankError, messageOf } from "../../capabilities/CrankError.ts"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { schemeOf, Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import type { IdentityRole, Role } from "../../trust/identity.ts"
import { CredentialsCell, type HeldCertificate } from "../trust/credentialsCell.ts"
import { parseJoinToken } from "../trust/joinToken.ts"
import { caDirectory, hasLocalCa, localCertificate } from "../trust/localCertificate.ts"
import { requestCertificate } from "../trust/requestCertificate.ts"
import { connectClient } from "./connect.ts"
import { environment } from "./environment.ts"
import { defaultHost, defaultPort, pick, pickNumber } from "./options.ts"

/** How a worker waits for a controller that is not there yet: 200 ms doubling to 5 s, jittered. */
const joinBackoff = Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

export interface AccessFlags {
  readonly controller?: string | undefined
  readonly token?: string | undefined
  readonly dataDir?: string | undefined
  readonly insecure?: boolean | undefined
}

/** `--insecure`, or its twin `CRANK_INSECURE=1`. */
export const isInsecure = (flag: unknown): boolean => flag === true || ["1", "true", "yes"].includes((process.env[environment.insecure] ?? "").toLowerCase())

/** The data root a command reads the controller's CA from: `--data-dir`, `CRANK_DATA_DIR`, `.crank`. */
export const dataRootOf = (flag: unknown): string => pick(flag, "dataDir") ?? defaultDataRoot()

/** An id made of this host's name and something of this process, within the identity rules (`trust/identity.ts`). */
export const processId = (prefix: string): string => {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 48)
  return `${prefix}${host === "" ? "" : `${host}-`}${process.pid}`
}

/** The controller's URL: the flag, its twin, else the local default (see the header). */
export const controllerAddressOf = (flags: AccessFlags): string => {
  const given = pick(flags.controller, "controller")
  if (given !== undefined) return given
  const canProve = !isInsecure(flags.insecure) && (pick(flags.token, "token") !== undefined || hasLocalCa(dataRootOf(flags.dataDir)))
  return `${canProve ? "wss" : "ws"}://${defaultHost}:${pickNumber(undefined, "port", defaultPort)}`
}

export interface MeshAccess {
  readonly controller: string
  /** True over `wss://`. */
  readonly secure: boolean
  /** The transport to reach the mesh on: WebSocket (with this process's certificate over `wss://`) and memory. */
  readonly transport: WebSocketTransport.WebSocketTransport & Transport
  /** The certificate this process presents, over `wss://`. */
  readonly cell: CredentialsCell | undefined
  /** The CA fingerprint the join token carried, if any. */
  readonly caFingerprint: string | undefined
}

export interface AccessIdentity {
  /** What the CSR hopes to be (the token decides). */
  readonly hint: IdentityRole
  /** The id asked for (a worker process: its node id). */
  readonly id: string
  /** The role minted from a local CA. */
  readonly local: Role
}

const noCredentials = (controller: string, as: AccessIdentity, dataRoot: string): CrankError =>
  crankError(
    "UNAUTHORIZED",
    `the controller at ${controller} admits only peers with a certificate from its CA, and this ${as.hint === "worker" ? "worker" : "command"} has none: ` +
      `pass --token with a join token (on the controller's host: crank token create --role ${as.hint === "worker" ? "worker" : "client"}), ` +
      `run it where the controller's data directory is (--data-dir; ${caDirectory(dataRoot)} has no CA), or reach a controller started with --insecure at its ws:// address`,
  )

/** The transport, and over `wss://` a certificate got as the header says; fails `UNAUTHORIZED` when there is no way to one. */
export const meshAccess = (flags: AccessFlags, as: AccessIdentity): Effect.Effect<MeshAccess, CrankError> =>
  Effect.gen(function* () {
    const controller = controllerAddressOf(flags)
    const secure = schemeOf(controller) === "wss"
    if (!secure) {
      const transport = WebSocketTransport.make()
      return { controller, secure, transport: withMemory(transport), cell: undefined, caFingerprint: undefined }
    }
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
    return { controller, secure, transport: withMemory(transport), cell, caFingerprint }
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

/** The WebSocket transport with an in-memory one beside it (as every CLI command has), keeping `renew`. */
const withMemory = (transport: WebSocketTransport.WebSocketTransport): WebSocketTransport.WebSocketTransport & Transport => {
  const both = combine(MemoryTransport.make(), transport)
  return { ...transport, ...both, renew: transport.renew }
}

/** The flags every command that reaches the mesh takes, for `parse`. */
export const accessOptions = {
  controller: { type: "string" },
  token: { type: "string" },
  "data-dir": { type: "string" },
  insecure: { type: "boolean" },
} as const

/** The access flags from parsed values. */
export const accessFlagsOf = (values: { controller?: string; token?: string; "data-dir"?: string; insecure?: boolean }): AccessFlags => ({
  controller: values.controller,
  token: values.token,
  dataDir: values["data-dir"],
  insecure: values.insecure,
})

/**
 * A client of the controller for a command (`invoke`, `status`, `drain`), with a certificate of its own over
 * `wss://`: a client's or an operator's from its token, or an operator's minted beside the controller.
 */
export const connectMesh = (flags: AccessFlags, timeoutMs: number): Effect.Effect<Client.Client, CrankError, Scope.Scope> => {
  const connect = (flags: AccessFlags) =>
    Effect.flatMap(meshAccess(flags, { hint: "client", id: processId("cli-"), local: "operator" }), (access) =>
      connectClient(access.controller, timeoutMs).pipe(
        Effect.provideService(Transport, access.transport),
        Effect.mapError((error) => {
          if (!access.secure && /ECONNRESET|socket hang up/.test(error.message)) return crankError("UNAVAILABLE", `${error.message}. ${plainToTls}`)
          if (access.secure && tlsToPlain.test(error.message)) return crankError("UNAVAILABLE", `${error.message}. ${plainAnswer}`)
          return error
        }),
      ),
    )
  // The default address chose wss:// because the controller's CA is here; a plain controller on that port (crank dev
  // started later in the same directory) is then reached plainly, as before. No token is at stake on this path.
  const defaulted = pick(flags.controller, "controller") === undefined && pick(flags.token, "token") === undefined && !isInsecure(flags.insecure)
  return defaulted
    ? Effect.catchIf(
        connect(flags),
        (error) => tlsToPlain.test(error.message),
        () => connect({ ...flags, insecure: true }),
      )
    : connect(flags)
}

/** What OpenSSL says when the other end answered a TLS hello in plain text. */
const tlsToPlain = /wrong version number|EPROTO/

/** What a wss:// client is told when the other end spoke plain text. */
const plainAnswer = "The controller there speaks plain ws:// (crank dev, crank controller --insecure): reach it with --controller ws://... or --insecure"

/** What a plain ws:// client is told when the other end hung up at once: it may be a TLS port. */
const plainToTls =
  "A secure controller drops plain ws:// at the TLS handshake: reach it at wss:// with a join token (--token), or beside it with its --data-dir"
