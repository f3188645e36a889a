import { Effect, Exit, Fiber, Latch, Logger, Result, Schema } from "effect"
import * as Clock from "effect/Clock"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import type { HandlerContext, Implementation } from "../../actors/Implementation.ts"
import { implement } from "../../actors/Implementation.ts"
import * as RequestServer from "../../actors/RequestServer.ts"
import { defineCapability } from "../../capabilities/Capability.ts"
import { CrankError } from "../../capabilities/CrankError.ts"
import type { Failure, Invoke, Reply } from "../../transports/Envelope.ts"
import { settled } from "../support/poll.ts"

const EchoInput = Schema.Struct({ text: Schema.String })
const EchoOutput = Schema.Struct({ echo: Schema.String, version: Schema.String })

const echoAt = (version: string) =>
  defineCapability({
    id: "demo.echo",
    version,
    input: EchoInput,
    output: EchoOutput,
    errors: [{ code: "TOO_LOUD", description: "the text is shouted", retriable: true }],
  })
const Echo = echoAt("1.0.0")

let sequence = 0
const request = (input: unknown, overrides: Partial<Invoke> = {}): Invoke => ({
  _tag: "Invoke",
  id: `r${++sequence}`,
  capability: "demo.echo",
  range: "^1",
  input,
  timeoutMs: 1_000,
  ...overrides,
})

/** A server whose echo handler counts its calls; `behave` may replace the answer per input text. */
const serverWith = (
  behave: (text: string, context: HandlerContext<string>) => unknown = () => undefined,
  options: { readonly maxInFlight?: number; readonly extra?: ReadonlyArray<Implementation> } = {},
) => {
  const calls = { count: 0 }
  // Typed loosely on purpose: `behave` returns deliberately wrong things (defects, bad output).
  const echo: Implementation = {
    capability: Echo,
    handler: ({ text }: { readonly text: string }, context: HandlerContext<string>) => {
      calls.count++
      return behave(text, context) ?? { echo: text, version: "1.0.0" }
    },
  }
  const server = RequestServer.make({
    workerId: "w-test",
    implementations: [echo, ...(options.extra ?? [])],
    maxInFlight: options.maxInFlight ?? 10,
    clock: Clock.Clock.defaultValue(),
  })
  return { server, calls }
}

const expectFailure = (reply: Reply, code: string): Failure => {
  expect(reply._tag, JSON.stringify(reply)).toBe("Failure")
  const failure = reply as Failure
  expect(failure.code).toBe(code)
  return failure
}

const expectResult = (reply: Reply, output: unknown) => {
  expect(reply).toEqual({ _tag: "Result", id: expect.any(String), output })
}

/** Captures log lines instead of printing them (handler defects are logged by design). */
const captureLogs = () => {
  const lines: Array<{ level: string; message: unknown }> = []
  const layer = Logger.layer([Logger.make((options) => void lines.push({ level: options.logLevel, message: options.message }))])
  return { lines, layer }
}

const run = <A>(effect: Effect.Effect<A>) => Effect.runPromise(effect)

describe("RequestServer", () => {
  it("serves a valid request and counts it", async () => {
    const { server, calls } = serverWith()
    const invoke = request({ text: "hi" })
    const reply = await run(server.serve(invoke))
    expect(reply).toEqual({ _tag: "Result", id: invoke.id, output: { echo: "hi", version: "1.0.0" } })
    expect(calls.count).toBe(1)
    expect(server.inFlight()).toBe(0)
    expect(server.completed()).toBe(1)
  })

  describe("INVALID_INPUT", () => {
    it.each([
      ["a wrong type", { text: 3 }],
      ["a missing field", {}],
      ["no object at all", "hello"],
      ["null", null],
    ])("refuses %s with the schema's own message before the handler runs", async (_, input) => {
      const { server, calls } = serverWith()
      const invoke = request(input)
      const reply = await run(server.serve(invoke))
      const failure = expectFailure(reply, "INVALID_INPUT")
      const expected = Schema.decodeUnknownResult(EchoInput)(input)
      if (!Result.isFailure(expected)) throw new Error("the input was meant to be invalid")
      expect(failure.message).toBe(expected.failure.message)
      expect(failure.id).toBe(invoke.id)
      expect(failure.retriable).toBe(false)
      expect(calls.count).toBe(0)
      expect(server.inFlight()).toBe(0)
      expect(server.completed()).toBe(0)
    })

    it("names the offending path", async () => {
      const { server } = serverWith()
      const failure = expectFailure(await run(server.serve(request({ text: 3 }))), "INVALID_INPUT")
      expect(failure.message).toContain("Expected string")
      expect(failure.message).toContain('["text"]')
    })
  })

  describe("handler defects", () => {
    const defects: ReadonlyArray<[string, (text: string) => unknown]> = [
      [
        "a throw",
        () => {
          throw new Error("boom: thrown")
        },
      ],
      ["Effect.die", () => Effect.die(new Error("boom: died"))],
      ["a rejected Promise", () => Promise.reject(new Error("boom: rejected"))],
      [
        "a Promise that throws later",
        () =>
          Promise.resolve().then(() => {
            throw new Error("boom: async throw")
          }),
      ],
    ]

    it.each(defects)("%s is INTERNAL, logged, and the next request succeeds", async (_, fault) => {
      const { server, calls } = serverWith((text) => (text === "fault" ? fault(text) : undefined))
      const logs = captureLogs()
      const [bad, good] = await run(
        Effect.all([server.serve(request({ text: "fault" })), server.serve(request({ text: "after" }))]).pipe(Effect.provide(logs.layer)),
      )
      const failure = expectFailure(bad!, "INTERNAL")
      expect(failure.message).toContain("boom")
      expect(failure.retriable).toBe(false)
      expectResult(good!, { echo: "after", version: "1.0.0" })
      expect(calls.count).toBe(2)
      expect(server.inFlight()).toBe(0)
      expect(server.completed()).toBe(2)
      expect(logs.lines.some((line) => line.level === "Error")).toBe(true)
    })
  })

  describe("errors a handler raises", () => {
    // Every way a handler can fail with a CrankError: the rule in RequestServer.ts treats them all alike.
    const raisers = (code: string, message: string): ReadonlyArray<[string, (context: HandlerContext<string>) => unknown]> => [
      ["Effect.fail", (context) => Effect.fail(context.error(code, message))],
      [
        "yield* in Effect.gen",
        (context) =>
          Effect.gen(function* () {
            return yield* context.error(code, message)
          }),
      ],
      [
        "a throw",
        (context) => {
          throw context.error(code, message)
        },
      ],
      ["a rejected Promise", (context) => Promise.reject(context.error(code, message))],
      [
        "a throw in an async handler",
        async (context) => {
          await Promise.resolve()
          throw context.error(code, message)
        },
      ],
    ]
    const messages = (logs: ReturnType<typeof captureLogs>, level: string) =>
      logs.lines.filter((line) => line.level === level).map((line) => JSON.stringify(line.message))

    it.each(raisers("TOO_LOUD", "please do not shout"))(
      "a declared code raised by %s reaches the caller with its message, retriable as declared, and logs nothing",
      async (_, raise) => {
        const { server } = serverWith((text, context) => (text === "LOUD" ? raise(context) : undefined))
        const logs = captureLogs()
        const invoke = request({ text: "LOUD" })
        const reply = await run(server.serve(invoke).pipe(Effect.provide(logs.layer)))
        expect(reply).toEqual({ _tag: "Failure", id: invoke.id, code: "TOO_LOUD", message: "please do not shout", retriable: true })
        expect(logs.lines).toEqual([])
        expectResult(await run(server.serve(request({ text: "quiet" }))), { echo: "quiet", version: "1.0.0" })
      },
    )

    it.each(raisers("TOO_QUIET", "speak up"))(
      "an undeclared code raised by %s reaches the caller as INTERNAL and is logged with the capability and the code",
      async (_, raise) => {
        const { server } = serverWith((text, context) => (text === "quiet" ? raise(context) : undefined))
        const logs = captureLogs()
        const failure = expectFailure(await run(server.serve(request({ text: "quiet" })).pipe(Effect.provide(logs.layer))), "INTERNAL")
        expect(failure.retriable).toBe(false)
        expect(failure.message).toContain("demo.echo@1.0.0")
        expect(failure.message).toContain("TOO_QUIET")
        expect(failure.message).toContain("speak up")
        const warnings = messages(logs, "Warn")
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toContain("demo.echo@1.0.0")
        expect(warnings[0]).toContain("TOO_QUIET")
        expect(server.inFlight()).toBe(0)
        expectResult(await run(server.serve(request({ text: "after" }))), { echo: "after", version: "1.0.0" })
      },
    )

    it.each(raisers("INVALID_INPUT", "the end date is before the start date"))(
      "INVALID_INPUT raised by %s passes through, not retriable: input the schema could not express",
      async (_, raise) => {
        const { server, calls } = serverWith((text, context) => (text === "backwards" ? raise(context) : undefined))
        const logs = captureLogs()
        const invoke = request({ text: "backwards" })
        const reply = await run(server.serve(invoke).pipe(Effect.provide(logs.layer)))
        expect(reply).toEqual({ _tag: "Failure", id: invoke.id, code: "INVALID_INPUT", message: "the end date is before the start date", retriable: false })
        expect(calls.count).toBe(1)
        expect(logs.lines).toEqual([])
      },
    )

    it("takes retriable from the declared spec, whatever the raised error says", async () => {
      const { server } = serverWith(() => Effect.fail(new CrankError({ code: "TOO_LOUD", message: "shh", retriable: false })))
      expect(expectFailure(await run(server.serve(request({ text: "LOUD" }))), "TOO_LOUD").retriable).toBe(true)
      const Strict = defineCapability({
        id: "demo.strict",
        version: "1.0.0",
        input: EchoInput,
        output: EchoOutput,
        errors: [{ code: "REFUSED", description: "never works", retriable: false }],
      })
      const strict = implement(Strict, (_, context) => Effect.fail(context.error("REFUSED", "no")))
      const { server: other } = serverWith(undefined, { extra: [strict] })
      const reply = await run(other.serve(request({ text: "x" }, { capability: "demo.strict" })))
      expect(reply).toMatchObject({ _tag: "Failure", code: "REFUSED", message: "no", retriable: false })
    })

    it.each(["DRAINING", "OVERLOADED", "NO_WORKER", "UNAVAILABLE"])(
      "a handler raising the runtime's %s gets INTERNAL, so no caller retries a handler that ran",
      async (code) => {
        const { server } = serverWith(() => Effect.fail(new CrankError({ code, message: "not really", retriable: true })))
        const logs = captureLogs()
        const failure = expectFailure(await run(server.serve(request({ text: "x" })).pipe(Effect.provide(logs.layer))), "INTERNAL")
        expect(failure.retriable).toBe(false)
        expect(failure.message).toContain("only the runtime may use")
        expect(messages(logs, "Warn").join()).toContain(code)
      },
    )

    it("a handler failing with TIMEOUT itself is INTERNAL; only the runtime's deadline answers TIMEOUT", async () => {
      const { server } = serverWith(() => Effect.fail(new CrankError({ code: "TIMEOUT", message: "upstream timed out", retriable: false })))
      const failure = expectFailure(await run(server.serve(request({ text: "x" })).pipe(Effect.provide(captureLogs().layer))), "INTERNAL")
      expect(failure.message).toContain("upstream timed out")
    })
  })

  it("INVALID_OUTPUT when the handler's output fails the output schema", async () => {
    const { server, calls } = serverWith((text) => (text === "bad" ? { echo: 42, version: "1.0.0" } : undefined))
    const failure = expectFailure(await run(server.serve(request({ text: "bad" }))), "INVALID_OUTPUT")
    expect(failure.message).toContain("demo.echo")
    expect(failure.message).toContain("Expected string")
    expect(calls.count).toBe(1)
    expect(server.inFlight()).toBe(0)
  })

  it("NO_WORKER for a capability or range it does not serve, naming what it serves instead", async () => {
    const v12 = implement(echoAt("1.2.0"), ({ text }) => ({ echo: text, version: "1.2.0" }))
    const { server, calls } = serverWith(undefined, { extra: [v12] })
    const other = expectFailure(await run(server.serve(request({ text: "x" }, { capability: "demo.other" }))), "NO_WORKER")
    expect(other.message).toBe("worker w-test does not serve demo.other@^1; it serves demo.echo")
    const typo = expectFailure(await run(server.serve(request({ text: "x" }, { capability: "demo.echoo" }))), "NO_WORKER")
    expect(typo.message).toBe("worker w-test does not serve demo.echoo@^1; did you mean demo.echo?")
    const range = expectFailure(await run(server.serve(request({ text: "x" }, { range: "^2" }))), "NO_WORKER")
    expect(range.message).toBe("worker w-test does not serve demo.echo@^2; it serves demo.echo 1.2.0, 1.0.0")
    expect(calls.count).toBe(0)
  })

  it("picks the highest implemented version in range", async () => {
    const v12 = implement(echoAt("1.2.0"), ({ text }) => ({ echo: text, version: "1.2.0" }))
    const v2 = implement(echoAt("2.0.0"), ({ text }) => ({ echo: text, version: "2.0.0" }))
    const { server } = serverWith(undefined, { extra: [v2, v12] })
    expectResult(await run(server.serve(request({ text: "a" }, { range: "^1" }))), { echo: "a", version: "1.2.0" })
    expectResult(await run(server.serve(request({ text: "a" }, { range: "1.0.0" }))), { echo: "a", version: "1.0.0" })
    expectResult(await run(server.serve(request({ text: "a" }, { range: "*" }))), { echo: "a", version: "2.0.0" })
  })

  it("OVERLOADED past maxInFlight, without running the handler; accepts again once work finishes", async () => {
    const gate = Latch.makeUnsafe()
    const { server, calls } = serverWith((text) => (text === "slow" ? gate.await.pipe(Effect.as({ echo: text, version: "1.0.0" })) : undefined), {
      maxInFlight: 2,
    })
    await run(
      Effect.gen(function* () {
        const slow = yield* Effect.forkChild(
          Effect.all([server.serve(request({ text: "slow" })), server.serve(request({ text: "slow" }))], { concurrency: "unbounded" }),
        )
        yield* settled("two requests in flight", () => server.inFlight() === 2)
        const refused = yield* server.serve(request({ text: "third" }))
        const failure = expectFailure(refused, "OVERLOADED")
        expect(failure.retriable).toBe(true)
        expect(failure.message).toContain("limit 2")
        expect(calls.count).toBe(2)
        yield* gate.open
        const replies = yield* Fiber.join(slow)
        for (const reply of replies) expectResult(reply, { echo: "slow", version: "1.0.0" })
        expect(server.inFlight()).toBe(0)
        expectResult(yield* server.serve(request({ text: "fourth" })), { echo: "fourth", version: "1.0.0" })
        expect(calls.count).toBe(3)
      }),
    )
  })

  it("DRAINING after stopAccepting, while in-flight work finishes and idle completes after it", async () => {
    const gate = Latch.makeUnsafe()
    const { server, calls } = serverWith((text) => (text === "slow" ? gate.await.pipe(Effect.as({ echo: text, version: "1.0.0" })) : undefined))
    await run(
      Effect.gen(function* () {
        const slow = yield* Effect.forkChild(server.serve(request({ text: "slow" })))
        yield* settled("one request in flight", () => server.inFlight() === 1)
        const idle = yield* Effect.forkChild(server.idle, { startImmediately: true })
        server.stopAccepting()
        const failure = expectFailure(yield* server.serve(request({ text: "late" })), "DRAINING")
        expect(failure.retriable).toBe(true)
        expect(calls.count).toBe(1)
        yield* Effect.yieldNow
        expect(idle.pollUnsafe()).toBeUndefined()
        yield* gate.open
        expectResult(yield* Fiber.join(slow), { echo: "slow", version: "1.0.0" })
        yield* Fiber.join(idle)
        expect(server.inFlight()).toBe(0)
        // Still refusing afterwards: draining is one-way.
        expectFailure(yield* server.serve(request({ text: "later" })), "DRAINING")
      }),
    )
  })

  it("idle completes at once when nothing is in flight", async () => {
    const { server } = serverWith()
    expect(Effect.runSync(Effect.exit(server.idle))._tag).toBe("Success")
  })

  describe("deadlines (virtual time)", () => {
    it("TIMEOUT when an Effect handler exceeds invoke.timeoutMs, and not a moment before", () =>
      Effect.runPromise(
        Effect.gen(function* () {
          const { server } = serverWith((text) => (text === "never" ? Effect.never : undefined))
          const fiber = yield* Effect.forkChild(server.serve(request({ text: "never" }, { timeoutMs: 5_000 })), { startImmediately: true })
          yield* TestClock.adjust(4_999)
          expect(fiber.pollUnsafe()).toBeUndefined()
          expect(server.inFlight()).toBe(1)
          yield* TestClock.adjust(1)
          yield* settled("answered at the deadline", () => fiber.pollUnsafe() !== undefined)
          const failure = expectFailure(yield* Fiber.join(fiber), "TIMEOUT")
          expect(failure.message).toContain("5000 ms")
          expect(server.inFlight()).toBe(0)
          // The worker keeps serving.
          expectResult(yield* server.serve(request({ text: "next" })), { echo: "next", version: "1.0.0" })
        }).pipe(Effect.provide(TestClock.layer())),
      ))

    it("a Promise handler gets an aborted signal when its deadline passes", () =>
      Effect.runPromise(
        Effect.gen(function* () {
          let signal: AbortSignal | undefined
          const { server } = serverWith((text, context) => {
            if (text !== "hang") return undefined
            signal = context.signal
            // A well-behaved Promise handler: it stops when its signal is aborted.
            return new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason)))
          })
          const fiber = yield* Effect.forkChild(server.serve(request({ text: "hang" }, { timeoutMs: 250 })), { startImmediately: true })
          yield* settled("the handler ran", () => signal !== undefined)
          expect(signal!.aborted).toBe(false)
          yield* TestClock.adjust(250)
          yield* settled("answered at the deadline", () => fiber.pollUnsafe() !== undefined)
          expectFailure(yield* Fiber.join(fiber), "TIMEOUT")
          expect(signal!.aborted).toBe(true)
          // Its slot is free once the Promise has settled, not before.
          yield* settled("the handler's Promise settled", () => server.inFlight() === 0)
        }).pipe(Effect.provide(TestClock.layer())),
      ))

    it("a Promise handler that ignores its signal keeps its slot until it really finishes: maxInFlight counts running bodies", () =>
      Effect.runPromise(
        Effect.gen(function* () {
          let finish: (() => void) | undefined
          let started = 0
          const { server, calls } = serverWith(
            (text) => {
              if (text !== "stubborn") return undefined
              started++
              return new Promise((resolve) => (finish = () => resolve({ echo: text, version: "1.0.0" })))
            },
            { maxInFlight: 1 },
          )
          const fiber = yield* Effect.forkChild(server.serve(request({ text: "stubborn" }, { timeoutMs: 250 })), { startImmediately: true })
          yield* settled("the handler ran", () => started === 1)
          yield* TestClock.adjust(250)
          yield* settled("answered at the deadline", () => fiber.pollUnsafe() !== undefined)
          expectFailure(yield* Fiber.join(fiber), "TIMEOUT")
          // The body is still running: its slot is still taken, so a second request is refused, not started.
          expect(server.inFlight()).toBe(1)
          expectFailure(yield* server.serve(request({ text: "stubborn" })), "OVERLOADED")
          expect(started).toBe(1)
          finish!()
          yield* settled("the body finished", () => server.inFlight() === 0)
          expect(server.completed()).toBe(1)
          expectResult(yield* server.serve(request({ text: "after" })), { echo: "after", version: "1.0.0" })
          expect(calls.count).toBe(2)
        }).pipe(Effect.provide(TestClock.layer())),
      ))

    it("a handler that answers within its deadline is not aborted", () =>
      Effect.runPromise(
        Effect.gen(function* () {
          let signal: AbortSignal | undefined
          const { server } = serverWith((text, context) => {
            signal = context.signal
            return Effect.sleep(100).pipe(Effect.as({ echo: text, version: "1.0.0" }))
          })
          const fiber = yield* Effect.forkChild(server.serve(request({ text: "ok" }, { timeoutMs: 250 })), { startImmediately: true })
          yield* TestClock.adjust(100)
          yield* settled("answered", () => fiber.pollUnsafe() !== undefined)
          expectResult(yield* Fiber.join(fiber), { echo: "ok", version: "1.0.0" })
          yield* TestClock.adjust(1_000)
          expect(signal!.aborted).toBe(false)
        }).pipe(Effect.provide(TestClock.layer())),
      ))
  })

  describe("cancellation", () => {
    it("interrupting the caller interrupts the handler and aborts a Promise handler's signal", async () => {
      let signal: AbortSignal | undefined
      const { server } = serverWith((_text, context) => {
        signal = context.signal
        return new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason)))
      })
      await run(
        Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(server.serve(request({ text: "x" })), { startImmediately: true })
          yield* settled("the handler ran", () => signal !== undefined)
          yield* Fiber.interrupt(fiber)
          expect(signal!.aborted).toBe(true)
          yield* settled("the handler's Promise settled", () => server.inFlight() === 0)
          expect(Exit.hasInterrupts(yield* Fiber.await(fiber))).toBe(true)
        }),
      )
    })

    it("a request interrupted before it starts leaves nothing in flight", async () => {
      const { server, calls } = serverWith()
      await run(
        Effect.gen(function* () {
          // forkChild starts lazily: interrupted before its first step, the request never runs.
          const fiber = yield* Effect.forkChild(server.serve(request({ text: "x" })))
          yield* Fiber.interrupt(fiber)
        }),
      )
      expect(calls.count).toBe(0)
      expect(server.inFlight()).toBe(0)
      expect(Effect.runSync(Effect.exit(server.idle))._tag).toBe("Success")
    })
  })

  it("is a description: building the request effect does nothing, and each run is checked and counted", async () => {
    const { server, calls } = serverWith()
    const once = server.serve(request({ text: "x" }))
    expect(server.inFlight()).toBe(0)
    await run(once)
    await run(once)
    expect(calls.count).toBe(2)
    expect(server.inFlight()).toBe(0)
    expect(server.completed()).toBe(2)
    const built = server.serve(request({ text: "y" }))
    server.stopAccepting()
    expectFailure(await run(built), "DRAINING")
    expect(calls.count).toBe(2)
  })
})
