import { hostname } from "node:os"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Client from "../../actors/Client.ts"
import { defaultDataRoot } from "../../actors/dataDirectory.ts"
import { type CrankError, crankError } from "../../capabilities/CrankError.ts"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { schemeOf, Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import type { IdentityRole, Role } from "../../trust/identity.ts"
import { hasLocalCa } from "../trust/caLocation.ts"
import type { CredentialsCell } from "../trust/credentialsCell.ts"
import { connectClient } from "./connect.ts"
import { environment } from "./environment.ts"
import { defaultHost, defaultPort, pick, pickNumber } from "./options.ts"

/** How a worker waits for a controller that is not there yet: 200 ms doubling to 5 s, jittered. */
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

/** The transport, and over `wss://` a certificate got as the header says; fails `UNAUTHORIZED` when there is no way to one. */
export const meshAccess = (flags: AccessFlags, as: AccessIdentity): Effect.Effect<MeshAccess, CrankError> =>
  Effect.gen(function* () {
    const controller = controllerAddressOf(flags)
    const secure = schemeOf(controller) === "wss"
    if (!secure) {
      const transport = WebSocketTransport.make()
      return { controller, secure, transport: withMemory(transport), cell: undefined, caFingerprint: undefined }
    }
    // Loaded only here: certificates need the x509 library, a third of a second a plain command need not pay.
    const { certificateAccess } = yield* Effect.promise(() => import("./certificateAccess.ts"))
    const { transport, cell, caFingerprint } = yield* certificateAccess(controller, flags, as)
    return { controller, secure, transport: withMemory(transport), cell, caFingerprint }
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
