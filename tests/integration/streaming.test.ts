/**
 * Streaming capabilities end to end: a worker's async generator, called with `client.stream` (Effect) and
 * `mesh.stream` (async iterator), in one process and over WebSocket, directly and through the controller's relay.
 * What must hold: items in order, typed failures, the deadline, cancellation reaching the generator, and a slow
 * consumer holding the producer to its window (and the relay's) however long it waits.
 */
import { defineCapability, defineWorker, implementStream } from "crank-mesh"
import { startTestMesh } from "crank-mesh/testing"
import { Deferred, Effect, Fiber, Schema, type Scope, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { eventually } from "../support/poll.ts"

const Count = defineCapability({
  id: "test.count",
  version: "1.0.0",
  description: "Counts from 1 to `to` (forever without it), one item per pull; fails OVER_LIMIT at `failAt`.",
  input: Schema.Struct({ to: Schema.optionalKey(Schema.Number), failAt: Schema.optionalKey(Schema.Number), tag: Schema.String }),
  output: Schema.Struct({ n: Schema.Number }),
  errors: [{ code: "OVER_LIMIT", description: "the count reached failAt", retriable: false }],
  stream: true,
})

/** What each call's producer did, by the caller's `tag`: items made, whether its `finally` ran, whether it was aborted. */
const producers = new Map<string, { produced: number; closed: boolean; aborted: boolean }>()

const counter = defineWorker({
  name: "counter",
  implements: [
    implementStream(Count, async function* ({ to, failAt, tag }, context) {
      const record = { produced: 0, closed: false, aborted: false }
      producers.set(tag, record)
      context.signal.addEventListener("abort", () => {
        record.aborted = true
      })
      try {
        for (let n = 1; to === undefined || n <= to; n++) {
          if (n === failAt) throw context.error("OVER_LIMIT", `reached ${failAt}`)
          record.produced = n
          yield { n }
        }
      } finally {
        record.closed = true
      }
    }),
  ],
})

const tunables = { heartbeatIntervalMs: 20, staleAfterMs: 500, evictAfterMs: 1_000, registerBackoffInitialMs: 5, registerBackoffMaxMs: 20 }

/** A controller and a counter worker over WebSocket on 127.0.0.1, and a client of each kind (direct, relay-only). */
const wsMesh = Effect.gen(function* () {
  const transport = WebSocketTransport.make()
  const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(withTunables(tunables), Effect.provideService(Transport, transport))
  const controller = yield* provide(Controller.make({ addresses: ["ws://127.0.0.1:0"] }))
  yield* provide(Worker.start(counter, { controller: controller.address, listen: "ws://127.0.0.1:0" }))
  yield* awaitWorkers(controller, (ws) => ws.some((w) => w.state === "healthy"), 5_000)
  const direct = yield* provide(Client.make({ controller: controller.address, timeoutMs: 10_000 }))
  const relayed = yield* provide(Client.make({ controller: controller.address, timeoutMs: 10_000, direct: false }))
  return { direct, relayed }
})

const scoped = <A, E>(body: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(body))

const numbers = (items: ReadonlyArray<{ readonly n: number }>) => items.map((item) => item.n)

describe("streaming capabilities in one process (async iterator)", () => {
  it("yields every item in order, typed, and the generator finishes", async () => {
    const mesh = await startTestMesh([counter])
    try {
      const seen: Array<number> = []
      for await (const { n } of mesh.stream(Count, { to: 300, tag: "mem-all" })) seen.push(n)
      expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i + 1))
      expect(producers.get("mem-all")).toMatchObject({ produced: 300, closed: true })
    } finally {
      await mesh.stop()
    }
  })

  it("breaking out of the loop cancels the generator: its finally runs and its signal aborts", async () => {
    const mesh = await startTestMesh([counter])
    try {
      const seen: Array<number> = []
      for await (const { n } of mesh.stream(Count, { tag: "mem-break" })) {
        seen.push(n)
        if (n === 3) break
      }
      expect(seen).toEqual([1, 2, 3])
      await eventually("the generator to be stopped", () => producers.get("mem-break")?.closed === true)
      expect(producers.get("mem-break")!.aborted).toBe(true)
      // In one process the consumer pulls the generator itself: it ran ahead only by the item each stage on the way
      // (deadlines, decoding) pulls ahead.
      expect(producers.get("mem-break")!.produced).toBeLessThanOrEqual(3 + 4)
    } finally {
      await mesh.stop()
    }
  })

  it("a declared error ends the stream after the items before it; bad input and the wrong call are INVALID_INPUT", async () => {
    const mesh = await startTestMesh([counter])
    try {
      const seen: Array<number> = []
      await expect(
        (async () => {
          for await (const { n } of mesh.stream(Count, { to: 10, failAt: 4, tag: "mem-fail" })) seen.push(n)
        })(),
      ).rejects.toMatchObject({ code: "OVER_LIMIT", message: "reached 4", retriable: false })
      expect(seen).toEqual([1, 2, 3])
      await expect(
        mesh
          .stream(Count, { to: "ten" } as never)
          [Symbol.asyncIterator]()
          .next(),
      ).rejects.toMatchObject({ code: "INVALID_INPUT" })
      await expect(mesh.invoke(Count, { to: 1, tag: "mem-unary" })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        message: expect.stringContaining("call it with stream"),
      })
    } finally {
      await mesh.stop()
    }
  })

  it("a drain lets a stream in flight finish before the worker stops", async () => {
    const mesh = await startTestMesh([counter])
    try {
      const worker = mesh.mesh.node.workers()[0]!
      const seen: Array<number> = []
      let drained: Promise<void> | undefined
      for await (const { n } of mesh.stream(Count, { to: 50, tag: "mem-drain" }, { window: 4 })) {
        seen.push(n)
        if (n === 10) {
          drained = Effect.runPromise(worker.drain(10_000))
          await eventually("the worker to be draining", () => worker.state() === "draining")
        }
      }
      expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      await drained
      expect(worker.state()).toBe("stopped")
    } finally {
      await mesh.stop()
    }
  })

  it("the deadline ends an endless stream with TIMEOUT and stops the generator", async () => {
    const mesh = await startTestMesh([counter])
    try {
      let count = 0
      await expect(
        (async () => {
          for await (const _ of mesh.stream(Count, { tag: "mem-deadline" }, { timeoutMs: 150 })) {
            count++
            await new Promise((resolve) => setTimeout(resolve, 5))
          }
        })(),
      ).rejects.toMatchObject({ code: "TIMEOUT" })
      expect(count).toBeGreaterThan(0)
      await eventually("the generator to be stopped", () => producers.get("mem-deadline")?.closed === true)
    } finally {
      await mesh.stop()
    }
  })
})

describe("streaming capabilities over WebSocket (Effect Stream)", () => {
  for (const path of ["direct", "relayed"] as const) {
    it(`${path}: streams 2,000 items in order`, () =>
      scoped(
        Effect.gen(function* () {
          const clients = yield* wsMesh
          const items = yield* Stream.runCollect(clients[path].stream(Count, { to: 2_000, tag: `ws-${path}-all` }, { window: 32 }))
          expect(numbers(items)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1))
        }),
      ))

    it(`${path}: a slow consumer holds the worker's generator to the windows on the way, and stopping cancels it`, () =>
      scoped(
        Effect.gen(function* () {
          const clients = yield* wsMesh
          const window = 8
          const taken = 50
          const tag = `ws-${path}-slow`
          const release = yield* Deferred.make<void>()
          let consumed = 0
          const consumer = yield* Effect.forkChild(
            Stream.runForEach(clients[path].stream(Count, { tag }, { window }), () => (++consumed === taken ? Deferred.await(release) : Effect.void)),
            { startImmediately: true },
          )
          yield* eventually("the consumer to take its items", () => consumed === taken)
          // Room for an unbounded producer to run away; not a bound on anything.
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 500)))
          // Each hop holds at most one window: the client's, and the relay's between worker and controller; and each
          // stage on the way (deadlines, decoding) pulls one item ahead.
          const hops = path === "direct" ? 1 : 2
          expect(producers.get(tag)!.produced).toBeLessThanOrEqual(taken + hops * window + 4)
          yield* Fiber.interrupt(consumer)
          yield* eventually("the generator to be stopped", () => producers.get(tag)?.closed === true)
          expect(producers.get(tag)!.aborted).toBe(true)
        }),
      ))

    it(`${path}: a typed failure and NO_WORKER reach the caller`, () =>
      scoped(
        Effect.gen(function* () {
          const clients = yield* wsMesh
          const error = yield* Effect.flip(Stream.runCollect(clients[path].stream(Count, { to: 9, failAt: 2, tag: `ws-${path}-fail` })))
          expect(error).toMatchObject({ code: "OVER_LIMIT", message: "reached 2" })
          const missing = yield* Effect.flip(Stream.runCollect(clients[path].stream("test.nothing@^1", {})))
          expect(missing.code).toBe("NO_WORKER")
        }),
      ))
  }
})
