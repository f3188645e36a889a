/**
 * Heartbeats, staleness, eviction, reconnection and registration retries, in virtual time.
 *
 * Every test runs under `TestClock.layer()`: time moves only through `TestClock.adjust`, and between steps the
 * test lets the actors' fibers run (`settled`, which yields without moving the clock). A fake worker made of a
 * raw `transport.connect` and hand-written envelopes lets the test decide exactly when heartbeats happen.
 */
import { Effect, PubSub, References, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import * as Controller from "../../actors/Controller.ts"
import { implement } from "../../actors/Implementation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { defineWorker } from "../../actors/WorkerDefinition.ts"
import { descriptorOf as describeCapability } from "../../capabilities/Capability.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { type ControlMessage, protocolVersion } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { type CloseInfo, Transport } from "../../transports/Transport.ts"
import { settled, yieldTimes } from "../support/poll.ts"
import { recording } from "../support/recordingTransport.ts"

const address = "memory://controller"
const timings = { heartbeatIntervalMs: 100, staleAfterMs: 400, evictAfterMs: 1_000 }

/**
 * Runs `body` in virtual time with the test timings, every party on one fresh in-memory transport unless it is
 * given its own (a worker dialling through a recording wrapper).
 */
const virtual =
  <A, E>(body: (transport: MemoryTransport.MemoryTransport) => Effect.Effect<A, E, Scope.Scope | Transport>) =>
  () =>
    Effect.runPromise(
      Effect.suspend(() => {
        const transport = MemoryTransport.make()
        return Effect.scoped(body(transport)).pipe(Effect.provideService(Transport, transport))
      }).pipe(
        Effect.asVoid,
        withTunables(timings),
        Effect.provide(TestClock.layer()),
        // The worker logs reconnects at Info; the tests check behaviour, not log lines.
        Effect.provideService(References.MinimumLogLevel, "Warn"),
      ),
    )

/** A worker the test drives by hand: it registers and beats only when told to. */
const fakeWorker = (transport: Transport, workerId: string) =>
  Effect.gen(function* () {
    const inbox: Array<ControlMessage> = []
    const closes: Array<CloseInfo> = []
    let seq = 0
    const connection = yield* transport.connect(address, () => ({
      onMessage: (message) => void inbox.push(message),
      onClose: (info) => void closes.push(info),
      serve: (invoke) => Effect.succeed({ _tag: "Result", id: invoke.id, output: { greeting: "from the fake", worker: workerId } }),
    }))
    return {
      connection,
      inbox,
      closes,
      register: connection.send({
        _tag: "Register",
        protocolVersion,
        workerId,
        nodeId: "fake-node",
        capabilities: [describeCapability(HelloGreet)],
        maxInFlight: 10,
      }),
      beat: Effect.suspend(() => connection.send({ _tag: "Heartbeat", workerId, seq: ++seq, inFlight: 0, completed: 0 })),
    }
  })

const stateAt = (controller: Controller.Controller, id: string) => controller.worker(id)?.state

const expectState = (controller: Controller.Controller, id: string, state: string | undefined) =>
  settled(`${id} ${state ?? "removed"}`, () => stateAt(controller, id) === state, { show: () => stateAt(controller, id) })

const greet = (id: string) => ({ _tag: "Invoke", id, capability: "hello.greet", range: "^1", input: { message: "x" }, timeoutMs: 1_000 }) as const

describe("heartbeats (virtual time)", () => {
  it(
    "heartbeat → healthy, silence → stale, heartbeat → healthy, long silence → evicted and announced",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const transitions = yield* PubSub.subscribe(controller.transitions)
        const fake = yield* fakeWorker(transport, "fake-1")

        yield* fake.register
        yield* expectState(controller, "fake-1", "registered")
        expect(fake.inbox[0]).toMatchObject({ _tag: "Registered", workerId: "fake-1", heartbeatIntervalMs: 100, staleAfterMs: 400 })
        // Registered is not routable yet.
        expect((yield* controller.serve(greet("r0")))._tag).toBe("Failure")

        yield* fake.beat
        yield* expectState(controller, "fake-1", "healthy")
        expect(fake.inbox.some((m) => m._tag === "HeartbeatAck" && m.seq === 1)).toBe(true)
        expect(yield* controller.serve(greet("r1"))).toMatchObject({ _tag: "Result", id: "r1" })

        // Silent for just under the stale window: still healthy.
        yield* TestClock.adjust(399)
        yield* yieldTimes(20)
        expect(stateAt(controller, "fake-1")).toBe("healthy")
        yield* TestClock.adjust(1)
        yield* expectState(controller, "fake-1", "stale")
        expect(yield* controller.serve(greet("r2"))).toMatchObject({ _tag: "Failure", code: "NO_WORKER" })

        // A heartbeat brings it back.
        yield* fake.beat
        yield* expectState(controller, "fake-1", "healthy")
        expect(yield* controller.serve(greet("r3"))).toMatchObject({ _tag: "Result" })

        // Silence again: stale at 400 + 400 = 800, evicted 1,000 later, at 1,800, and not before.
        yield* TestClock.adjust(400)
        yield* expectState(controller, "fake-1", "stale")
        yield* TestClock.adjust(999)
        yield* yieldTimes(20)
        expect(stateAt(controller, "fake-1")).toBe("stale")
        yield* TestClock.adjust(1)
        yield* expectState(controller, "fake-1", undefined)
        expect(controller.workers()).toEqual([])
        // The controller hangs up on an evicted worker.
        yield* settled("the fake's connection closed", () => fake.closes.length === 1)
        expect(fake.connection.isOpen()).toBe(false)

        const seen = [...(yield* PubSub.takeAll(transitions))]
        expect(seen.map((t) => [t.from, t.to, t.event, t.at])).toEqual([
          ["starting", "registered", "REGISTERED", 0],
          ["registered", "healthy", "HEARTBEAT", 0],
          ["healthy", "stale", "HEARTBEAT_TIMEOUT", 400],
          ["stale", "healthy", "HEARTBEAT", 400],
          ["healthy", "stale", "HEARTBEAT_TIMEOUT", 800],
          ["stale", "stopped", "EVICTED", 1_800],
        ])
        expect(seen.every((t) => t.workerId === "fake-1")).toBe(true)
      }),
    ),
  )

  it(
    "a registered worker that never beats goes stale too",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const fake = yield* fakeWorker(transport, "mute")
        yield* fake.register
        yield* expectState(controller, "mute", "registered")
        yield* TestClock.adjust(400)
        yield* expectState(controller, "mute", "stale")
      }),
    ),
  )

  it(
    "evicts every worker that is due in the same sweep",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const fakes = [yield* fakeWorker(transport, "a"), yield* fakeWorker(transport, "b"), yield* fakeWorker(transport, "c")]
        for (const fake of fakes) yield* fake.register
        for (const fake of fakes) yield* fake.beat
        yield* settled("all healthy", () => ["a", "b", "c"].every((id) => stateAt(controller, id) === "healthy"))
        yield* TestClock.adjust(400)
        yield* settled("all stale", () => ["a", "b", "c"].every((id) => stateAt(controller, id) === "stale"))
        yield* TestClock.adjust(1_000)
        yield* settled("all evicted", () => controller.workers().length === 0, { show: () => controller.workers().map((w) => [w.id, w.state]) })
        for (const fake of fakes) expect(fake.connection.isOpen()).toBe(false)
      }),
    ),
  )

  it(
    "a dropped connection marks the worker stale at once; re-registering on a new connection brings it back",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const transitions = yield* PubSub.subscribe(controller.transitions)
        const first = yield* fakeWorker(transport, "phoenix")
        yield* first.register
        yield* first.beat
        yield* expectState(controller, "phoenix", "healthy")

        // The link drops; no time passes.
        yield* first.connection.close({ code: 1006, reason: "cable cut" })
        yield* expectState(controller, "phoenix", "stale")
        expect(yield* controller.serve(greet("r1"))).toMatchObject({ _tag: "Failure", code: "NO_WORKER" })

        // The same worker id on a fresh connection.
        const second = yield* fakeWorker(transport, "phoenix")
        yield* second.register
        yield* expectState(controller, "phoenix", "registered")
        expect(second.inbox[0]).toMatchObject({ _tag: "Registered", workerId: "phoenix" })
        yield* second.beat
        yield* expectState(controller, "phoenix", "healthy")
        expect(yield* controller.serve(greet("r2"))).toMatchObject({ _tag: "Result", id: "r2" })
        expect(controller.workers()).toHaveLength(1)

        // The old record's history carries over; eviction timers start over from the new heartbeats.
        yield* TestClock.adjust(399)
        yield* yieldTimes(20)
        expect(stateAt(controller, "phoenix")).toBe("healthy")

        const seen = [...(yield* PubSub.takeAll(transitions))].map((t) => [t.from, t.to, t.event])
        expect(seen).toEqual([
          ["starting", "registered", "REGISTERED"],
          ["registered", "healthy", "HEARTBEAT"],
          ["healthy", "stale", "DISCONNECTED"],
          ["stale", "registered", "REGISTERED"],
          ["registered", "healthy", "HEARTBEAT"],
        ])
        expect(controller.worker("phoenix")?.transitions.map((t) => t.event)).toEqual(["REGISTERED", "HEARTBEAT", "DISCONNECTED", "REGISTERED", "HEARTBEAT"])
      }),
    ),
  )

  it(
    "a second connection cannot take a live worker's id; once the old link is seen to close, the worker registers on the new one",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const first = yield* fakeWorker(transport, "twice")
        yield* first.register
        yield* first.beat
        yield* expectState(controller, "twice", "healthy")

        // Another connection asks for the live id (an impostor, or the worker itself behind a half-open link):
        // refused with a reason, and the first link keeps serving.
        const second = yield* fakeWorker(transport, "twice")
        yield* second.register
        yield* settled("refused", () => second.closes.length === 1)
        expect(second.inbox).toMatchObject([{ _tag: "Failure", code: "FORBIDDEN" }])
        expect(second.closes[0]!.reason).toContain("worker twice is healthy on another connection")
        expect(first.closes).toEqual([])
        expect(controller.refusals().get("id-taken")).toBe(1)
        expect(yield* controller.serve(greet("r1"))).toMatchObject({ _tag: "Result", output: { greeting: "from the fake" } })

        // The old link closes: now a new connection may register the id, and serves.
        yield* first.connection.close()
        yield* expectState(controller, "twice", "stale")
        const third = yield* fakeWorker(transport, "twice")
        yield* third.register
        yield* settled("registered on the new link", () => third.inbox.some((m) => m._tag === "Registered"))
        yield* third.beat
        yield* expectState(controller, "twice", "healthy")
        expect(yield* controller.serve(greet("r2"))).toMatchObject({ _tag: "Result", id: "r2" })
      }),
    ),
  )

  it(
    "a real worker whose link drops reconnects with backoff and re-registers",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const dialer = recording(transport)
        const worker = yield* Worker.start(
          defineWorker({ name: "w", implements: [implement(HelloGreet, ({ message }, { workerId }) => ({ greeting: message, worker: workerId }))] }),
          {
            controller: address,
          },
        ).pipe(withTunables({ registerBackoffInitialMs: 100, registerBackoffMaxMs: 1_000 }), Effect.provideService(Transport, dialer))
        yield* expectState(controller, worker.id, "healthy")
        yield* settled("worker healthy", () => worker.state() === "healthy")

        yield* dialer.connections(address)[0]!.close({ code: 1006, reason: "cable cut" })
        yield* expectState(controller, worker.id, "stale")
        yield* settled("worker sees the drop", () => worker.state() !== "healthy")
        // Reconnects once the first backoff step (100 ms ± 20 % jitter) has passed.
        for (let step = 0; step < 10 && dialer.attempts(address) < 2; step++) {
          yield* TestClock.adjust(20)
          yield* yieldTimes(10)
        }
        expect(dialer.attempts(address)).toBe(2)
        yield* expectState(controller, worker.id, "healthy")
        yield* settled("worker healthy again", () => worker.state() === "healthy")
        expect(controller.worker(worker.id)!.transitions.map((t) => t.event)).toEqual(["REGISTERED", "HEARTBEAT", "DISCONNECTED", "REGISTERED", "HEARTBEAT"])
      }),
    ),
  )

  it(
    "a worker retries registration with capped backoff while no controller exists, then registers",
    virtual((transport) =>
      Effect.gen(function* () {
        const dialer = recording(transport)
        const worker = yield* Worker.start(
          defineWorker({ name: "early", implements: [implement(HelloGreet, ({ message }, { workerId }) => ({ greeting: message, worker: workerId }))] }),
          {
            controller: address,
          },
        ).pipe(withTunables({ registerBackoffInitialMs: 100, registerBackoffMaxMs: 1_000 }), Effect.provideService(Transport, dialer))
        yield* settled("first attempt", () => dialer.attempts(address) === 1)
        // Five virtual seconds with nobody listening, 50 ms at a time.
        for (let t = 0; t < 5_000; t += 50) {
          yield* TestClock.adjust(50)
          yield* yieldTimes(5)
          expect(worker.state()).toBe("starting")
        }
        const times = dialer.attemptTimes(address)
        const gaps = times.slice(1).map((t, i) => t - times[i]!)
        // 100, 200, 400, 800, then capped at 1,000: each ± 20 % jitter.
        expect(gaps.length).toBeGreaterThanOrEqual(5)
        expect(gaps[0]).toBeGreaterThanOrEqual(80)
        expect(gaps[0]).toBeLessThanOrEqual(120)
        expect(gaps[1]).toBeGreaterThanOrEqual(160)
        expect(gaps[2]).toBeGreaterThanOrEqual(320)
        for (const gap of gaps) expect(gap).toBeLessThanOrEqual(1_200)
        expect(gaps.slice(4).every((gap) => gap >= 800)).toBe(true)

        // The controller comes up; the next attempt (at most 1.2 s away) registers.
        const before = dialer.attempts(address)
        const controller = yield* Controller.make({ addresses: [address] })
        for (let t = 0; t < 1_300 && controller.worker(worker.id)?.state !== "healthy"; t += 50) {
          yield* TestClock.adjust(50)
          yield* yieldTimes(10)
        }
        yield* expectState(controller, worker.id, "healthy")
        yield* settled("worker healthy", () => worker.state() === "healthy")
        expect(dialer.attempts(address)).toBe(before + 1)
      }),
    ),
  )

  it(
    "a real worker's heartbeats keep it healthy across many intervals",
    virtual((transport) =>
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: [address] })
        const dialer = recording(transport)
        const worker = yield* Worker.start(
          defineWorker({ name: "steady", implements: [implement(HelloGreet, ({ message }, { workerId }) => ({ greeting: message, worker: workerId }))] }),
          {
            controller: address,
          },
        ).pipe(Effect.provideService(Transport, dialer))
        yield* expectState(controller, worker.id, "healthy")
        let lastBeat = controller.worker(worker.id)!.lastHeartbeatAt
        // 50 intervals = 5 s of virtual time, 12.5 stale windows.
        for (let i = 1; i <= 50; i++) {
          yield* TestClock.adjust(100)
          yield* settled(`heartbeat ${i} seen`, () => controller.worker(worker.id)!.lastHeartbeatAt > lastBeat, {
            show: () => controller.worker(worker.id),
          })
          lastBeat = controller.worker(worker.id)!.lastHeartbeatAt
          expect(stateAt(controller, worker.id)).toBe("healthy")
          expect(worker.state()).toBe("healthy")
        }
        expect(lastBeat).toBe(5_000)
        const acks = dialer.received(address).filter((m) => m._tag === "HeartbeatAck")
        expect(acks.length).toBeGreaterThanOrEqual(50)
        expect(controller.worker(worker.id)!.transitions.map((t) => t.to)).toEqual(["registered", "healthy"])
        expect(dialer.attempts(address)).toBe(1)
      }),
    ),
  )
})
