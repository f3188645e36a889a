/**
 * Controllers federated over a real nats-server (started on a free 127.0.0.1 port, stopped after). Three
 * controllers run in this one test process, each with its own NATS clients (the federation's and its transport's),
 * so they meet only through the NATS server; workers and clients reach their controller in memory. Covered: a
 * request (and a stream) for a capability only a remote controller's workers serve; a controller that stops while a
 * bounded load loop runs, its workers moving to the next controller on their list with every request answered; one
 * controller cut from NATS (a TCP proxy in front of the server) losing its peers' routes and its peers losing its
 * own, then both coming back once the link heals.
 */
import { Effect, Exit, Fiber, Schema, Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import * as Federation from "../../actors/Federation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { defineCapability, defineWorker, implement, implementStream } from "../../src/index.ts"
import type { Invoke } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { type NatsServer, startNatsServer } from "../support/natsServer.ts"
import { eventually } from "../support/poll.ts"
import { type NatsProxy, startNatsProxy } from "./federationProxy.ts"

const Where = defineCapability({
  id: "test.where",
  version: "1.0.0",
  description: "Answers { n, worker }: which worker served request n.",
  input: Schema.Struct({ n: Schema.Number, ms: Schema.Number }),
  output: Schema.Struct({ n: Schema.Number, worker: Schema.String }),
  idempotent: false,
})

const Count = defineCapability({
  id: "test.count",
  version: "1.0.0",
  description: "Streams 1..n.",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Number,
  stream: true,
})

const whereWorker = defineWorker({
  name: "where",
  implements: [
    implement(Where, ({ n, ms }, { workerId }) => Effect.as(Effect.sleep(ms), { n, worker: workerId })),
    implementStream(Count, ({ n }) => Stream.range(1, n)),
  ],
})

/** Federation timings for the tests: a peer silent for 800 ms is dropped. */
const heartbeatIntervalMs = 200
const staleAfterMs = 800

let nats: NatsServer | undefined
beforeAll(async () => {
  nats = await startNatsServer()
})
afterAll(async () => {
  await nats?.stop()
})

interface RunningController {
  readonly controller: Controller.Controller
  readonly federation: Federation.Federation
  readonly scope: Scope.Closeable
}

/** A controller `memory://controller-<id>` in a scope of its own (closing it stops it), federated over `natsUrl`. */
const startController = (memory: MemoryTransport.MemoryTransport, id: string, natsUrl: string): Effect.Effect<RunningController> =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const started = Effect.gen(function* () {
      const federation = yield* Federation.make({ nats: natsUrl, controllerId: id, heartbeatIntervalMs, staleAfterMs, deltaIntervalMs: 50 })
      const controller = yield* Controller.make({ addresses: [`memory://controller-${id}`], elsewhere: federation.elsewhere })
      yield* federation.join(controller)
      return { controller, federation, scope }
    })
    return yield* started.pipe(
      withTunables({ heartbeatIntervalMs: 100, staleAfterMs: 400 }),
      Effect.provideService(Transport, memory),
      Scope.provide(scope),
      Effect.orDie,
    )
  })

const startWorker = (memory: MemoryTransport.MemoryTransport, workerId: string, controllers: ReadonlyArray<string>, scope: Scope.Scope) =>
  Worker.start(whereWorker, { controller: controllers[0]!, controllers, workerId }).pipe(
    withTunables({ heartbeatIntervalMs: 100, staleAfterMs: 400, registerBackoffMaxMs: 200 }),
    Effect.provideService(Transport, memory),
    Scope.provide(scope),
    Effect.orDie,
  )

const whereInvoke = (n: number, ms = 0): Invoke => ({ _tag: "Invoke", id: `r${n}`, capability: "test.where", range: "^1", input: { n, ms }, timeoutMs: 5_000 })

/** The test.where summary a controller's federation has heard from `peerId`. */
const remoteWorkers = (running: RunningController, peerId: string): number =>
  running.federation
    .peers()
    .find((peer) => peer.id === peerId)
    ?.capabilities.find((entry) => entry.capability === "test.where")?.workers ?? 0

describe("controllers federated over NATS", () => {
  it("serves a request and a stream for a capability that lives only behind a remote controller", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const memory = MemoryTransport.make()
          const [a, b, c] = yield* Effect.forEach(["a", "b", "c"], (id) => startController(memory, id, nats!.url))
          yield* Effect.addFinalizer(() => Effect.forEach([a!, b!, c!], (r) => Scope.close(r.scope, Exit.void), { discard: true }))
          yield* startWorker(memory, "w-b", ["memory://controller-b"], yield* Effect.scope)
          yield* eventually("a hears of b's worker", () => remoteWorkers(a!, "b") === 1, { show: () => a!.federation.peers() })
          expect(a!.controller.workers()).toEqual([])

          const client = yield* Client.make({ controller: "memory://controller-a" }).pipe(Effect.provideService(Transport, memory))
          const reply = yield* client.call(whereInvoke(1))
          expect(reply).toEqual({ _tag: "Result", id: "r1", output: { n: 1, worker: "w-b" } })
          const items = yield* Stream.runCollect(client.stream(Count, { n: 5 }))
          expect(items).toEqual([1, 2, 3, 4, 5])
          // c knows both of its peers; nobody lists itself.
          yield* eventually("c hears of a and b", () => c!.federation.peers().length === 2)
          expect(c!.federation.peers().map((peer) => peer.id)).toEqual(["a", "b"])
          // Summaries, not workers: b announces one entry per capability version.
          expect(
            c!.federation
              .peers()
              .find((peer) => peer.id === "b")
              ?.capabilities.map((e) => `${e.capability}@${e.version}:${e.workers}`),
          ).toEqual(["test.count@1.0.0:1", "test.where@1.0.0:1"])
        }),
      ),
    ))

  it("answers NO_WORKER when no controller has a worker, and never forwards a forwarded request", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const memory = MemoryTransport.make()
          const [a, b] = yield* Effect.forEach(["a", "b"], (id) => startController(memory, id, nats!.url))
          yield* Effect.addFinalizer(() => Effect.forEach([a!, b!], (r) => Scope.close(r.scope, Exit.void), { discard: true }))
          yield* eventually("a and b hear of each other", () => a!.federation.peers().length === 1 && b!.federation.peers().length === 1)
          const client = yield* Client.make({ controller: "memory://controller-a" }).pipe(Effect.provideService(Transport, memory))
          const reply = yield* client.call(whereInvoke(1))
          expect(reply).toMatchObject({ _tag: "Failure", id: "r1", code: "NO_WORKER" })
          // A request marked as forwarded is served by local workers only.
          const marked = b!.federation.elsewhere.relay({ ...whereInvoke(2), id: `${Federation.forwardedMark}x/r2` })
          expect(marked).toBeUndefined()
        }),
      ),
    ))

  it("moves a stopped controller's workers to the next on their list with every request of a load loop answered", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const memory = MemoryTransport.make()
          const [a, b, c] = yield* Effect.forEach(["a", "b", "c"], (id) => startController(memory, id, nats!.url))
          yield* Effect.addFinalizer(() => Effect.forEach([a!, c!], (r) => Scope.close(r.scope, Exit.void), { discard: true }))
          const list = ["memory://controller-b", "memory://controller-c"]
          const workers = yield* Scope.make()
          yield* Effect.addFinalizer(() => Scope.close(workers, Exit.void))
          yield* startWorker(memory, "w1", list, workers)
          yield* startWorker(memory, "w2", list, workers)
          yield* eventually("a hears of b's two workers", () => remoteWorkers(a!, "b") === 2, { show: () => a!.federation.peers() })

          const client = yield* Client.make({ controller: "memory://controller-a", timeoutMs: 5_000 }).pipe(Effect.provideService(Transport, memory))
          const total = 300
          const failures: Array<string> = []
          let stoppedB = false
          let servedAfterStop = 0
          /** One request of the loop: retried (bounded) while the mesh answers that it could not take it. */
          const request = (n: number) =>
            Effect.gen(function* () {
              for (let attempt = 0; attempt < 100; attempt++) {
                const reply = yield* client.call(whereInvoke(n, 5))
                if (reply._tag === "Result") {
                  if (stoppedB) servedAfterStop++
                  return reply.output as { n: number; worker: string }
                }
                failures.push(reply.code)
                if (!reply.retriable) return yield* Effect.die(new Error(`request ${n} failed for good: ${reply.code} ${reply.message}`))
                yield* Effect.sleep(20)
              }
              return yield* Effect.die(new Error(`request ${n} was not served in 100 attempts`))
            })
          const loop = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: total }, (_, n) => n),
              request,
              { concurrency: 4 },
            ),
            {
              startImmediately: true,
            },
          )
          yield* eventually("the loop is under way", () => a!.federation.peers().length === 2 && failures.length === 0 && c!.controller.workers().length === 0)
          yield* Effect.sleep(100)
          yield* Scope.close(b!.scope, Exit.void)
          stoppedB = true
          yield* eventually("w1 and w2 registered with c", () =>
            ["w1", "w2"].every((id) => c!.controller.workers().some((w) => w.id === id && w.state === "healthy")),
          )
          yield* eventually("a routes to c", () => remoteWorkers(a!, "c") === 2 && remoteWorkers(a!, "b") === 0, { show: () => a!.federation.peers() })
          const served = yield* Fiber.await(loop)
          expect(Exit.isSuccess(served)).toBe(true)
          const outputs = Exit.isSuccess(served) ? served.value : []
          // Every request of the loop was answered once, by one of the two workers.
          expect(outputs.map((o) => o.n)).toEqual(Array.from({ length: total }, (_, n) => n))
          expect(new Set(outputs.map((o) => o.worker))).toEqual(new Set(["w1", "w2"]))
          // The loop was still running when b stopped: part of it went through c.
          expect(servedAfterStop).toBeGreaterThan(0)
          // While the workers moved, the mesh said it could not take a request (and it was sent again), nothing else.
          for (const code of failures) expect(["NO_WORKER", "UNAVAILABLE"]).toContain(code)
        }),
      ),
    ))

  it("drops a partitioned controller's routes within the stale period and brings them back when the link heals", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const memory = MemoryTransport.make()
          const proxy: NatsProxy = yield* Effect.acquireRelease(
            Effect.promise(() => startNatsProxy(nats!.port)),
            (p) => Effect.promise(() => p.close()),
          )
          const a = yield* startController(memory, "a", proxy.url)
          const [b, c] = yield* Effect.forEach(["b", "c"], (id) => startController(memory, id, nats!.url))
          yield* Effect.addFinalizer(() => Effect.forEach([a, b!, c!], (r) => Scope.close(r.scope, Exit.void), { discard: true }))
          yield* startWorker(memory, "w-a", ["memory://controller-a"], yield* Effect.scope)
          yield* startWorker(memory, "w-b", ["memory://controller-b"], yield* Effect.scope)
          yield* eventually("a and b see each other's workers", () => remoteWorkers(a, "b") === 1 && remoteWorkers(b!, "a") === 1)
          const client = yield* Client.make({ controller: "memory://controller-c", timeoutMs: 3_000 }).pipe(Effect.provideService(Transport, memory))

          proxy.cut()
          // Its heartbeats stop: its peers drop it and its routes; it drops them.
          yield* eventually("b and c drop a", () => b!.federation.peers().every((p) => p.id !== "a") && c!.federation.peers().every((p) => p.id !== "a"))
          yield* eventually("a drops b and c", () => a.federation.peers().length === 0)
          // c now routes test.where only to b.
          for (let n = 0; n < 6; n++) {
            const reply = yield* client.call(whereInvoke(n))
            expect(reply).toMatchObject({ _tag: "Result", output: { worker: "w-b" } })
          }

          proxy.heal()
          yield* eventually(
            "a is back in b's and c's tables, and b in a's",
            () => remoteWorkers(b!, "a") === 1 && remoteWorkers(c!, "a") === 1 && remoteWorkers(a, "b") === 1,
            {
              timeoutMs: 15_000,
              show: () => [a.federation.peers(), c!.federation.peers()],
            },
          )
          // Both remote workers serve c's requests again (least-loaded picks spread them).
          const replies = yield* Effect.forEach(
            Array.from({ length: 16 }, (_, n) => n),
            (n) => client.call(whereInvoke(n, 50)),
            { concurrency: 8 },
          )
          const workersSeen = new Set(
            replies.map((reply) => (reply._tag === "Result" ? (reply.output as { worker: string }).worker : `${reply.code} ${reply.message}`)),
          )
          expect(workersSeen).toEqual(new Set(["w-a", "w-b"]))
        }),
      ),
    ))
})
