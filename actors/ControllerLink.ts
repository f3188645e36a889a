/**
 * The client's one connection to the controller (a `SharedDial`, sharedDial.ts): reconnected on demand and
 * shared by concurrent callers. Requests that no direct route serves, and the routing table itself
 * (`crank.routes`), go through it. A caller whose deadline runs out while the link is being dialled stops
 * waiting (`TIMEOUT`) without cutting the dial off for the others.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { CrankError } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection, Transport } from "../transports/Transport.ts"
import { callAfter, callWithin } from "./callWithin.ts"
import * as SharedDial from "./sharedDial.ts"

export interface ControllerLink {
  /**
   * Sends `invoke` to the controller (which serves or relays it) and waits for the reply; dials first if the
   * link is down, within `invoke.timeoutMs`. Never fails: no link is a `Failure` with code `UNAVAILABLE`.
   */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
  /** Sends a streaming request to the controller (which relays it to a worker); dials first if the link is down. */
  readonly stream: (invoke: Invoke) => Stream.Stream<unknown, CrankError>
  /** The open connection, dialling (once for all callers) if there is none. */
  readonly connection: Effect.Effect<Connection, CrankError>
  /** How many times the link has been dialled, the first time included: for tests and diagnostics. */
  readonly dials: () => number
}

/**
 * Dials the controller at `address` on the `Transport` in context; fails with `UNAVAILABLE` if it cannot be reached
 * now. Later drops are redialled on demand. The connection closes with the scope.
 *
 * @example
 * ```ts
 * const link = yield* ControllerLink.make({ address: "ws://127.0.0.1:7070" })
 * const reply = yield* link.call({ _tag: "Invoke", id: "r1", capability: "crank.status", range: "*", input: {}, timeoutMs: 1_000 })
 * ```
 */
export const make = (options: { readonly address: string }): Effect.Effect<ControllerLink, CrankError, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const link = yield* SharedDial.make({ address: options.address, what: "the controller" })
    yield* link.connection

    const call = (invoke: Invoke): Effect.Effect<Reply> =>
      Effect.suspend(() => {
        const connection = link.current()
        return connection !== undefined
          ? callWithin(connection, invoke)
          : callAfter(link.connection, invoke, (error) => Effect.succeed(failureOf(invoke.id, error)))
      })

    const stream = (invoke: Invoke): Stream.Stream<unknown, CrankError> => Stream.unwrap(Effect.map(link.connection, (connection) => connection.stream(invoke)))

    return { call, stream, connection: link.connection, dials: link.dials } satisfies ControllerLink
  })
