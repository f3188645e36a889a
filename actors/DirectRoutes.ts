/**
 * The client's side of the data path: a routing table learnt from the controller (`crank.routes`) and one
 * connection per worker, so requests go straight to a worker in one hop. The controller decides; it does not
 * carry (docs/architecture.md, "The data path").
 *
 * The table is refreshed in the background every `refreshMs`, and at once after a direct attempt fails in a way
 * that says the table is out of date (`DRAINING`, `NO_WORKER`, an idempotent request's worker vanishing, a worker
 * that cannot be dialled) or a worker's connection drops; one fetch runs at a time however many ask. Such a
 * worker is skipped at once, before the controller has even noticed, and for a refresh period after (the
 * refresh it asked for may still list it); then it comes back if a refresh lists it. `OVERLOADED` only says the
 * worker is busy: that request goes elsewhere, the worker stays in. What the table cannot serve goes through the
 * controller's relay.
 *
 * Deadlines: the dial of a worker not connected yet and the call after it stay within the request's
 * `timeoutMs`, and a request sent on to the relay carries what is left of it (`TIMEOUT` when nothing is).
 *
 * Each worker connection lives in a scope of its own under the client's, closed when its route retires or the
 * connection drops: a client that outlives many workers holds nothing for the ones that are gone.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { crankError, mayRetryElsewhere } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection, Handlers, Transport } from "../transports/Transport.ts"
import { callWithin, remainingOf, timedOut } from "./callWithin.ts"
import { Router, type Routable } from "./Router.ts"

export interface RouteTable {
  readonly workers: ReadonlyArray<{
    readonly id: string
    readonly address: string
    readonly capabilities: ReadonlyArray<{ readonly id: string; readonly version: string; readonly idempotent: boolean }>
  }>
}

class Route implements Routable {
  routable = true
  connection: Connection | undefined
  /** The scope `connection` lives in, closed when the route retires or the connection drops. */
  scope: Scope.Closeable | undefined
  /** The dial under way, shared by every request waiting for this worker. */
  dialling: Fiber.Fiber<Connection | undefined> | undefined
  /** Requests sent on this route and not answered yet (including those waiting for the dial). */
  inFlight = 0
  /** Gone from the table (draining, stopped, moved): closed once its in-flight requests are answered. */
  retired = false
  /** When a failure took it out (`Clock` ms): refreshes leave it out for a refresh period after that. */
  downAt: number | undefined
  /** Made once per route, not per request: the hot path allocates no finalizer of its own. */
  readonly settle: Effect.Effect<void> = Effect.sync(() => {
    if (--this.inFlight === 0 && this.retired) this.release()
  })
  constructor(
    readonly id: string,
    readonly address: string,
    readonly capabilities: RouteTable["workers"][number]["capabilities"],
  ) {}
  idempotent(capability: string): boolean {
    return this.capabilities.some((c) => c.id === capability && c.idempotent)
  }
  /** Closes the connection's scope (and so the connection), unless a dial is under way in it. */
  release(): void {
    const scope = this.scope
    if (scope === undefined || this.dialling !== undefined) return
    this.scope = undefined
    this.connection = undefined
    Effect.runFork(Scope.close(scope, Exit.void))
  }
}

export interface DirectRoutes {
  /** Serves `invoke` on a worker from the table, or through the relay when the table has none for it. */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
  /** Fetches the table now. */
  readonly refresh: Effect.Effect<void>
  /** How many workers the table holds. */
  readonly size: () => number
  /** How many tables have been fetched and applied: for tests and diagnostics. */
  readonly refreshes: () => number
}

const servesNothing = (invoke: Invoke): Effect.Effect<Reply> =>
  Effect.succeed(failureOf(invoke.id, crankError("NO_WORKER", "clients serve nothing")))

const ignore = (): void => {}

/**
 * Learns the table (once before returning), keeps it fresh, and serves requests from it.
 *
 * @example
 * ```ts
 * const routes = yield* DirectRoutes.make({ transport, refreshMs: 1_000, relay: link.call, fetch })
 * const reply = yield* routes.call(invoke)
 * ```
 */
export const make = (options: {
  readonly transport: Transport
  readonly fetch: Effect.Effect<RouteTable, unknown>
  readonly refreshMs: number
  /** Where a request goes when no direct route serves it, or a direct attempt says to go elsewhere. */
  readonly relay: (invoke: Invoke) => Effect.Effect<Reply>
}): Effect.Effect<DirectRoutes, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const routes = new Map<string, Route>()
    let router = new Router<Route>()
    let refreshes = 0
    const clock = yield* Clock.Clock

    /**
     * Takes a route out after a failure and asks for a refresh. It stays out for a refresh period whatever the
     * refreshes in between say: the controller may not have noticed yet, and a route put back by the refresh
     * this very failure asked for would be dialled and fail again, as fast as requests come.
     */
    const takeOut = (route: Route): void => {
      route.routable = false
      route.downAt = clock.currentTimeMillisUnsafe()
      if (!route.retired) refreshSoon()
    }

    const apply = (table: RouteTable) => {
      refreshes++
      const now = clock.currentTimeMillisUnsafe()
      const next = new Router<Route>()
      const seen = new Set<string>()
      for (const worker of table.workers) {
        seen.add(worker.id)
        let route = routes.get(worker.id)
        if (route === undefined || route.address !== worker.address) {
          if (route !== undefined) retire(route)
          route = new Route(worker.id, worker.address, worker.capabilities)
          routes.set(worker.id, route)
        }
        if (route.downAt !== undefined && now - route.downAt >= options.refreshMs) route.downAt = undefined
        route.routable = route.downAt === undefined
        next.add(route)
      }
      for (const [id, route] of routes) {
        if (seen.has(id)) continue
        routes.delete(id)
        retire(route)
      }
      router = next
    }

    /**
     * A worker leaves the table while it drains: closing its connection at once would fail the requests it is
     * still finishing (UNAVAILABLE, lost for a non-idempotent capability). So no new work goes to it, and the
     * connection closes when the last answer is in.
     */
    const retire = (route: Route): void => {
      route.routable = false
      route.retired = true
      if (route.inFlight === 0) route.release()
    }

    const refresh = options.fetch.pipe(
      Effect.tap((table) => Effect.sync(() => apply(table))),
      Effect.ignore,
    )

    // One background fiber fetches the table: on the timer, or at once when woken. A dropping queue of one
    // coalesces wake-ups: however many failures ask while a fetch is under way, one more fetch follows it.
    const wake = yield* Queue.dropping<void>(1)
    const refreshSoon = (): void => void Queue.offerUnsafe(wake, undefined)
    yield* refresh
    yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(Effect.timeoutOption(Queue.take(wake), options.refreshMs), refresh)),
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => routes.clear()))

    /** Dials a route in a fiber and scope of its own; `undefined` when the worker cannot be dialled now. */
    const dial = (route: Route): Effect.Effect<Connection | undefined> =>
      Effect.suspend(() => {
        const own = Scope.forkUnsafe(scope)
        route.scope = own
        const handlers: Handlers = {
          onMessage: ignore,
          serve: servesNothing,
          onClose: () => {
            // Skipped at once, before the controller has noticed.
            if (route.scope === own) {
              route.connection = undefined
              route.scope = undefined
            }
            Effect.runFork(Scope.close(own, Exit.void))
            takeOut(route)
          },
        }
        return options.transport.connect(route.address, () => handlers).pipe(
          Scope.provide(own),
          Effect.matchEffect({
            onFailure: () =>
              Effect.sync(() => {
                if (route.scope === own) route.scope = undefined
                takeOut(route)
                return undefined
              }).pipe(Effect.tap(() => Scope.close(own, Exit.void))),
            onSuccess: (connection) =>
              Effect.sync(() => {
                if (route.scope === own && connection.isOpen()) route.connection = connection
                return connection
              }),
          }),
        )
      })

    /** The route's connection, dialled once for all the requests that want it; fails when it cannot be dialled. */
    const connectionOf = (route: Route): Effect.Effect<Connection, "unreachable"> =>
      Effect.suspend(() => {
        if (route.connection !== undefined && route.connection.isOpen()) return Effect.succeed(route.connection)
        const dialling = route.dialling
        if (dialling !== undefined) return awaitDial(dialling)
        // In the client's scope, not the caller's fiber: a caller that gives up does not cut the dial off for
        // the others, and closing the client interrupts it (a dial into a closed scope never starts).
        return Effect.flatMap(Effect.forkIn(dial(route), scope, { startImmediately: true }), (fiber) => {
          if (fiber.pollUnsafe() === undefined) {
            route.dialling = fiber
            fiber.addObserver(() => {
              if (route.dialling === fiber) route.dialling = undefined
              if (route.retired && route.inFlight === 0) route.release()
            })
          }
          return awaitDial(fiber)
        })
      })

    const awaitDial = (fiber: Fiber.Fiber<Connection | undefined>): Effect.Effect<Connection, "unreachable"> =>
      Effect.flatMap(Fiber.await(fiber), (exit) =>
        Exit.isSuccess(exit) && exit.value !== undefined ? Effect.succeed(exit.value) : Effect.fail("unreachable" as const),
      )

    /**
     * The direct part of a request on a route not connected yet: the dial, then the call, both within the
     * request's deadline. `undefined` when the worker cannot be dialled.
     */
    const dialThenCall = (route: Route, invoke: Invoke, startedAt: number): Effect.Effect<Reply | undefined> =>
      Effect.matchEffect(Effect.timeoutOption(connectionOf(route), invoke.timeoutMs), {
        onFailure: () => Effect.succeed(undefined),
        onSuccess: (connection) => {
          const rest = Option.isSome(connection) ? remainingOf(invoke, startedAt, clock.currentTimeMillisUnsafe()) : undefined
          return Option.isNone(connection) || rest === undefined
            ? Effect.succeed(timedOut(invoke, invoke.timeoutMs, `while connecting to worker ${route.id}`))
            : callWithin(connection.value, rest)
        },
      })

    /**
     * After a direct attempt: a reply that says the request never ran, or that an idempotent request's worker
     * vanished, goes to the relay with what is left of the budget. A failure that says the table is stale
     * (all of those but `OVERLOADED`, which only says the worker is busy) takes the route out and refreshes.
     * `undefined`: the worker could not be dialled (the dial has asked for a refresh already).
     */
    const afterAttempt = (route: Route, invoke: Invoke, reply: Reply | undefined, startedAt: number): Effect.Effect<Reply> => {
      if (reply !== undefined) {
        if (reply._tag === "Result" || !mayRetryElsewhere(reply.code, route.idempotent(invoke.capability))) return Effect.succeed(reply)
        if (reply.code !== "OVERLOADED") takeOut(route)
      }
      const rest = remainingOf(invoke, startedAt, clock.currentTimeMillisUnsafe())
      return rest !== undefined
        ? options.relay(rest)
        : Effect.succeed(timedOut(invoke, invoke.timeoutMs, reply === undefined ? `worker ${route.id} could not be dialled` : `worker ${route.id} answered ${reply.code}`))
    }

    const viaRoute = (route: Route, invoke: Invoke): Effect.Effect<Reply> => {
      const startedAt = clock.currentTimeMillisUnsafe()
      // Counted from before the dial: a route retired meanwhile keeps its connection until these are answered.
      route.inFlight++
      const connection = route.connection
      const attempt: Effect.Effect<Reply | undefined> = connection !== undefined && connection.isOpen()
        ? callWithin(connection, invoke)
        : dialThenCall(route, invoke, startedAt)
      return Effect.flatMap(Effect.ensuring(attempt, route.settle), (reply) =>
        reply !== undefined && reply._tag === "Result" ? Effect.succeed(reply) : afterAttempt(route, invoke, reply, startedAt),
      )
    }

    return {
      // Picked when the request runs, not when it is built: a retried request is routed afresh.
      call: (invoke) =>
        Effect.suspend(() => {
          const route = router.pick(invoke.capability, invoke.range)
          return route === undefined ? options.relay(invoke) : viaRoute(route, invoke)
        }),
      refresh,
      size: () => routes.size,
      refreshes: () => refreshes,
    }
  })
