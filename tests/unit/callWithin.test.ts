/**
 * Deadline arithmetic on the caller's side, in virtual time.
 */
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { callAfter, remainingOf, timedOut } from "../../actors/callWithin.ts"
import { crankError } from "../../capabilities/CrankError.ts"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import type { Connection } from "../../transports/Transport.ts"

const invoke: Invoke = { _tag: "Invoke", id: "r1", capability: "x.y", range: "^1", input: { a: 1 }, timeoutMs: 1_000 }

/** A connection that answers at once in process and records the budgets it was sent. */
const echoConnection = (budgets: Array<number>): Connection => ({
  id: "fake",
  remoteAddress: "memory://fake",
  inProcess: true,
  send: () => Effect.void,
  call: (i): Effect.Effect<Reply> => Effect.sync(() => (budgets.push(i.timeoutMs), { _tag: "Result", id: i.id, output: null })),
  stream: () => Stream.empty,
  close: () => Effect.void,
  isOpen: () => true,
})

const inVirtualTime = <A>(body: Effect.Effect<A>) => Effect.runPromise(body.pipe(Effect.provide(TestClock.layer())))

describe("remainingOf", () => {
  it("returns the same request when no time has passed, and what is left otherwise", () => {
    expect(remainingOf(invoke, 100, 100)).toBe(invoke)
    expect(remainingOf(invoke, 100, 400)).toEqual({ ...invoke, timeoutMs: 700 })
  })

  it("returns undefined once the whole budget is spent", () => {
    expect(remainingOf(invoke, 100, 1_100)).toBeUndefined()
    expect(remainingOf(invoke, 100, 5_000)).toBeUndefined()
  })
})

describe("timedOut", () => {
  it("is a TIMEOUT failure for the request, saying what was going on", () => {
    const reply = timedOut(invoke, 1_000, "while connecting")
    expect(reply).toMatchObject({ _tag: "Failure", id: "r1", code: "TIMEOUT", retriable: false })
    expect(reply.message).toBe("x.y@^1 did not answer within 1000 ms (while connecting)")
  })
})

describe("callAfter", () => {
  it("sends what is left of the budget once the connection comes", () =>
    inVirtualTime(
      Effect.gen(function* () {
        const budgets: Array<number> = []
        const fiber = yield* Effect.forkChild(
          callAfter(Effect.as(Effect.sleep(400), echoConnection(budgets)), invoke, () => Effect.die("no")),
          { startImmediately: true },
        )
        yield* TestClock.adjust(400)
        expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "Result", id: "r1" })
        expect(budgets).toEqual([600])
      }),
    ))

  it("answers TIMEOUT when the connection does not come within the budget", () =>
    inVirtualTime(
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(
          callAfter(Effect.never, invoke, () => Effect.die("no")),
          { startImmediately: true },
        )
        yield* TestClock.adjust(1_000)
        expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "Failure", id: "r1", code: "TIMEOUT" })
      }),
    ))

  it("hands a failed connection to orElse with what is left of the budget", () =>
    inVirtualTime(
      Effect.gen(function* () {
        const seen: Array<[string, number]> = []
        const connecting = Effect.andThen(Effect.sleep(250), Effect.fail(crankError("UNAVAILABLE", "refused")))
        const fiber = yield* Effect.forkChild(
          callAfter(connecting, invoke, (error, rest) =>
            Effect.sync((): Reply => (seen.push([error.code, rest.timeoutMs]), { _tag: "Result", id: rest.id, output: "else" })),
          ),
          { startImmediately: true },
        )
        yield* TestClock.adjust(250)
        expect(yield* Fiber.join(fiber)).toMatchObject({ output: "else" })
        expect(seen).toEqual([["UNAVAILABLE", 750]])
      }),
    ))
})
