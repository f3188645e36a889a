/**
 * How CLI commands reach the mesh, and the one mapping from a transport failure to what the user reads.
 * A controller that cannot be reached is `UNAVAILABLE` with the next step to take, never a bare socket error.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Client from "../../actors/Client.ts"
import { type CrankError, crankError } from "../../capabilities/CrankError.ts"
import type { Transport } from "../../transports/Transport.ts"
import { environment } from "./environment.ts"

/** A node that could not start (a port in use, an address it cannot bind) as the CLI reports it. */
export const unavailable = (error: { readonly message: string }): CrankError => crankError("UNAVAILABLE", error.message)

/** What to do when no controller answers at `address`. */
export const noControllerHint = (address: string): string =>
  `is a controller running there? Start one with \`crank controller\` (or \`crank dev\`), or point to yours with --controller URL (env ${environment.controller}); tried ${address}`

/**
 * A client of the controller at `address`; an unreachable controller fails with `UNAVAILABLE` and the hint above.
 * Through the controller's relay: a command makes one or two requests, so learning the routing table and dialling
 * a worker would cost more round trips than the one hop it saves.
 */
export const connectClient = (address: string, timeoutMs: number): Effect.Effect<Client.Client, CrankError, Scope.Scope | Transport> =>
  Client.make({ controller: address, timeoutMs, direct: false }).pipe(
    Effect.mapError((error) => crankError("UNAVAILABLE", `${error.message}: ${noControllerHint(address)}`)),
  )
