/**
 * The client's routing table on its own: fake workers on the in-memory transport, a table the test writes, and a
 * relay that records what it is given. Virtual time (`TestClock`) where deadlines are measured.
 */
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import * as DirectRoutes from "../../actors/DirectRoutes.ts"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { type Handlers, Transport } from "../../transports/Transport.ts"
import { eventually, settled, yieldTimes } from "../support/poll.ts"

const scoped =
  <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  () =>
    Effect.runPromise(Effect.scoped(body).pipe(Effect.asVoid))

const request = (id: string, timeoutMs = 1_000, capability = "x.y"): Invoke => ({ _tag: "Invoke", id, capability, range: "^1", input: null, timeoutMs })

const worker = (id: string, address: string, idempotent = false) => ({ id, address, capabilities: [{ id: "x.y", version: "1.0.0", idempotent }] })

/** A worker at `address` that answers with `answer` (an `Effect`, so it may wait); counts what it served. */
const fakeWorker = (transport: Transport, address: string, answer: (invoke: Invoke) => Effect.Effect<Reply>) =>
  Effect.gen(function* () {
    const served: Array<Invoke> = []
    const handlers = (): Handlers => ({
      onMessage: () => {},
      onClose: () => {},
      serve: (invoke) => Effect.suspend(() => (served.push(invoke), answer(invoke))),
    })
    const listener = yield* transport.listen(address, handlers)
    return { served, listener }
  })

const result = (invoke: Invoke): Effect.Effect<Reply> => Effect.succeed({ _tag: "Result", id: invoke.id, output: "direct" })
const failing =
  (code: string) =>
  (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.succeed({ _tag: "Failure", id: invoke.id, code, message: `worker says ${code}`, retriable: true })

/** A relay that answers `relayed` and records each request it was given. */
const recordingRelay = () => {
  const relayed: Array<Invoke> = []
  const relay = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.sync(() => {
      relayed.push(invoke)
      return { _tag: "Result", id: invoke.id, output: "relayed" }
    })
  return { relayed, relay }
}

/** `count()` once the background work started by making the table has run (a bounded number of turns). */
const quiet = (count: () => number): Effect.Effect<number> => Effect.as(yieldTimes(50), undefined).pipe(Effect.map(count))

/** Wraps a transport to count connections whose scope finalizer has not run yet: what a client still holds. */
const holding = (inner: Transport) => {
  let held = 0
  const transport: Transport = {
    schemes: inner.schemes,
    listen: inner.listen,
    connect: (address, handlers) =>
      Effect.andThen(
        Effect.acquireRelease(
          Effect.sync(() => held++),
          () => Effect.sync(() => held--),
        ),
        inner.connect(address, handlers),
      ),
  }
  return { transport, held: () => held }
}

describe("DirectRoutes", () => {
  it(
    "serves from the table, and through the relay what the table does not list",
    scoped(
      Effect.gen(function* () {
        const transport = MemoryTransport.make()
        const a = yield* fakeWorker(transport, "memory://a", result)
        const { relay, relayed } = recordingRelay()
        const routes = yield* DirectRoutes.make({ refreshMs: 3_600_000, relay, fetch: Effect.succeed({ workers: [worker("a", "memory://a")] }) }).pipe(
          Effect.provideService(Transport, transport),
        )
        expect(yield* routes.call(request("r1"))).toMatchObject({ _tag: "Result", output: "direct" })
        expect(yield* routes.call(request("r2", 1_000, "other.cap"))).toMatchObject({ _tag: "Result", output: "relayed" })
        expect(a.served.map((i) => i.id)).toEqual(["r1"])
        expect(relayed.map((i) => i.id)).toEqual(["r2"])
      }),
    ),
  )

  describe("connections are held no longer than their routes", () => {
    it(
      "releases the connection of every route that retired: 200 re-routes leave one connection held",
      scoped(
        Effect.gen(function* () {
          const memory = MemoryTransport.make()
          yield* fakeWorker(memory, "memory://a", result)
          yield* fakeWorker(memory, "memory://b", result)
          const { transport, held } = holding(memory)
          let fetches = 0
          const routes = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay: recordingRelay().relay,
            // The worker "moves" at every fetch: its old route retires and a new one is dialled.
            fetch: Effect.sync(() => ({ workers: [worker("w", fetches++ % 2 === 0 ? "memory://a" : "memory://b")] })),
          }).pipe(Effect.provideService(Transport, transport))
          for (let i = 0; i < 200; i++) {
            expect(yield* routes.call(request(`r${i}`))).toMatchObject({ _tag: "Result", output: "direct" })
            yield* routes.refresh
          }
          expect(held()).toBe(0)
          expect(yield* routes.call(request("last"))).toMatchObject({ _tag: "Result" })
          expect(held()).toBe(1)
        }),
      ),
    )

    it(
      "releases a connection that dropped, takes its worker out for a refresh period, then dials it again",
      scoped(
        Effect.gen(function* () {
          const memory = MemoryTransport.make()
          const { transport, held } = holding(memory)
          const workerScope = yield* Scope.make()
          const a = yield* fakeWorker(memory, "memory://a", result).pipe(Scope.provide(workerScope))
          const { relay, relayed } = recordingRelay()
          const routes = yield* DirectRoutes.make({ refreshMs: 1_000, relay, fetch: Effect.succeed({ workers: [worker("a", "memory://a")] }) }).pipe(
            Effect.provideService(Transport, transport),
          )
          expect(yield* routes.call(request("r1"))).toMatchObject({ output: "direct" })
          expect(held()).toBe(1)
          // The worker's listener goes away, and its connection with it.
          yield* Scope.close(workerScope, Exit.void)
          yield* settled("the dropped connection is released", () => held() === 0)
          // Back at the same address at once; the table still lists it, but it stays out for a refresh period.
          const again = yield* fakeWorker(memory, "memory://a", result)
          expect(yield* routes.call(request("r2"))).toMatchObject({ output: "relayed" })
          yield* TestClock.adjust(1_000)
          yield* settled("a timer refresh", () => routes.refreshes() >= 3)
          expect(yield* routes.call(request("r3"))).toMatchObject({ output: "direct" })
          expect(a.served.map((i) => i.id)).toEqual(["r1"])
          expect(again.served.map((i) => i.id)).toEqual(["r3"])
          expect(relayed.map((i) => i.id)).toEqual(["r2"])
          expect(held()).toBe(1)
        }).pipe(Effect.provide(TestClock.layer())),
      ),
    )
  })

  describe("deadlines", () => {
    it(
      "sends the relay what is left of the budget after a direct attempt that did not run",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          yield* fakeWorker(transport, "memory://a", (invoke) => Effect.andThen(Effect.sleep(300), failing("DRAINING")(invoke)))
          const { relay, relayed } = recordingRelay()
          const routes = yield* DirectRoutes.make({ refreshMs: 3_600_000, relay, fetch: Effect.succeed({ workers: [worker("a", "memory://a")] }) }).pipe(
            Effect.provideService(Transport, transport),
          )
          const call = yield* Effect.forkChild(routes.call(request("r1", 1_000)), { startImmediately: true })
          yield* TestClock.adjust(300)
          expect(yield* Fiber.join(call)).toMatchObject({ _tag: "Result", output: "relayed" })
          expect(relayed.map((i) => [i.id, i.timeoutMs])).toEqual([["r1", 700]])
        }).pipe(Effect.provide(TestClock.layer())),
      ),
    )

    it(
      "answers TIMEOUT, without relaying, when a direct attempt that did not run has used the whole budget",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          yield* fakeWorker(transport, "memory://a", (invoke) => Effect.andThen(Effect.sleep(1_000), failing("OVERLOADED")(invoke)))
          const { relay, relayed } = recordingRelay()
          const routes = yield* DirectRoutes.make({ refreshMs: 3_600_000, relay, fetch: Effect.succeed({ workers: [worker("a", "memory://a")] }) }).pipe(
            Effect.provideService(Transport, transport),
          )
          const call = yield* Effect.forkChild(routes.call(request("r1", 1_000)), { startImmediately: true })
          yield* TestClock.adjust(1_000)
          const reply = yield* Fiber.join(call)
          expect(reply).toMatchObject({ _tag: "Failure", id: "r1", code: "TIMEOUT" })
          expect(reply._tag === "Failure" && reply.message).toContain("OVERLOADED")
          expect(relayed).toEqual([])
        }).pipe(Effect.provide(TestClock.layer())),
      ),
    )
  })

  describe("the table is refreshed at once when it proves out of date", () => {
    it(
      "refreshes after a direct attempt answers DRAINING, without waiting for the timer",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          yield* fakeWorker(transport, "memory://a", failing("DRAINING"))
          let fetches = 0
          const routes = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay: recordingRelay().relay,
            fetch: Effect.sync(() => (fetches++, { workers: [worker("a", "memory://a")] })),
          }).pipe(Effect.provideService(Transport, transport))
          const before = yield* quiet(() => fetches)
          expect(yield* routes.call(request("r1"))).toMatchObject({ output: "relayed" })
          yield* eventually("a refresh after DRAINING", () => fetches === before + 1)
        }),
      ),
    )

    it(
      "refreshes after a worker's connection drops",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          const workerScope = yield* Scope.make()
          yield* fakeWorker(transport, "memory://a", result).pipe(Scope.provide(workerScope))
          let fetches = 0
          const routes = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay: recordingRelay().relay,
            fetch: Effect.sync(() => (fetches++, { workers: [worker("a", "memory://a")] })),
          }).pipe(Effect.provideService(Transport, transport))
          yield* routes.call(request("r1"))
          const before = yield* quiet(() => fetches)
          yield* Scope.close(workerScope, Exit.void)
          yield* eventually("a refresh after the drop", () => fetches === before + 1)
        }),
      ),
    )

    it(
      "coalesces: 50 failures at once cause one refresh, and the worker is tried once, not once per request",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          const gate = yield* Deferred.make<void>()
          const a = yield* fakeWorker(transport, "memory://a", (invoke) => Effect.andThen(Deferred.await(gate), failing("NO_WORKER")(invoke)))
          let fetches = 0
          const { relay, relayed } = recordingRelay()
          const routes = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay,
            // The controller has not noticed anything: the table keeps listing the worker.
            fetch: Effect.sync(() => (fetches++, { workers: [worker("a", "memory://a")] })),
          }).pipe(Effect.provideService(Transport, transport))
          const before = yield* quiet(() => fetches)
          const calls = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: 50 }, (_, i) => request(`r${i}`)),
              routes.call,
              { concurrency: "unbounded" },
            ),
            { startImmediately: true },
          )
          yield* eventually("50 requests at the worker", () => a.served.length === 50)
          yield* Deferred.succeed(gate, undefined)
          const replies = yield* Fiber.join(calls)
          expect(replies.every((r) => r._tag === "Result" && r.output === "relayed")).toBe(true)
          yield* eventually("a refresh", () => fetches === before + 1)
          // The refresh that was asked for lists the worker again; it stays out anyway.
          for (let i = 0; i < 20; i++) expect(yield* routes.call(request(`later${i}`))).toMatchObject({ output: "relayed" })
          expect(a.served.length).toBe(50)
          expect(relayed.length).toBe(70)
          yield* yieldTimes(50)
          expect(fetches).toBe(before + 1)
        }),
      ),
    )

    it(
      "does not take a worker out for OVERLOADED (it is busy, not gone), and still relays the request",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          const a = yield* fakeWorker(transport, "memory://a", failing("OVERLOADED"))
          let fetches = 0
          const { relay, relayed } = recordingRelay()
          const routes = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay,
            fetch: Effect.sync(() => (fetches++, { workers: [worker("a", "memory://a")] })),
          }).pipe(Effect.provideService(Transport, transport))
          const before = yield* quiet(() => fetches)
          for (let i = 0; i < 3; i++) expect(yield* routes.call(request(`r${i}`))).toMatchObject({ output: "relayed" })
          expect(a.served.length).toBe(3)
          expect(relayed.length).toBe(3)
          yield* yieldTimes(50)
          expect(fetches).toBe(before)
        }),
      ),
    )

    it(
      "gives a non-idempotent request cut off by a dropped link back as UNAVAILABLE, and an idempotent one to the relay",
      scoped(
        Effect.gen(function* () {
          const transport = MemoryTransport.make()
          yield* fakeWorker(transport, "memory://a", failing("UNAVAILABLE"))
          yield* fakeWorker(transport, "memory://b", failing("UNAVAILABLE"))
          const once = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay: recordingRelay().relay,
            fetch: Effect.succeed({ workers: [worker("a", "memory://a", false)] }),
          }).pipe(Effect.provideService(Transport, transport))
          const idem = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay: recordingRelay().relay,
            fetch: Effect.succeed({ workers: [worker("b", "memory://b", true)] }),
          }).pipe(Effect.provideService(Transport, transport))
          expect(yield* once.call(request("r1"))).toMatchObject({ _tag: "Failure", code: "UNAVAILABLE" })
          expect(yield* idem.call(request("r2"))).toMatchObject({ _tag: "Result", output: "relayed" })
        }),
      ),
    )
  })
})
