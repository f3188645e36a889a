/**
 * The client's one connection to the controller, reconnected on demand and shared by concurrent callers.
 *
 * Requests that no direct route serves, and the routing table itself (`crank.routes`), go through it. When the
 * controller restarts, the first request that finds the link down starts one dial; every request that arrives
 * while it is under way waits for that same dial instead of starting its own. Why one: a dial per caller would
 * close the connection another caller had just opened (20 concurrent calls after a restart answered 1 ok and
 * 19 `UNAVAILABLE`), and would open as many sockets as there are callers.
 *
 * The dial runs in a fiber of its own, in a scope of its own under the client's: a caller whose deadline runs
 * out stops waiting (`TIMEOUT`) without cutting the dial off for the others, and a connection's scope is closed
 * only when that connection has closed, never while someone is connecting in it.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { crankError, type CrankError, messageOf } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection, Handlers, Transport, TransportError } from "../transports/Transport.ts"
import { callAfter, callWithin } from "./callWithin.ts"

export interface ControllerLink {
  /**
   * Sends `invoke` to the controller (which serves or relays it) and waits for the reply; dials first if the
   * link is down, within `invoke.timeoutMs`. Never fails: no link is a `Failure` with code `UNAVAILABLE`.
   */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
  /** The open connection, dialling (once for all callers) if there is none. */
  readonly connection: Effect.Effect<Connection, CrankError>
  /** How many times the link has been dialled, the first time included: for tests and diagnostics. */
  readonly dials: () => number
}

/** A client serves nothing: a controller that sends it a request gets this. */
const servesNothing = (invoke: Invoke): Effect.Effect<Reply> =>
  Effect.succeed(failureOf(invoke.id, crankError("NO_WORKER", "clients serve nothing")))

const ignore = (): void => {}

/**
 * Dials the controller at `address`; fails with the `TransportError` if it cannot be reached now. Later drops
 * are redialled on demand. The connection closes with the scope.
 *
 * @example
 * ```ts
 * const link = yield* ControllerLink.make({ transport, address: "ws://127.0.0.1:7070" })
 * const reply = yield* link.call({ _tag: "Invoke", id: "r1", capability: "crank.status", range: "*", input: {}, timeoutMs: 1_000 })
 * ```
 */
export const make = (options: {
  readonly transport: Transport
  readonly address: string
}): Effect.Effect<ControllerLink, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    let current: Connection | undefined
    /** The dial under way, shared by every caller that found the link down. */
    let dialling: Fiber.Fiber<Connection, TransportError> | undefined
    let dials = 0

    /** One connection in a scope of its own, closed once that connection has closed. */
    const open: Effect.Effect<Connection, TransportError> = Effect.suspend(() => {
      dials++
      const own = Scope.forkUnsafe(scope)
      const handlers = (connection: Connection): Handlers => ({
        onMessage: ignore,
        serve: servesNothing,
        onClose: () => {
          if (current === connection) current = undefined
          Effect.runFork(Scope.close(own, Exit.void))
        },
      })
      return options.transport.connect(options.address, handlers).pipe(
        Scope.provide(own),
        Effect.tap((connection) => Effect.sync(() => (current = connection))),
        Effect.onError(() => Scope.close(own, Exit.void)),
      )
    })

    const redial: Effect.Effect<Connection, CrankError> = Effect.suspend(() => {
      // Re-checked here, not where the caller decided to wait: a dial may have finished in between.
      if (current !== undefined && current.isOpen()) return Effect.succeed(current)
      if (dialling !== undefined) return awaitDial(dialling)
      return Effect.flatMap(Effect.forkIn(open, scope, { startImmediately: true }), (fiber) => {
        if (fiber.pollUnsafe() === undefined) {
          dialling = fiber
          fiber.addObserver(() => {
            if (dialling === fiber) dialling = undefined
          })
        }
        return awaitDial(fiber)
      })
    })

    const awaitDial = (fiber: Fiber.Fiber<Connection, TransportError>): Effect.Effect<Connection, CrankError> =>
      Effect.flatMap(Fiber.await(fiber), (exit) =>
        Exit.isSuccess(exit)
          ? Effect.succeed(exit.value)
          : Effect.fail(
              crankError(
                "UNAVAILABLE",
                `cannot reach the controller at ${options.address}: ${Cause.hasInterruptsOnly(exit.cause) ? "the dial was interrupted" : messageOf(Cause.squash(exit.cause))}`,
              ),
            ),
      )

    yield* open

    const call = (invoke: Invoke): Effect.Effect<Reply> =>
      Effect.suspend(() =>
        current !== undefined && current.isOpen()
          ? callWithin(current, invoke)
          : callAfter(redial, invoke, (error) => Effect.succeed(failureOf(invoke.id, error))),
      )

    return { call, connection: redial, dials: () => dials } satisfies ControllerLink
  })
