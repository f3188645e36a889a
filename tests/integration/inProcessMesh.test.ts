/**
 * Controller, workers and client wired together over one `MemoryTransport`, in real (millisecond) time.
 * Waits poll with a bounded deadline; nothing sleeps for a fixed time to "let things happen".
 */
import { Effect, Fiber, Latch, Logger, PubSub, Schema, type Scope } from "effect"
import { describe, expect, expectTypeOf, it, vi } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { implement } from "../../actors/Implementation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { defineWorker, type WorkerDefinition } from "../../actors/WorkerDefinition.ts"
import { defineCapability } from "../../capabilities/Capability.ts"
import type { CrankError } from "../../capabilities/CrankError.ts"
import { CrankDrain } from "../../capabilities/crank.ts"
import { GreetInput, GreetOutput, HelloGreet } from "../../examples/hello/capability.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { eventually } from "../support/poll.ts"
import { recording } from "../support/recordingTransport.ts"

const timings = { heartbeatIntervalMs: 20, staleAfterMs: 200, evictAfterMs: 400 }

/** `hello.greet` 1.1.0: same contract, a newer minor. */
const HelloGreet11 = defineCapability({ id: "hello.greet", version: "1.1.0", input: GreetInput, output: GreetOutput })

/** Blocks until released when `hold` is set: for in-flight work during drain. */
const Slow = defineCapability({
  id: "test.slow",
  version: "1.0.0",
  input: Schema.Struct({ n: Schema.Number, hold: Schema.Boolean }),
  output: Schema.Struct({ n: Schema.Number, worker: Schema.String }),
})
/** Never answers. */
const Hang = defineCapability({ id: "test.hang", version: "1.0.0", input: Schema.Struct({}), output: Schema.Struct({}) })
/** Throws when asked to. */
const Faulty = defineCapability({
  id: "test.faulty",
  version: "1.0.0",
  input: Schema.Struct({ fail: Schema.Boolean }),
  output: Schema.Struct({ ok: Schema.Boolean }),
})

const greetAs =
  (version: string) =>
  ({ message }: GreetInput, { workerId }: { readonly workerId: string }) => ({
    greeting: `Hello ${version}, ${message}`,
    worker: workerId,
  })

const helloWorker = (name: string) => defineWorker({ name, implements: [implement(HelloGreet, greetAs("1.0.0"))] })

/** The workers' tunables: a 2 s drain deadline and quick registration retries. */
const workerTunables = { drainDeadlineMs: 2_000, registerBackoffInitialMs: 5, registerBackoffMaxMs: 20 }

/** A fresh network with a controller and a client on it. */
const mesh = (options: { readonly token?: string } = {}) =>
  Effect.gen(function* () {
    const transport = MemoryTransport.make()
    const controller = yield* Controller.make({ addresses: ["memory://controller"], ...options }).pipe(
      withTunables(timings),
      Effect.provideService(Transport, transport),
    )
    const client = yield* Client.make({ controller: controller.address, timeoutMs: 2_000 }).pipe(Effect.provideService(Transport, transport))
    const started = new Map<string, Worker.RunningWorker>()
    /** Starts a worker on the mesh's network, or dialling through `link` (a recording wrapper of it). */
    const start = (definition: WorkerDefinition, extra: Partial<Worker.WorkerOptions> = {}, link: Transport = transport) =>
      Worker.start(definition, { controller: controller.address, ...extra }).pipe(
        withTunables(workerTunables),
        Effect.provideService(Transport, link),
        Effect.tap((worker) => Effect.sync(() => started.set(worker.id, worker))),
      )
    /**
     * Until the controller has these workers healthy, and each has seen its heartbeat acknowledged (healthy in its
     * own view too): `awaitWorkers` returns on the controller's transition, before the acknowledgement is delivered.
     */
    const healthy = (...ids: ReadonlyArray<string>) =>
      awaitWorkers(controller, (ws) => ids.every((id) => ws.some((w) => w.id === id && w.state === "healthy")), 2_000).pipe(
        Effect.andThen(
          eventually(`${ids.join(", ")} healthy in their own view`, () => ids.every((id) => started.get(id)?.state() === "healthy"), {
            show: () => ids.map((id) => started.get(id)?.state()),
          }),
        ),
      )
    return { transport, controller, client, start, healthy }
  })

const scoped =
  <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  () =>
    Effect.runPromise(Effect.scoped(body).pipe(Effect.asVoid))

const failureOf = <A>(effect: Effect.Effect<A, CrankError>) =>
  Effect.flip(effect).pipe(Effect.map((error) => ({ code: error.code, message: error.message, retriable: error.retriable })))

describe("in-process mesh", () => {
  it(
    "invokes hello.greet end to end, with types inferred from the capability",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy, controller } = yield* mesh()
        const worker = yield* start(helloWorker("hello"))
        yield* healthy(worker.id)
        expect(worker.state()).toBe("healthy")

        const output = yield* client.invoke(HelloGreet, { message: "world" })
        expectTypeOf(output).toEqualTypeOf<GreetOutput>()
        expect(output).toEqual({ greeting: "Hello 1.0.0, world", worker: worker.id })

        // By string ref, as the CLI does: untyped, validated by the worker.
        const byRef = yield* client.invoke("hello.greet@^1", { message: "ref" })
        expectTypeOf(byRef).toEqualTypeOf<unknown>()
        expect(byRef).toEqual({ greeting: "Hello 1.0.0, ref", worker: worker.id })

        // Input that fails the schema: refused by the worker with the schema's message (string ref)...
        const remote = yield* failureOf(client.invoke("hello.greet", { message: 3 }))
        expect(remote.code).toBe("INVALID_INPUT")
        expect(remote.message).toContain("Expected string")
        // ...or before it leaves the process (capability object).
        const local = yield* failureOf(client.invoke(HelloGreet, { message: 3 } as unknown as GreetInput))
        expect(local.code).toBe("INVALID_INPUT")
        expect(worker.completed()).toBe(2)
        // A malformed ref never reaches anyone.
        expect((yield* failureOf(client.invoke("Not A Ref", {}))).code).toBe("INVALID_INPUT")

        const view = controller.worker(worker.id)
        expect(view?.capabilities).toEqual([{ id: "hello.greet", version: "1.0.0" }])
        expect(view?.transitions.map((t) => `${t.from}>${t.to}`)).toEqual(["starting>registered", "registered>healthy"])
      }),
    ),
  )

  it(
    "routes ^1 to the 1.1.0 worker, and to 1.0.0 once the 1.1.0 worker drains",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy, controller } = yield* mesh()
        const v10 = yield* start(helloWorker("v10"))
        const v11 = yield* start(defineWorker({ name: "v11", implements: [implement(HelloGreet11, greetAs("1.1.0"))] }))
        yield* healthy(v10.id, v11.id)

        const answeredBy = (range?: string) =>
          Effect.forEach(Array.from({ length: 6 }), () => client.invoke(HelloGreet, { message: "x" }, range === undefined ? {} : { range })).pipe(
            Effect.map((outputs) => [...new Set(outputs.map((o) => o.worker))]),
          )
        // HelloGreet is 1.0.0, so its default range is ^1.0.0: the highest compatible version wins.
        expect(yield* answeredBy()).toEqual([v11.id])
        expect(yield* answeredBy("^1")).toEqual([v11.id])
        expect(yield* answeredBy("~1.0.0")).toEqual([v10.id])
        expect(yield* answeredBy("1.1.0")).toEqual([v11.id])
        expect((yield* client.invoke("hello.greet@^1", { message: "y" })) as GreetOutput).toMatchObject({ greeting: "Hello 1.1.0, y" })

        yield* controller.drain(v11.id, 1_000)
        // Routing stops as soon as the controller marks it draining.
        yield* eventually("v11 draining or gone at the controller", () => controller.worker(v11.id)?.state !== "healthy")
        expect(yield* answeredBy()).toEqual([v10.id])
        yield* eventually("v11 stopped", () => v11.state() === "stopped" && controller.worker(v11.id) === undefined)
        expect(yield* answeredBy("^1")).toEqual([v10.id])
        expect(v10.state()).toBe("healthy")
      }),
    ),
  )

  it(
    "fails with NO_WORKER when nothing serves the capability or range",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy } = yield* mesh()
        const none = yield* failureOf(client.invoke(HelloGreet, { message: "x" }))
        expect(none).toMatchObject({ code: "NO_WORKER", retriable: true })
        const worker = yield* start(helloWorker("hello"))
        yield* healthy(worker.id)
        expect((yield* failureOf(client.invoke("hello.greet@^2", { message: "x" }))).code).toBe("NO_WORKER")
        expect((yield* failureOf(client.invoke("nobody.home", {}))).code).toBe("NO_WORKER")
        expect((yield* failureOf(client.invoke(HelloGreet, { message: "x" }, { range: ">=1.0.1" }))).code).toBe("NO_WORKER")
        expect(worker.completed()).toBe(0)
      }),
    ),
  )

  it(
    "fails with TIMEOUT when the handler never answers, and the worker keeps serving",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy, controller } = yield* mesh()
        const worker = yield* start(defineWorker({ name: "hang", implements: [implement(Hang, () => Effect.never), implement(HelloGreet, greetAs("1.0.0"))] }))
        yield* healthy(worker.id)
        // The request's own 30 ms deadline ended it (the message names it), not the client's default.
        const timeout = yield* failureOf(client.invoke(Hang, {}, { timeoutMs: 30 }))
        expect(timeout.code).toBe("TIMEOUT")
        expect(timeout.message).toContain("30 ms")
        // The abandoned handler does not stay counted as in flight.
        yield* eventually("nothing in flight", () => worker.inFlight() === 0)
        expect(yield* client.invoke(HelloGreet, { message: "still here" })).toMatchObject({ worker: worker.id })
        expect(controller.worker(worker.id)?.state).toBe("healthy")
      }),
    ),
  )

  it(
    "answers a 1,000-request concurrent burst across 3 workers exactly once each",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy } = yield* mesh()
        const executions = new Map<string, number>()
        const perWorker = new Map<string, number>()
        let concurrent = 0
        let maxConcurrent = 0
        const counted = implement(HelloGreet, ({ message }, { requestId, workerId }) =>
          Effect.gen(function* () {
            executions.set(requestId, (executions.get(requestId) ?? 0) + 1)
            perWorker.set(workerId, (perWorker.get(workerId) ?? 0) + 1)
            maxConcurrent = Math.max(maxConcurrent, ++concurrent)
            yield* Effect.yieldNow
            yield* Effect.yieldNow
            concurrent--
            return { greeting: `Hello, ${message}`, worker: workerId }
          }),
        )
        const definition = defineWorker({ name: "burst", implements: [counted] })
        const workers = [yield* start(definition), yield* start(definition), yield* start(definition)]
        yield* healthy(...workers.map((w) => w.id))

        const total = 1_000
        const outputs = yield* Effect.forEach(
          Array.from({ length: total }, (_, i) => i),
          (i) => client.invoke(HelloGreet, { message: `m${i}` }).pipe(Effect.map((output) => ({ i, output }))),
          { concurrency: "unbounded" },
        )

        // Every request got its own answer, once.
        const answers = new Map<number, number>()
        for (const { i, output } of outputs) {
          answers.set(i, (answers.get(i) ?? 0) + 1)
          expect(output.greeting).toBe(`Hello, m${i}`)
        }
        expect(answers.size).toBe(total)
        expect([...answers.values()].every((n) => n === 1)).toBe(true)
        // Every request ran its handler exactly once: no duplicates, none missing.
        expect(executions.size).toBe(total)
        expect([...executions.entries()].filter(([, n]) => n !== 1)).toEqual([])
        // Spread over all three workers, and the per-worker counts add up.
        const ids = workers.map((w) => w.id)
        expect([...perWorker.keys()].sort()).toEqual([...ids].sort())
        expect([...perWorker.values()].reduce((a, b) => a + b, 0)).toBe(total)
        for (const worker of workers) {
          expect(worker.completed()).toBe(perWorker.get(worker.id))
          expect(perWorker.get(worker.id)).toBeGreaterThan(0)
        }
        // Answers carry the worker that ran them.
        const byAnswer = new Map<string, number>()
        for (const { output } of outputs) byAnswer.set(output.worker, (byAnswer.get(output.worker) ?? 0) + 1)
        expect(Object.fromEntries(byAnswer)).toEqual(Object.fromEntries(perWorker))
        // It really was concurrent.
        expect(maxConcurrent).toBeGreaterThan(100)
        expect(concurrent).toBe(0)
      }),
    ),
  )

  it(
    "drains: in-flight work finishes, new work goes elsewhere (or NO_WORKER), then the worker deregisters and stops",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy, controller } = yield* mesh()
        const gate = yield* Latch.make()
        const slow = implement(Slow, ({ n, hold }, { workerId }) => (hold ? gate.await : Effect.void).pipe(Effect.as({ n, worker: workerId })))
        const definition = defineWorker({ name: "slow", implements: [slow, implement(HelloGreet, greetAs("1.0.0"))] })

        const a = yield* start(definition)
        yield* healthy(a.id)
        const subscription = yield* PubSub.subscribe(controller.transitions)
        // Four requests held in flight on A, the only worker so far.
        const held = yield* Effect.forkChild(
          Effect.forEach([1, 2, 3, 4], (n) => client.invoke(Slow, { n, hold: true }, { timeoutMs: 5_000 }), { concurrency: "unbounded" }),
          { startImmediately: true },
        )
        yield* eventually("4 requests in flight on A", () => a.inFlight() === 4)
        const b = yield* start(definition)
        yield* healthy(b.id)

        yield* controller.drain(a.id, 5_000)
        yield* eventually("A draining", () => a.state() === "draining" && controller.worker(a.id)?.state === "draining")
        // New work goes to B while A finishes.
        const fresh = yield* Effect.forEach([5, 6, 7], (n) => client.invoke(Slow, { n, hold: false }))
        expect(fresh.map((o) => o.worker)).toEqual([b.id, b.id, b.id])
        expect((yield* client.invoke(HelloGreet, { message: "x" })).worker).toBe(b.id)
        // A is still there, draining, with its work in flight.
        expect(a.inFlight()).toBe(4)
        expect(controller.worker(a.id)?.state).toBe("draining")
        expect(a.state()).toBe("draining")

        yield* gate.open
        const finished = yield* Fiber.join(held)
        expect(finished).toEqual([1, 2, 3, 4].map((n) => ({ n, worker: a.id })))

        yield* eventually("A stopped and removed", () => a.state() === "stopped" && controller.worker(a.id) === undefined, {
          show: () => [a.state(), controller.worker(a.id)?.state],
        })
        yield* a.stopped
        expect(a.completed()).toBe(4)
        expect(controller.workers().map((w) => w.id)).toEqual([b.id])
        const seen = [...(yield* PubSub.takeAll(subscription))].filter((t) => t.workerId === a.id)
        expect(seen.map((t) => [t.from, t.to, t.event])).toEqual([
          ["healthy", "draining", "DRAIN"],
          ["draining", "stopped", "DRAINED"],
        ])

        // With B drained too, nothing is left to serve.
        yield* b.drain(1_000)
        expect(b.state()).toBe("stopped")
        yield* eventually("B removed", () => controller.workers().length === 0)
        expect((yield* failureOf(client.invoke(Slow, { n: 8, hold: false }))).code).toBe("NO_WORKER")
      }),
    ),
  )

  it(
    "turns a handler defect into INTERNAL and keeps the worker serving",
    scoped(
      Effect.gen(function* () {
        const { client, start, healthy, controller } = yield* mesh()
        const faulty = implement(Faulty, ({ fail }) => {
          if (fail) throw new Error("handler exploded")
          return { ok: true }
        })
        const worker = yield* start(defineWorker({ name: "faulty", implements: [faulty, implement(HelloGreet, greetAs("1.0.0"))] }))
        yield* healthy(worker.id)
        const logged: Array<string> = []
        const quiet = Logger.layer([Logger.make((o) => void logged.push(`${o.logLevel} ${String(o.message)}`))])
        for (let round = 0; round < 3; round++) {
          const failure = yield* failureOf(client.invoke(Faulty, { fail: true })).pipe(Effect.provide(quiet))
          expect(failure).toMatchObject({ code: "INTERNAL", retriable: false })
          expect(failure.message).toContain("handler exploded")
          expect(yield* client.invoke(Faulty, { fail: false })).toEqual({ ok: true })
          expect((yield* client.invoke(HelloGreet, { message: "ok" })).worker).toBe(worker.id)
        }
        expect(logged.filter((line) => line.startsWith("Error"))).toHaveLength(3)
        expect(worker.state()).toBe("healthy")
        expect(controller.worker(worker.id)?.state).toBe("healthy")
        expect(worker.inFlight()).toBe(0)
      }),
    ),
  )

  it(
    "a worker drained before it ever registered stops at once, quietly",
    scoped(
      Effect.gen(function* () {
        const { start, controller } = yield* mesh({ token: "s3cret" })
        const warn = vi.spyOn(console, "warn")
        yield* Effect.addFinalizer(() => Effect.sync(() => warn.mockRestore()))
        const worker = yield* start(helloWorker("early"), { token: "wrong" })
        expect(worker.state()).toBe("starting")
        const states: Array<string> = []
        worker.lifecycle.subscribe((snapshot) => void states.push(String(snapshot.value)))
        yield* worker.drain(1_000)
        expect(worker.state()).toBe("stopped")
        expect(states).toEqual(["stopped"])
        yield* worker.stopped
        expect(controller.workers()).toEqual([])
        // No "event sent to a stopped actor" warnings from xstate.
        expect(warn.mock.calls.filter((args) => String(args[0]).includes("stopped actor"))).toEqual([])
      }),
    ),
  )

  it(
    "refuses a wrong join token with UNAUTHORIZED (the worker keeps retrying, never registers) and accepts the right one",
    scoped(
      Effect.gen(function* () {
        const { transport, controller, start, healthy } = yield* mesh({ token: "s3cret" })
        const badLink = recording(transport)
        const goodLink = recording(transport)
        const bad = yield* start(helloWorker("intruder"), { token: "wrong" }, badLink)
        const anonymous = yield* start(helloWorker("anonymous"), {}, recording(transport))
        const good = yield* start(helloWorker("member"), { token: "s3cret" }, goodLink)
        yield* healthy(good.id)
        expect(good.state()).toBe("healthy")
        expect(goodLink.attempts(controller.address)).toBe(1)

        yield* eventually("the intruder retried several times", () => badLink.attempts(controller.address) >= 4, {
          show: () => badLink.attempts(controller.address),
        })
        const refusals = badLink.received(controller.address)
        expect(refusals.length).toBeGreaterThanOrEqual(3)
        for (const message of refusals) {
          expect(message).toMatchObject({ _tag: "Failure", code: "UNAUTHORIZED", retriable: false })
        }
        expect(refusals.some((m) => m._tag === "Registered")).toBe(false)
        expect(bad.state()).toBe("starting")
        expect(anonymous.state()).toBe("starting")
        expect(controller.worker(bad.id)).toBeUndefined()
        expect(controller.worker(anonymous.id)).toBeUndefined()
        expect(controller.workers().map((w) => w.id)).toEqual([good.id])

        // The refusal closes the connection with a clear reason.
        const closed: Array<{ code: number; reason: string }> = []
        const probe = yield* transport.connect(controller.address, () => ({
          onMessage: () => {},
          onClose: (info) => void closed.push(info),
          serve: (invoke) => Effect.succeed({ _tag: "Failure", id: invoke.id, code: "NO_WORKER", message: "", retriable: false }),
        }))
        yield* probe.send({
          _tag: "Register",
          protocolVersion: 1,
          workerId: "probe",
          nodeId: "n",
          capabilities: [],
          maxInFlight: 1,
          token: "guess",
        })
        yield* eventually("the probe is refused", () => closed.length === 1)
        expect(probe.isOpen()).toBe(false)
        expect(closed[0]!.reason).toContain("token")
      }),
    ),
  )

  it(
    "answers a drain of a worker it does not know UNKNOWN_WORKER, the code crank.drain declares (not INTERNAL)",
    scoped(
      Effect.gen(function* () {
        const { client } = yield* mesh()
        expect(yield* failureOf(client.invoke(CrankDrain, { workerId: "nobody" }))).toEqual({
          code: "UNKNOWN_WORKER",
          message: "the controller knows no worker nobody",
          retriable: false,
        })
      }),
    ),
  )
})
