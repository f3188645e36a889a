/**
 * No gap on controller restart: a controller that has just started says it is recovering for one heartbeat
 * interval, and clients keep routing on the table they had until it has recovered, so live workers keep serving
 * while they re-register. In virtual time: the workers are made slow to come back (a long registration backoff),
 * so the client refreshes its table from the new controller while that controller knows nobody yet.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { settled, yieldTimes } from "../support/poll.ts"

const address = "memory://controller"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Transport>) =>
  Effect.runPromise(
    effect.pipe(
      withTunables({ heartbeatIntervalMs: 1_000, staleAfterMs: 4_000, evictAfterMs: 10_000, routeRefreshMs: 100 }),
      Effect.provideService(Transport, MemoryTransport.make()),
      Effect.scoped,
      Effect.provide(TestClock.layer()),
    ),
  )

describe("a controller restart", () => {
  it("costs no request: the new controller says it is recovering and the client keeps its routes meanwhile", () =>
    run(
      Effect.gen(function* () {
        const first = yield* Scope.make()
        const controller = yield* Controller.make({ addresses: [address] }).pipe(Scope.provide(first))
        // Slow to come back: after a drop, a failed attempt waits 5 s before the next.
        const slow = withTunables({ registerBackoffInitialMs: 5_000, registerBackoffMaxMs: 5_000 })
        const workers = [
          yield* Worker.start(hello, { controller: address, listen: "memory://", workerId: "w1" }).pipe(slow),
          yield* Worker.start(hello, { controller: address, listen: "memory://", workerId: "w2" }).pipe(slow),
        ]
        yield* settled("both workers healthy", () => controller.workers().filter((w) => w.state === "healthy").length === 2)
        const client = yield* Client.make({ controller: address })
        expect(new Set([(yield* client.invoke(HelloGreet, { message: "a" })).worker, (yield* client.invoke(HelloGreet, { message: "b" })).worker])).toEqual(
          new Set(["w1", "w2"]),
        )

        // The controller dies; the workers' links drop and their first redial finds nobody listening.
        yield* Scope.close(first, Exit.void)
        yield* yieldTimes(50)
        const second = yield* Scope.make()
        const restarted = yield* Controller.make({ addresses: [address] }).pipe(Scope.provide(second))
        expect(restarted.recovering()).toBe(true)
        expect(restarted.routes()).toEqual([])
        // The client refreshes its table from the new, empty controller, and still serves every request directly.
        for (let step = 0; step < 5; step++) {
          yield* TestClock.adjust(100)
          yield* yieldTimes(20)
          for (let n = 0; n < 10; n++)
            expect((yield* client.invoke(HelloGreet, { message: `during ${step}.${n}` })).greeting).toBe(`Hello, during ${step}.${n}`)
        }
        expect(restarted.workers()).toEqual([])
        // One heartbeat interval on, it has recovered; the workers come back at their next attempt.
        yield* TestClock.adjust(500)
        expect(restarted.recovering()).toBe(false)
        yield* TestClock.adjust(5_000)
        yield* settled("both workers back", () => restarted.workers().filter((w) => w.state === "healthy").length === 2)
        expect(workers.map((w) => w.state())).toEqual(["healthy", "healthy"])
        expect((yield* client.invoke(HelloGreet, { message: "after" })).greeting).toBe("Hello, after")
        yield* Scope.close(second, Exit.void)
      }),
    ))

  it("is rejoined at once each time: a registered link that drops starts the backoff over (four restarts, virtual time)", () =>
    run(
      Effect.gen(function* () {
        // Backoff 1 s doubling to 16 s: kept from one drop to the next, the fourth rejoin would wait seconds.
        const backoff = withTunables({ registerBackoffInitialMs: 1_000, registerBackoffMaxMs: 16_000 })
        let scope = yield* Scope.make()
        let controller = yield* Controller.make({ addresses: [address] }).pipe(Scope.provide(scope))
        const worker = yield* Worker.start(hello, { controller: address, workerId: "w1" }).pipe(backoff)
        yield* settled("the worker healthy", () => controller.workers().some((w) => w.state === "healthy"))
        for (let restart = 1; restart <= 4; restart++) {
          yield* Scope.close(scope, Exit.void)
          yield* yieldTimes(50)
          scope = yield* Scope.make()
          controller = yield* Controller.make({ addresses: [address] }).pipe(Scope.provide(scope))
          // The worker's redial after the drop found nobody (the controller was down): its next attempt is the
          // backoff's first step (1 s, jittered to at most 2 s), whatever happened before; it rejoins within it.
          yield* TestClock.adjust(2_000)
          const current = controller
          yield* settled(`the worker back after restart ${restart}`, () => current.workers().some((w) => w.id === "w1" && w.state !== "stale"))
        }
        expect(worker.state()).not.toBe("stopped")
        yield* Scope.close(scope, Exit.void)
      }),
    ))
})
