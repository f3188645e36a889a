import { Cause, Deferred, Effect, Exit, Fiber, Logger, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { addRestart, backoffDelay } from "../../src/supervisor/restartWindow.ts"
import type { ChildSpec, SupervisorError, SupervisorEvent } from "../../src/supervisor/Supervisor.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"
import { settled, yieldTimes } from "../support/poll.ts"

/**
 * A bench of children that log their starts and stops, count their instances, and can be made to exit
 * from outside (complete, fail, die).
 */
class Lab {
  readonly log: Array<string> = []
  readonly events: Array<SupervisorEvent> = []
  readonly instances = new Map<string, number>()
  private readonly exits = new Map<string, Deferred.Deferred<void, string>>()

  readonly onEvent = (event: SupervisorEvent) => Effect.sync(() => void this.events.push(event))

  worker(id: string, options: Omit<ChildSpec, "id" | "start"> = {}): ChildSpec {
    const lab = this
    return {
      id,
      ...options,
      start: Effect.gen(function* () {
        lab.instances.set(id, (lab.instances.get(id) ?? 0) + 1)
        const exit = yield* Deferred.make<void, string>()
        lab.exits.set(id, exit)
        lab.log.push(`start:${id}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => void lab.log.push(`stop:${id}`)))
        return yield* Deferred.await(exit)
      }),
    }
  }

  instance(id: string): number {
    return this.instances.get(id) ?? 0
  }

  private exitOf(id: string): Deferred.Deferred<void, string> {
    const exit = this.exits.get(id)
    if (exit === undefined) throw new Error(`child ${id} never started`)
    return exit
  }

  crash = (id: string, error = "boom") => Effect.asVoid(Deferred.fail(this.exitOf(id), error))
  complete = (id: string) => Effect.asVoid(Deferred.succeed(this.exitOf(id), undefined))
  die = (id: string) => Effect.asVoid(Deferred.die(this.exitOf(id), new Error("defect")))

  /** Crashes the current instance of `id` and waits until the supervisor has started a new one. */
  crashAndAwaitRestart = (id: string) => {
    const before = this.instance(id)
    return Effect.andThen(
      this.crash(id),
      eventually(`${id} restarted`, () => this.instance(id) > before),
    )
  }

  count(tag: SupervisorEvent["_tag"], id?: string): number {
    return this.events.filter((e) => e._tag === tag && (id === undefined || ("id" in e && e.id === id))).length
  }
}

/**
 * Lets the other fibers run until `cond` holds (poll.ts `settled`: virtual time, bounded yields), then a little
 * longer so unexpected extra work shows up too.
 */
const eventually = (label: string, cond: () => boolean): Effect.Effect<void> => Effect.andThen(settled(label, cond, { maxYields: 5_000 }), settle)

const settle: Effect.Effect<void> = yieldTimes(50)

const test = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(effect.pipe(Effect.scoped, Effect.provide(TestClock.layer())))

const statuses = (sup: Supervisor.SupervisorHandle) => Effect.map(sup.children, (cs) => cs.map((c) => `${c.id}:${c.status}:${c.restarts}`))

const failureOf = <A, R>(effect: Effect.Effect<A, SupervisorError, R>) => Effect.flip(effect)

describe("Supervisor: start and stop order", () => {
  it("starts children in list order and stops them in reverse when the scope closes", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const sup = yield* Supervisor.start({ onEvent: lab.onEvent }, [lab.worker("a"), lab.worker("b"), lab.worker("c")])
            expect(lab.log).toEqual(["start:a", "start:b", "start:c"])
            expect(yield* statuses(sup)).toEqual(["a:running:0", "b:running:0", "c:running:0"])
          }),
        )
        expect(lab.log).toEqual(["start:a", "start:b", "start:c", "stop:c", "stop:b", "stop:a"])
        const terminated = lab.events.flatMap((e) => (e._tag === "ChildTerminated" ? [e.id] : []))
        expect(terminated).toEqual(["c", "b", "a"])
        expect(lab.events.at(-1)).toMatchObject({ _tag: "SupervisorStopped", error: undefined })
      }),
    )
  })

  it("waits for a signalling child to be ready before starting the next one", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const slow: ChildSpec = {
          id: "slow",
          readiness: "signal",
          start: Effect.gen(function* () {
            lab.log.push("start:slow")
            yield* Effect.sleep(100)
            lab.log.push("ready:slow")
            yield* Supervisor.signalReady
            return yield* Effect.never
          }),
        }
        const starting = yield* Effect.forkChild(Supervisor.start({}, [slow, lab.worker("b")]))
        yield* settle
        yield* TestClock.adjust(99)
        yield* settle
        expect(lab.log).toEqual(["start:slow"])
        expect(starting.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust(1)
        const sup = yield* Fiber.join(starting)
        expect(lab.log).toEqual(["start:slow", "ready:slow", "start:b"])
        expect(yield* statuses(sup)).toEqual(["slow:running:0", "b:running:0"])
      }),
    )
  })

  it("fails start when a child fails to start, stopping those already started in reverse order", async () => {
    const lab = new Lab()
    const error = await test(
      Effect.gen(function* () {
        const broken: ChildSpec = { id: "broken", start: Effect.fail("no port") }
        return yield* failureOf(Supervisor.start({ name: "root" }, [lab.worker("a"), lab.worker("b"), broken, lab.worker("c")]))
      }),
    )
    expect(error).toMatchObject({ _tag: "SupervisorError", reason: "StartFailure", supervisor: "root", childId: "broken" })
    expect(Option.getOrUndefined(Cause.findErrorOption(error.cause!))).toBe("no port")
    expect(lab.log).toEqual(["start:a", "start:b", "stop:b", "stop:a"])
    expect(lab.instance("c")).toBe(0)
  })

  it("counts a signalling child that fails before signalling as a start failure", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const binding: ChildSpec = {
          id: "listener",
          readiness: "signal",
          start: Effect.andThen(Effect.sleep(10), Effect.fail("EADDRINUSE")),
        }
        const starting = yield* Effect.forkChild(failureOf(Supervisor.start({}, [lab.worker("a"), binding, lab.worker("c")])))
        yield* settle
        yield* TestClock.adjust(10)
        const error = yield* Fiber.join(starting)
        expect(error.reason).toBe("StartFailure")
        expect(error.childId).toBe("listener")
        expect(lab.log).toEqual(["start:a", "stop:a"])
      }),
    )
  })
})

describe("Supervisor: validation", () => {
  const cases: ReadonlyArray<[string, Supervisor.SupervisorFlags, (lab: Lab) => ReadonlyArray<ChildSpec>, string]> = [
    ["duplicate id", {}, (lab) => [lab.worker("a"), lab.worker("b"), lab.worker("a")], "DuplicateChildId"],
    ["negative intensity", { intensity: -1 }, (lab) => [lab.worker("a")], "InvalidIntensity"],
    ["fractional intensity", { intensity: 1.5 }, (lab) => [lab.worker("a")], "InvalidIntensity"],
    ["zero period", { periodMs: 0 }, (lab) => [lab.worker("a")], "InvalidPeriod"],
    ["negative shutdown", {}, (lab) => [lab.worker("a"), lab.worker("b", { shutdown: -5 })], "InvalidShutdown"],
    ["empty id", {}, (lab) => [lab.worker("a"), lab.worker("")], "InvalidChildId"],
    ["unknown restart", {}, (lab) => [lab.worker("a"), lab.worker("b", { restart: "sometimes" as never })], "InvalidRestart"],
    ["unknown strategy", { strategy: "all-for-none" as never }, (lab) => [lab.worker("a")], "InvalidStrategy"],
    ["backoff cap below base", { backoff: { initialMs: 100, maxMs: 10 } }, (lab) => [lab.worker("a")], "InvalidBackoff"],
    ["start that is not an Effect", {}, (lab) => [lab.worker("a"), { id: "b", start: (() => {}) as never }], "InvalidStart"],
  ]
  for (const [label, flags, children, reason] of cases) {
    it(`rejects ${label} with ${reason} before any child starts`, async () => {
      const lab = new Lab()
      const error = await test(failureOf(Supervisor.start({ name: "v", ...flags }, children(lab))))
      expect(error._tag).toBe("SupervisorError")
      expect(error.reason).toBe(reason)
      expect(Supervisor.isValidationError(error)).toBe(true)
      expect(lab.log).toEqual([])
    })
  }
})

describe("Supervisor: strategies", () => {
  it("one-for-one restarts only the crashed child", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ strategy: "one-for-one", intensity: 5 }, [lab.worker("a"), lab.worker("b"), lab.worker("c")])
        lab.log.length = 0
        yield* lab.crashAndAwaitRestart("b")
        expect(lab.log).toEqual(["stop:b", "start:b"])
        expect([lab.instance("a"), lab.instance("b"), lab.instance("c")]).toEqual([1, 2, 1])
        expect(yield* statuses(sup)).toEqual(["a:running:0", "b:running:1", "c:running:0"])
      }),
    )
  })

  it("one-for-all stops the others in reverse order and restarts all in order", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ strategy: "one-for-all", intensity: 5 }, [lab.worker("a"), lab.worker("b"), lab.worker("c")])
        lab.log.length = 0
        yield* lab.crash("b")
        yield* eventually("all restarted", () => lab.instance("c") === 2)
        expect(lab.log).toEqual(["stop:b", "stop:c", "stop:a", "start:a", "start:b", "start:c"])
        expect([lab.instance("a"), lab.instance("b"), lab.instance("c")]).toEqual([2, 2, 2])
        expect(yield* statuses(sup)).toEqual(["a:running:1", "b:running:1", "c:running:1"])
      }),
    )
  })

  it("rest-for-one restarts the crashed child and those after it, not those before", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ strategy: "rest-for-one", intensity: 5 }, [lab.worker("a"), lab.worker("b"), lab.worker("c"), lab.worker("d")])
        lab.log.length = 0
        yield* lab.crash("b")
        yield* eventually("rest restarted", () => lab.instance("d") === 2)
        expect(lab.log).toEqual(["stop:b", "stop:d", "stop:c", "start:b", "start:c", "start:d"])
        expect([lab.instance("a"), lab.instance("b"), lab.instance("c"), lab.instance("d")]).toEqual([1, 2, 2, 2])
        expect(yield* statuses(sup)).toEqual(["a:running:0", "b:running:1", "c:running:1", "d:running:1"])
      }),
    )
  })

  it("one-for-all does not restart a temporary sibling it had to stop, and forgets it", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ strategy: "one-for-all", intensity: 5 }, [
          lab.worker("a"),
          lab.worker("t", { restart: "temporary" }),
          lab.worker("c"),
        ])
        yield* lab.crash("c")
        yield* eventually("restarted", () => lab.instance("c") === 2)
        expect(lab.instance("t")).toBe(1)
        expect(yield* statuses(sup)).toEqual(["a:running:1", "c:running:1"])
      }),
    )
  })
})

describe("Supervisor: restart types", () => {
  it("restarts a permanent child even when it completes normally", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        yield* Supervisor.start({ intensity: 5 }, [lab.worker("p", { restart: "permanent" })])
        yield* lab.complete("p")
        yield* eventually("p restarted", () => lab.instance("p") === 2)
        expect(lab.events.find((e) => e._tag === "ChildExited")).toBeUndefined() // no onEvent given
      }),
    )
  })

  it("restarts a transient child after a failure or a defect, but not after a normal exit", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 5, onEvent: lab.onEvent }, [lab.worker("t", { restart: "transient" })])
        yield* lab.crashAndAwaitRestart("t")
        yield* lab.die("t")
        yield* eventually("t restarted after defect", () => lab.instance("t") === 3)
        const reasons = lab.events.flatMap((e) => (e._tag === "ChildExited" ? [e.reason] : []))
        expect(reasons).toEqual(["failure", "defect"])
        yield* lab.complete("t")
        yield* eventually("t exited", () => lab.count("ChildExited", "t") === 3)
        expect(lab.instance("t")).toBe(3)
        expect(yield* statuses(sup)).toEqual(["t:stopped:2"])
      }),
    )
  })

  it("never restarts a temporary child, and forgets it when it exits", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 5, onEvent: lab.onEvent }, [lab.worker("a"), lab.worker("tmp", { restart: "temporary" })])
        yield* lab.crash("tmp")
        yield* eventually("tmp exited", () => lab.count("ChildExited", "tmp") === 1)
        expect(lab.instance("tmp")).toBe(1)
        expect(yield* statuses(sup)).toEqual(["a:running:0"])
      }),
    )
  })
})

describe("Supervisor: restart intensity", () => {
  it("stops all children in reverse order and fails upward when intensity is exceeded", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ name: "root", intensity: 2, periodMs: 5000, onEvent: lab.onEvent }, [
          lab.worker("a"),
          lab.worker("b"),
          lab.worker("c"),
        ])
        yield* lab.crashAndAwaitRestart("b")
        yield* lab.crashAndAwaitRestart("b")
        lab.log.length = 0
        yield* lab.crash("b", "third strike")
        const error = yield* failureOf(sup.await)
        expect(error).toMatchObject({ _tag: "SupervisorError", reason: "MaxRestartIntensity", supervisor: "root", childId: "b" })
        expect(Option.getOrUndefined(Cause.findErrorOption(error.cause!))).toBe("third strike")
        expect(lab.log).toEqual(["stop:b", "stop:c", "stop:a"])
        expect(lab.instance("b")).toBe(3)
        expect(yield* statuses(sup)).toEqual(["a:stopped:0", "b:stopped:2", "c:stopped:0"])
        expect(lab.events.at(-1)).toMatchObject({ _tag: "SupervisorStopped", error: { reason: "MaxRestartIntensity" } })
        // A supervisor that gave up takes no more requests.
        expect((yield* failureOf(sup.restartChild("b"))).reason).toBe("NotRunning")
      }),
    )
  })

  it("does not trip when the restarts are spread beyond the period", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 1, periodMs: 1000 }, [lab.worker("a"), lab.worker("b")])
        for (let i = 0; i < 5; i++) {
          yield* lab.crashAndAwaitRestart("a")
          yield* TestClock.adjust(1001)
        }
        expect(lab.instance("a")).toBe(6)
        const awaiting = yield* Effect.forkChild(sup.await)
        yield* settle
        expect(awaiting.pollUnsafe()).toBeUndefined()
        expect(yield* statuses(sup)).toEqual(["a:running:5", "b:running:0"])
      }),
    )
  })

  it("counts a restart exactly one period ago, as OTP does", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 1, periodMs: 1000 }, [lab.worker("a")])
        yield* lab.crashAndAwaitRestart("a")
        yield* TestClock.adjust(1000)
        yield* lab.crash("a")
        expect((yield* failureOf(sup.await)).reason).toBe("MaxRestartIntensity")
      }),
    )
  })

  it("with intensity 0 gives up on the first crash", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 0 }, [lab.worker("a"), lab.worker("b")])
        lab.log.length = 0
        yield* lab.crash("a")
        expect((yield* failureOf(sup.await)).childId).toBe("a")
        expect(lab.log).toEqual(["stop:a", "stop:b"])
        expect(lab.instance("a")).toBe(1)
      }),
    )
  })

  it("keeps its window under a clock that steps backwards", () => {
    // Timestamps are clamped to the newest, so a backwards step cannot push old restarts out of the window.
    expect(addRestart([5000], 1000, 1000)).toEqual([5000, 5000])
    expect(addRestart([1000, 0], 1000, 1000)).toEqual([1000, 1000, 0])
    expect(addRestart([1000, 0], 1001, 1000)).toEqual([1001, 1000])
  })
})

describe("Supervisor: backoff", () => {
  it("computes a capped exponential delay", () => {
    const backoff = { initialMs: 100, maxMs: 250 }
    expect([1, 2, 3, 4, 60].map((n) => backoffDelay(backoff, n))).toEqual([100, 200, 250, 250, 250])
    expect(backoffDelay({ initialMs: 0, maxMs: 1000 }, 5)).toBe(0)
  })

  it("waits the backoff on Effect's clock before restarting", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 10, periodMs: 60_000, backoff: { initialMs: 100, maxMs: 250 }, onEvent: lab.onEvent }, [
          lab.worker("a"),
          lab.worker("b"),
        ])
        for (const [n, delay] of [
          [2, 100],
          [3, 200],
          [4, 250],
        ] as const) {
          yield* lab.crash("a")
          yield* eventually("restart scheduled", () => lab.count("RestartScheduled") === n - 1)
          expect(yield* statuses(sup)).toEqual([`a:restarting:${n - 2}`, "b:running:0"])
          yield* TestClock.adjust(delay - 1)
          yield* settle
          expect(lab.instance("a")).toBe(n - 1)
          yield* TestClock.adjust(1)
          yield* eventually("a restarted", () => lab.instance("a") === n)
        }
        const delays = lab.events.flatMap((e) => (e._tag === "RestartScheduled" ? [e.delayMs] : []))
        expect(delays).toEqual([100, 200, 250])
        expect(lab.instance("b")).toBe(1)
      }),
    )
  })

  it("stops at once when its scope closes during a backoff, without restarting", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        let sup!: Supervisor.SupervisorHandle
        yield* Effect.scoped(
          Effect.gen(function* () {
            sup = yield* Supervisor.start({ intensity: 5, backoff: { initialMs: 10_000, maxMs: 10_000 } }, [lab.worker("a"), lab.worker("b")])
            yield* lab.crash("a")
            yield* eventually("a waiting", () => lab.log.includes("stop:a"))
          }),
        )
        expect(lab.log).toEqual(["start:a", "start:b", "stop:a", "stop:b"])
        expect(yield* statuses(sup)).toEqual(["a:stopped:0", "b:stopped:0"])
        expect(yield* Effect.exit(sup.await)).toEqual(Exit.void)
      }),
    )
  })
})

describe("Supervisor: nesting", () => {
  it("a nested supervisor that gives up is a failed child of its parent, and is restarted", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const root = yield* Supervisor.start({ name: "root", intensity: 3, onEvent: lab.onEvent }, [
          lab.worker("x"),
          Supervisor.asChild({ id: "sub", flags: { intensity: 0 }, children: [lab.worker("y"), lab.worker("z")] }),
          lab.worker("w"),
        ])
        expect(lab.log).toEqual(["start:x", "start:y", "start:z", "start:w"])
        lab.log.length = 0
        yield* lab.crash("y")
        yield* eventually("sub restarted", () => lab.instance("z") === 2)
        expect(lab.log).toEqual(["stop:y", "stop:z", "start:y", "start:z"])
        const exited = lab.events.find((e) => e._tag === "ChildExited" && e.supervisor === "root")
        expect(exited).toMatchObject({ id: "sub", reason: "failure" })
        const cause = exited?._tag === "ChildExited" && Exit.isFailure(exited.exit) ? exited.exit.cause : Cause.empty
        expect(Option.getOrUndefined(Cause.findErrorOption(cause))).toMatchObject({ reason: "MaxRestartIntensity", supervisor: "sub" })
        expect(yield* statuses(root)).toEqual(["x:running:0", "sub:running:1", "w:running:0"])
        expect([lab.instance("x"), lab.instance("w")]).toEqual([1, 1])
      }),
    )
  })

  it("a parent whose nested supervisor keeps failing fails upward in turn, stopping everything in reverse", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const root = yield* Supervisor.start({ name: "root", intensity: 0 }, [
          lab.worker("x"),
          Supervisor.asChild({ id: "sub", flags: { intensity: 0 }, children: [lab.worker("y"), lab.worker("z")] }),
          lab.worker("w"),
        ])
        lab.log.length = 0
        yield* lab.crash("y")
        const error = yield* failureOf(root.await)
        expect(error).toMatchObject({ reason: "MaxRestartIntensity", supervisor: "root", childId: "sub" })
        expect(Option.getOrUndefined(Cause.findErrorOption(error.cause!))).toMatchObject({ supervisor: "sub", childId: "y" })
        expect(lab.log).toEqual(["stop:y", "stop:z", "stop:w", "stop:x"])
      }),
    )
  })

  it("a nested supervisor's start failure fails its parent's start", async () => {
    const lab = new Lab()
    const error = await test(
      failureOf(
        Supervisor.start({ name: "root" }, [
          lab.worker("x"),
          Supervisor.asChild({ id: "sub", flags: {}, children: [lab.worker("y"), { id: "bad", start: Effect.die("nope") }] }),
          lab.worker("w"),
        ]),
      ),
    )
    expect(error).toMatchObject({ reason: "StartFailure", supervisor: "root", childId: "sub" })
    expect(lab.log).toEqual(["start:x", "start:y", "stop:y", "stop:x"])
  })
})

describe("Supervisor: shutdown", () => {
  it("abandons a child whose finalizer hangs after `shutdown` ms and goes on stopping the rest", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const hang: ChildSpec = {
          id: "hang",
          shutdown: 100,
          start: Effect.gen(function* () {
            yield* Effect.addFinalizer(() =>
              Effect.andThen(
                Effect.sync(() => lab.log.push("stopping:hang")),
                Effect.never,
              ),
            )
            return yield* Effect.never
          }),
        }
        const scope = yield* Scope.make()
        yield* Scope.provide(scope)(Supervisor.start({ onEvent: lab.onEvent }, [lab.worker("a"), hang]))
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        yield* settle
        expect(lab.log).toEqual(["start:a", "stopping:hang"])
        yield* TestClock.adjust(99)
        yield* settle
        expect(closing.pollUnsafe()).toBeUndefined()
        expect(lab.log).not.toContain("stop:a")
        yield* TestClock.adjust(1)
        yield* Fiber.join(closing)
        expect(lab.log).toEqual(["start:a", "stopping:hang", "stop:a"])
        const terminated = lab.events.flatMap((e) => (e._tag === "ChildTerminated" ? [[e.id, e.timedOut]] : []))
        expect(terminated).toEqual([
          ["hang", true],
          ["a", false],
        ])
      }),
    )
  })

  it("uses the shutdown bound when restarting, too", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        const hang: ChildSpec = {
          id: "hang",
          shutdown: 50,
          start: Effect.gen(function* () {
            lab.instances.set("hang", lab.instance("hang") + 1)
            // Only the first instance hangs, so the test's own scope can close without advancing the clock.
            if (lab.instance("hang") === 1) yield* Effect.addFinalizer(() => Effect.never)
            return yield* Effect.never
          }),
        }
        yield* Supervisor.start({ strategy: "one-for-all", intensity: 3 }, [lab.worker("a"), hang])
        yield* lab.crash("a")
        yield* settle
        expect(lab.instance("a")).toBe(1)
        yield* TestClock.adjust(50)
        yield* eventually("group restarted", () => lab.instance("hang") === 2 && lab.instance("a") === 2)
      }),
    )
  })
})

describe("Supervisor: dynamic children", () => {
  it("starts, terminates, restarts and deletes children at runtime, as OTP's start_child and friends", async () => {
    const lab = new Lab()
    await test(
      Effect.gen(function* () {
        let sup!: Supervisor.SupervisorHandle
        yield* Effect.scoped(
          Effect.gen(function* () {
            sup = yield* Supervisor.start({ intensity: 5 }, [lab.worker("a"), lab.worker("b")])
            yield* sup.startChild(lab.worker("c"))
            expect(yield* statuses(sup)).toEqual(["a:running:0", "b:running:0", "c:running:0"])
            expect((yield* failureOf(sup.startChild(lab.worker("a")))).reason).toBe("DuplicateChildId")
            expect((yield* failureOf(sup.startChild({ id: "bad", start: Effect.fail("x") }))).reason).toBe("StartFailure")

            yield* sup.terminateChild("b")
            yield* settle
            expect(yield* statuses(sup)).toEqual(["a:running:0", "b:stopped:0", "c:running:0"])
            expect(lab.instance("b")).toBe(1)

            expect((yield* failureOf(sup.restartChild("a"))).reason).toBe("ChildRunning")
            expect((yield* failureOf(sup.terminateChild("nope"))).reason).toBe("ChildNotFound")
            yield* sup.restartChild("b")
            expect(yield* statuses(sup)).toEqual(["a:running:0", "b:running:1", "c:running:0"])

            yield* sup.terminateChild("c")
            yield* sup.deleteChild("c")
            expect(yield* statuses(sup)).toEqual(["a:running:0", "b:running:1"])
            lab.log.length = 0
          }),
        )
        expect(lab.log).toEqual(["stop:b", "stop:a"])
        expect((yield* failureOf(sup.startChild(lab.worker("d")))).reason).toBe("NotRunning")
        expect(yield* Effect.exit(sup.await)).toEqual(Exit.void)
      }),
    )
  })
})

describe("Supervisor: events", () => {
  it("survives an onEvent handler that fails, and logs events through Effect's Logger", async () => {
    const lab = new Lab()
    const lines: Array<[string, unknown]> = []
    const capture = Logger.make(({ logLevel, message }) => void lines.push([logLevel, message]))
    await test(
      Effect.gen(function* () {
        const onEvent = (event: SupervisorEvent) =>
          Effect.andThen(Supervisor.logEvent(event).pipe(Effect.andThen(lab.onEvent(event))), Effect.die("handler bug"))
        const sup = yield* Supervisor.start({ intensity: 5, onEvent }, [lab.worker("a")])
        yield* lab.crashAndAwaitRestart("a")
        expect(lab.events.map((e) => e._tag)).toEqual(["ChildStarted", "ChildExited", "RestartScheduled", "ChildStarted"])
        expect(yield* statuses(sup)).toEqual(["a:running:1"])
        // The first start is routine (debug, below the default level); the crash and restart are news.
        expect(lines.map(([level]) => level)).toEqual(["Warn", "Warn", "Info"])
        expect(String(lines[0]?.[1])).toContain("child exited (failure): boom")
        expect(String(lines[2]?.[1])).toContain("child restarted (1)")
      }).pipe(Effect.provide(Logger.layer([capture]))),
    )
  })
})
