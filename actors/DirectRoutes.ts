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
 *
 * Routing is the shared `Router` with the call's strategy (a `Choice`; else the capability's, else round-robin,
 * preferring the client's own node when it has one). Each route keeps a breaker (actors/breaker.ts) and a latency
 * average across refreshes; an attempt's outcome is recorded before the request goes on to the relay, so a route
 * whose breaker that failure opened is skipped from the next request on.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type CrankError, crankError } from "../capabilities/CrankError.ts"
import type { Invoke, Reply } from "../transports/Envelope.ts"
import type { Transport } from "../transports/Transport.ts"
import { Breaker, type BreakerOptions, BreakerState, type Outcome, outcomeOf } from "./breaker.ts"
import { callAfter, callWithin, remainingOf, timedOut } from "./callWithin.ts"
import type { Route as RouteEntry } from "./Registry.ts"
import { type Routable, Router } from "./Router.ts"
import { goesElsewhere } from "./retryPolicy.ts"
import { Ewma } from "./routing/ewma.ts"
import type { Choice } from "./routing/strategy.ts"
import * as SharedDial from "./sharedDial.ts"

export interface RouteTable {
  readonly workers: ReadonlyArray<RouteEntry>
  /** The controller is still recovering (it started within a heartbeat interval): missing workers are kept. */
  readonly recovering?: boolean
}

class Route implements Routable {
  routable = true
  /** Requests sent on this route and not answered yet (including those waiting for the dial). */
  inFlight = 0
  /** Gone from the table (draining, stopped, moved): closed once its in-flight requests are answered. */
  retired = false
  /** When a failure took it out (`Clock` ms): refreshes leave it out for a refresh period after that. */
  downAt: number | undefined
  /** Made once per route, not per request: the hot path allocates no finalizer of its own. */
  readonly settle: Effect.Effect<void> = Effect.sync(() => {
    if (--this.inFlight === 0 && this.retired) this.link.release()
  })
  /** This client's breaker for the worker: kept across refreshes while the worker stays at this address. */
  readonly breaker: Breaker
  /** Latencies this client observed on the worker (latency-aware routing). */
  readonly latency = new Ewma()
  constructor(
    readonly id: string,
    readonly address: string,
    readonly nodeId: string | undefined,
    readonly placement: RouteEntry["placement"],
    readonly capabilities: RouteEntry["capabilities"],
    readonly link: SharedDial.SharedDial,
    breaker: BreakerOptions,
  ) {
    this.breaker = new Breaker(breaker)
  }
  /** What least-in-flight counts: this client's own outstanding requests on the worker. */
  get pending(): number {
    return this.inFlight
  }
  idempotent(capability: string): boolean {
    return this.capabilities.some((c) => c.id === capability && c.idempotent)
  }
}

export interface DirectRoutes {
  /** Serves `invoke` on a worker from the table, or through the relay when the table has none for it. */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
  /** `call`, routed at once, by `choice` (strategy, affinity key) when given: for a caller already inside the effect that sends the request. */
  readonly callNow: (invoke: Invoke, choice?: Choice) => Effect.Effect<Reply>
  /**
   * A streaming request, on a worker from the table (dialled if need be) or through the relay when the table has
   * none for it. Not retried once sent: items may already have reached the caller.
   */
  readonly stream: (invoke: Invoke, choice?: Choice) => Stream.Stream<unknown, CrankError>
  /** Fetches the table now. */
  readonly refresh: Effect.Effect<void>
  /** How many workers the table holds. */
  readonly size: () => number
  /** How many tables have been fetched and applied: for tests and diagnostics. */
  readonly refreshes: () => number
}

/**
 * Learns the table (once before returning), keeps it fresh, and serves requests from it; workers are dialled on
 * the `Transport` in context.
 *
 * @example
 * ```ts
 * const routes = yield* DirectRoutes.make({ refreshMs: 1_000, relay: link.call, fetch })
 * const reply = yield* routes.call(invoke)
 * ```
 */
export const make = (options: {
  readonly fetch: Effect.Effect<RouteTable, unknown>
  readonly refreshMs: number
  /** Where a request goes when no direct route serves it, or a direct attempt says to go elsewhere. */
  readonly relay: (invoke: Invoke) => Effect.Effect<Reply>
  /** Where a streaming request goes when no direct route serves it; default: it fails `NO_WORKER`. */
  readonly relayStream?: (invoke: Invoke) => Stream.Stream<unknown, CrankError>
  /** Each worker's breaker in this client; default the `breakerFailures`/`breakerCoolDownMs` defaults. */
  readonly breaker?: BreakerOptions | undefined
  /** The caller's node: its workers are preferred when one is eligible. */
  readonly node?: string | undefined
}): Effect.Effect<DirectRoutes, never, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const dialSite = yield* SharedDial.site
    const routes = new Map<string, Route>()
    let router = new Router<Route>()
    let refreshes = 0
    const clock = yield* Clock.Clock
    const breakerOptions = options.breaker ?? { failures: 5, coolDownMs: 5_000 }
    /** The choice when a call names none: prefer the caller's node, if it has one. Made once, not per request. */
    const localChoice: Choice | undefined = options.node === undefined ? undefined : { node: options.node }
    /**
     * Routes whose breaker is not closed. While there are none, routing passes time 0 and reads no clock: a
     * closed breaker never looks at the time. Recounted at each refresh, so a drift cannot last.
     */
    let unwell = 0

    /** Feeds `route`'s breaker, keeping `unwell` in step. */
    const note = (route: Route, outcome: Outcome, now: number): void => {
      const wasClosed = route.breaker.state === BreakerState.closed
      route.breaker.record(outcome, now)
      const isClosed = route.breaker.state === BreakerState.closed
      if (wasClosed && !isClosed) unwell++
      else if (!wasClosed && isClosed && unwell > 0) unwell--
    }

    /** A result from `route`: closes its breaker if it was not, and records the latency when measured. */
    const succeeded = (route: Route, latencyMs: number | undefined): void => {
      if (route.breaker.state !== BreakerState.closed || route.breaker.failures !== 0) note(route, "success", clock.currentTimeMillisUnsafe())
      if (latencyMs !== undefined) route.latency.observe(latencyMs)
    }

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

    const routeOf = (worker: RouteEntry): Route => {
      // A worker whose connection drops, or that cannot be dialled, is skipped at once, before the controller has noticed.
      const route: Route = new Route(
        worker.id,
        worker.address,
        worker.nodeId,
        worker.placement,
        worker.capabilities,
        SharedDial.makeIn(dialSite, { address: worker.address, what: `worker ${worker.id}`, onDown: () => takeOut(route) }),
        breakerOptions,
      )
      return route
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
          route = routeOf(worker)
          routes.set(worker.id, route)
        }
        if (route.downAt !== undefined && now - route.downAt >= options.refreshMs) route.downAt = undefined
        route.routable = route.downAt === undefined
        next.add(route)
      }
      for (const [id, route] of routes) {
        if (seen.has(id)) continue
        if (table.recovering === true) {
          // A controller that has just (re)started does not know every live worker yet: keep routing to the ones
          // this client knew (a dead one is taken out by its own link), and forget them only once it has recovered.
          next.add(route)
          continue
        }
        routes.delete(id)
        retire(route)
      }
      router = next
      unwell = 0
      for (const route of routes.values()) if (route.breaker.state !== BreakerState.closed) unwell++
    }

    /**
     * A worker leaves the table while it drains: closing its connection at once would fail the requests it is
     * still finishing (UNAVAILABLE, lost for a non-idempotent capability). So no new work goes to it, and the
     * connection closes when the last answer is in.
     */
    const retire = (route: Route): void => {
      route.routable = false
      route.retired = true
      if (route.inFlight === 0) route.link.release()
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
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.timeoutOption(Queue.take(wake), options.refreshMs), refresh)))
    yield* Effect.addFinalizer(() => Effect.sync(() => routes.clear()))

    /**
     * After a direct attempt: a reply that says the request never ran, or that an idempotent request's worker
     * vanished (the retry policy, retryPolicy.ts), goes to the relay with what is left of the budget. A
     * failure that says the table is stale (all of those but `OVERLOADED`, which only says the worker is busy)
     * takes the route out and refreshes. `undefined`: the worker could not be dialled (its link has taken it out).
     */
    const afterAttempt = (route: Route, invoke: Invoke, reply: Reply | undefined, startedAt: number): Effect.Effect<Reply> => {
      // The breaker hears of it first, so the relay's retry comes after a failure that may have opened it.
      const now = clock.currentTimeMillisUnsafe()
      note(route, reply === undefined ? "failure" : outcomeOf(reply), now)
      if (reply !== undefined) {
        if (reply._tag === "Result" || !goesElsewhere(reply, route.idempotent(invoke.capability))) return Effect.succeed(reply)
        if (reply.code !== "OVERLOADED") takeOut(route)
      }
      const rest = remainingOf(invoke, startedAt, now)
      return rest !== undefined
        ? options.relay(rest)
        : Effect.succeed(
            timedOut(invoke, invoke.timeoutMs, reply === undefined ? `worker ${route.id} could not be dialled` : `worker ${route.id} answered ${reply.code}`),
          )
    }

    const viaRoute = (route: Route, invoke: Invoke): Effect.Effect<Reply> => {
      const connection = route.link.current()
      if (connection?.callNow !== undefined) {
        // In one process a handler that answers without waiting has answered here: no effect to build or count.
        const now = connection.callNow(invoke)
        if (!Effect.isEffect(now)) {
          if (now._tag !== "Result") return afterAttempt(route, invoke, now, clock.currentTimeMillisUnsafe())
          succeeded(route, undefined)
          return Effect.succeed(now)
        }
        route.inFlight++
        const startedAt = clock.currentTimeMillisUnsafe()
        return Effect.flatMap(Effect.ensuring(now, route.settle), (reply) => {
          if (reply._tag !== "Result") return afterAttempt(route, invoke, reply, startedAt)
          succeeded(route, clock.currentTimeMillisUnsafe() - startedAt)
          return Effect.succeed(reply)
        })
      }
      const startedAt = clock.currentTimeMillisUnsafe()
      // Counted from before the dial: a route retired meanwhile keeps its connection until these are answered.
      route.inFlight++
      const attempt: Effect.Effect<Reply | undefined> =
        connection !== undefined ? callWithin(connection, invoke) : callAfter(route.link.connection, invoke, () => Effect.succeed(undefined))
      return Effect.flatMap(Effect.ensuring(attempt, route.settle), (reply) => {
        if (reply === undefined || reply._tag !== "Result") return afterAttempt(route, invoke, reply, startedAt)
        succeeded(route, clock.currentTimeMillisUnsafe() - startedAt)
        return Effect.succeed(reply)
      })
    }

    const callNow = (invoke: Invoke, choice?: Choice): Effect.Effect<Reply> => {
      const route = router.pick(invoke.capability, invoke.range, unwell === 0 ? 0 : clock.currentTimeMillisUnsafe(), choice ?? localChoice)
      return route === undefined ? options.relay(invoke) : viaRoute(route, invoke)
    }

    const relayStream =
      options.relayStream ?? ((invoke: Invoke) => Stream.fail(crankError("NO_WORKER", `no direct route serves ${invoke.capability}@${invoke.range}`)))
    const stream = (invoke: Invoke, choice?: Choice): Stream.Stream<unknown, CrankError> =>
      Stream.suspend(() => {
        const route = router.pick(invoke.capability, invoke.range, unwell === 0 ? 0 : clock.currentTimeMillisUnsafe(), choice ?? localChoice)
        if (route === undefined) return relayStream(invoke)
        route.inFlight++
        const connection = route.link.current()
        // A worker that cannot be dialled has taken itself out (its link's `onDown`): the relay serves the request.
        const items =
          connection !== undefined
            ? connection.stream(invoke)
            : Stream.unwrap(
                Effect.match(route.link.connection, {
                  onSuccess: (dialled) => dialled.stream(invoke),
                  onFailure: () => relayStream(invoke),
                }),
              )
        return Stream.ensuring(items, route.settle)
      })

    return {
      // Picked when the request runs, not when it is built: a retried request is routed afresh.
      call: (invoke) => Effect.suspend(() => callNow(invoke)),
      callNow,
      stream,
      refresh,
      size: () => routes.size,
      refreshes: () => refreshes,
    }
  })
