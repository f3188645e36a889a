/**
 * One connection to an address, dialled on demand and shared by every caller: the client's link to its
 * controller (ControllerLink.ts) and its link to each worker (DirectRoutes.ts) are both one of these.
 *
 * The first caller that finds no open connection starts one dial; every caller that arrives while it is under
 * way waits for that same dial instead of starting its own. Why one: a dial per caller would close the connection
 * another caller had just opened (20 concurrent calls after a controller restart answered 1 ok and 19
 * `UNAVAILABLE`), and would open as many sockets as there are callers.
 *
 * The dial runs in a fiber of its own under the owner's scope, so a caller that stops waiting (its deadline ran
 * out) does not cut the dial off for the others, and closing the owner interrupts it. Each connection lives in a
 * scope of its own, closed when that connection closes or is released, never while someone is dialling in it.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import { type Connection, type Handlers, Transport } from "../transports/Transport.ts"

export interface SharedDial {
  /** The open connection, dialling once for all callers if there is none; `UNAVAILABLE` when the dial fails. */
  readonly connection: Effect.Effect<Connection, CrankError>
  /** The open connection, if there is one now. */
  readonly current: () => Connection | undefined
  /** Closes the connection (its scope), unless a dial is under way. */
  readonly release: () => void
  /** Whether a dial is under way. */
  readonly dialling: () => boolean
  /** How many times the address has been dialled: for tests and diagnostics. */
  readonly dials: () => number
}

/** A client serves nothing: a peer that sends it a request gets this. */
const servesNothing = (invoke: Invoke): Effect.Effect<Reply> => Effect.succeed(failureOf(invoke.id, crankError("NO_WORKER", "clients serve nothing")))

const ignore = (): void => {}

export interface SharedDialOptions {
  readonly address: string
  /** Names the peer in failures: "the controller", "worker w1". */
  readonly what: string
  /** Called when a connection closes or a dial fails (after the link has forgotten it). */
  readonly onDown?: () => void
}

/** Where links are made: the transport, the owner's scope, and a runner for effects started from callbacks. */
export interface DialSite {
  readonly transport: Transport
  readonly scope: Scope.Scope
  readonly runBeside: (effect: Effect.Effect<void>) => unknown
}

/** The site of the current scope, for owners that make links as they go (one per worker in DirectRoutes). */
export const site: Effect.Effect<DialSite, never, Scope.Scope | Transport> = Effect.gen(function* () {
  return { transport: yield* Transport, scope: yield* Effect.scope, runBeside: yield* FiberSet.makeRuntime<never, void, never>() }
})

/**
 * @example
 * ```ts
 * const link = yield* SharedDial.make({ address: "ws://127.0.0.1:7070", what: "the controller" })
 * const connection = yield* link.connection
 * ```
 */
export const make = (options: SharedDialOptions): Effect.Effect<SharedDial, never, Scope.Scope | Transport> => Effect.map(site, (at) => makeIn(at, options))

/** A link made at `at`, without an effect: for owners that create links inside plain callbacks. */
export const makeIn = ({ transport, scope, runBeside }: DialSite, options: SharedDialOptions): SharedDial => {
  const onDown = options.onDown ?? ignore
  let current: Connection | undefined
  let currentScope: Scope.Closeable | undefined
  let dialling: Fiber.Fiber<Connection, CrankError> | undefined
  let dials = 0

  const closeScope = (own: Scope.Closeable): void => {
    runBeside(Scope.close(own, Exit.void))
  }

  /** One connection in a scope of its own, closed once that connection has closed. */
  const open: Effect.Effect<Connection, CrankError> = Effect.suspend(() => {
    dials++
    const own = Scope.forkUnsafe(scope)
    const handlers = (connection: Connection): Handlers => ({
      onMessage: ignore,
      serve: servesNothing,
      onClose: () => {
        if (current === connection) {
          current = undefined
          currentScope = undefined
        }
        closeScope(own)
        onDown()
      },
    })
    return transport.connect(options.address, handlers).pipe(
      Scope.provide(own),
      Effect.tap((connection) =>
        Effect.sync(() => {
          if (!connection.isOpen()) return
          current = connection
          currentScope = own
        }),
      ),
      Effect.tapError(() => Effect.sync(() => (closeScope(own), onDown()))),
      Effect.mapError((error) => crankError("UNAVAILABLE", `cannot reach ${options.what} at ${options.address}: ${error.message}`)),
    )
  })

  const connection: Effect.Effect<Connection, CrankError> = Effect.suspend(() => {
    // Checked here, not where the caller decided to wait: a dial may have finished in between.
    if (current?.isOpen()) return Effect.succeed(current)
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

  const awaitDial = (fiber: Fiber.Fiber<Connection, CrankError>): Effect.Effect<Connection, CrankError> =>
    Effect.flatMap(Fiber.await(fiber), (exit) =>
      Exit.isSuccess(exit)
        ? Effect.succeed(exit.value)
        : Effect.fail(
            Cause.hasInterruptsOnly(exit.cause)
              ? crankError("UNAVAILABLE", `cannot reach ${options.what} at ${options.address}: the dial was interrupted`)
              : crankError("UNAVAILABLE", messageOf(Cause.squash(exit.cause))),
          ),
    )

  return {
    connection,
    current: () => (current?.isOpen() ? current : undefined),
    release: () => {
      const own = currentScope
      if (own === undefined || dialling !== undefined) return
      current = undefined
      currentScope = undefined
      closeScope(own)
    },
    dialling: () => dialling !== undefined,
    dials: () => dials,
  }
}
