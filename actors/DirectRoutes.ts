/**
 * The client's side of the data path: a routing table learnt from the controller (`crank.routes`) and one
 * connection per worker, so requests go straight to a worker in one hop. The controller decides; it does not
 * carry (docs/architecture.md, "The data path").
 *
 * The table is refreshed in the background every `refreshMs` and at once after a failure that says it is out
 * of date. A worker whose connection drops is skipped at once, before the controller has even noticed; it comes
 * back when a refresh lists it again. What the table cannot serve goes through the controller's relay.
 */
import { Effect, Schedule, Scope } from "effect"
import { crankError } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection, Transport } from "../transports/Transport.ts"
import { callWithin } from "./callWithin.ts"
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
  connecting: Promise<Connection | undefined> | undefined
  /** Requests sent on this route and not answered yet. */
  inFlight = 0
  /** Gone from the table (draining, stopped, moved): closed once its in-flight requests are answered. */
  retired = false
  constructor(
    readonly id: string,
    readonly address: string,
    readonly capabilities: RouteTable["workers"][number]["capabilities"],
  ) {}
  idempotent(capability: string): boolean {
    return this.capabilities.some((c) => c.id === capability && c.idempotent)
  }
}

export interface DirectRoutes {
  /** Serves `invoke` on a worker from the table, or returns `undefined` when the table has none for it. */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply> | undefined
  /** Fetches the table now. */
  readonly refresh: Effect.Effect<void>
  readonly size: () => number
}

/** Failures after which the request can go elsewhere: the worker never ran it, or it vanished (idempotent only). */
const shouldReroute = (reply: Reply, route: Route, invoke: Invoke): boolean =>
  reply._tag === "Failure" &&
  (reply.code === "DRAINING" || reply.code === "OVERLOADED" || reply.code === "NO_WORKER" || (reply.code === "UNAVAILABLE" && route.idempotent(invoke.capability)))

export const make = (options: {
  readonly transport: Transport
  readonly fetch: Effect.Effect<RouteTable, unknown>
  readonly refreshMs: number
  /** Where a request goes when no direct route serves it, or a direct attempt says to go elsewhere. */
  readonly relay: (invoke: Invoke) => Effect.Effect<Reply>
}): Effect.Effect<DirectRoutes, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const services = yield* Effect.context<never>()
    const routes = new Map<string, Route>()
    let router = new Router<Route>()

    const apply = (table: RouteTable) => {
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
        route.routable = true
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
      if (route.inFlight === 0 && route.connection !== undefined) Effect.runFork(route.connection.close())
    }

    const settle = (route: Route) =>
      Effect.sync(() => {
        if (--route.inFlight === 0 && route.retired && route.connection !== undefined) Effect.runFork(route.connection.close())
      })

    const refresh = options.fetch.pipe(
      Effect.tap((table) => Effect.sync(() => apply(table))),
      Effect.ignore,
    )

    /** Opens (once) the connection to a route; `undefined` when the worker cannot be dialled right now. */
    const connect = (route: Route): Promise<Connection | undefined> =>
      (route.connecting ??= Effect.runPromiseWith(services)(
        options.transport
          .connect(route.address, () => ({
            onMessage: () => {},
            serve: (invoke) => Effect.succeed(failureOf(invoke.id, crankError("NO_WORKER", "clients serve nothing"))),
            onClose: () => {
              route.routable = false
              route.connection = undefined
              route.connecting = undefined
            },
          }))
          .pipe(
            Scope.provide(scope),
            Effect.map((connection) => (route.connection = connection)),
            Effect.catch(() =>
              Effect.sync(() => {
                route.routable = false
                route.connecting = undefined
                return undefined
              }),
            ),
          ),
      ))

    const viaRoute = (route: Route, invoke: Invoke): Effect.Effect<Reply> => {
      const attempt = Effect.suspend(() => {
        route.inFlight++
        const call = route.connection !== undefined
          ? callWithin(route.connection, invoke)
          : Effect.flatMap(Effect.promise(() => connect(route)), (connection) => (connection === undefined ? options.relay(invoke) : callWithin(connection, invoke)))
        return Effect.ensuring(call, settle(route))
      })
      return Effect.flatMap(attempt, (reply) => {
        if (!shouldReroute(reply, route, invoke)) return Effect.succeed(reply)
        if (reply._tag === "Failure" && reply.code !== "OVERLOADED") route.routable = false
        return options.relay(invoke)
      })
    }

    yield* refresh
    yield* Effect.forkScoped(Effect.repeat(refresh, Schedule.spaced(options.refreshMs)))
    yield* Effect.addFinalizer(() => Effect.sync(() => routes.clear()))

    return {
      call: (invoke) => {
        const route = router.pick(invoke.capability, invoke.range)
        return route === undefined ? undefined : viaRoute(route, invoke)
      },
      refresh,
      size: () => routes.size,
    }
  })
