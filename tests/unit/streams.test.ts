/**
 * The two halves of a streaming request (transports/streams.ts), without a network: what the caller's half grants
 * and when, what it does with a peer that breaks the credit rule, and how the serving half spends credit.
 */
import { Effect, Fiber, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { CrankError } from "../../capabilities/CrankError.ts"
import { Credit, receive, type StreamSink, send } from "../../transports/streams.ts"

/** A wire that records what the caller's half does, and hands the test the sink the connection would feed. */
const fakeWire = () => {
  const events: Array<string> = []
  let sink: StreamSink | undefined
  return {
    events,
    sink: () => sink!,
    wire: {
      open: (s: StreamSink) => {
        sink = s
        events.push("open")
        return undefined
      },
      grant: (credit: number) => void events.push(`grant ${credit}`),
      cancel: () => void events.push("cancel"),
    },
  }
}

describe("receive: the caller's half", () => {
  it("sends nothing until run, then grants half a window back as the consumer takes items", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const { events, sink, wire } = fakeWire()
        const stream = receive(8, wire)
        expect(events).toEqual([])
        const consumer = yield* Effect.forkChild(Stream.runCollect(stream), { startImmediately: true })
        yield* Effect.yieldNow
        expect(events).toEqual(["open"])
        sink().chunk([1, 2, 3, 4, 5, 6, 7, 8])
        yield* Effect.yieldNow
        sink().chunk([9, 10, 11, 12])
        sink().end()
        expect(yield* Fiber.join(consumer)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        // Every 4 items taken (half of 8), 4 more granted, but none once the stream has ended; and no cancel.
        expect(events).toEqual(["open", "grant 4", "grant 4"])
      }),
    ))

  it("fails BAD_FRAME and cancels when the peer sends more than it was granted", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const { events, sink, wire } = fakeWire()
        const consumer = yield* Effect.forkChild(Effect.flip(Stream.runCollect(receive(4, wire))), { startImmediately: true })
        yield* Effect.yieldNow
        sink().chunk([1, 2, 3, 4, 5])
        const error = yield* Fiber.join(consumer)
        expect(error).toMatchObject({ code: "BAD_FRAME", message: "the peer sent more stream items than the 4 granted" })
        expect(events).toEqual(["open", "cancel"])
      }),
    ))

  it("cancels when the consumer stops early, and fails with the peer's typed error", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const early = fakeWire()
        const taking = yield* Effect.forkChild(Stream.runCollect(Stream.take(receive(4, early.wire), 2)), { startImmediately: true })
        yield* Effect.yieldNow
        early.sink().chunk([1, 2, 3])
        expect(yield* Fiber.join(taking)).toEqual([1, 2])
        expect(early.events).toContain("cancel")

        const failing = fakeWire()
        const failed = yield* Effect.forkChild(Effect.flip(Stream.runCollect(receive(4, failing.wire))), { startImmediately: true })
        yield* Effect.yieldNow
        failing.sink().fail(new CrankError({ code: "TEST_FAILED", message: "no", retriable: false }))
        expect((yield* Fiber.join(failed)).code).toBe("TEST_FAILED")
        expect(failing.events).toEqual(["open"])
      }),
    ))
})

describe("send: the serving half", () => {
  it("sends only what was granted, in chunks of what is available, then ends with the count", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const sent: Array<ReadonlyArray<unknown>> = []
        let ended: number | undefined
        const credit = new Credit(3)
        const sender = yield* Effect.forkChild(
          send(Stream.fromIterable([1, 2, 3, 4, 5, 6, 7]), credit, {
            chunk: (items) => void sent.push(items),
            end: (count) => void (ended = count),
            fail: () => {},
          }),
          { startImmediately: true },
        )
        yield* Effect.yieldNow
        expect(sent).toEqual([[1, 2, 3]])
        credit.grant(2)
        yield* Effect.yieldNow
        expect(sent).toEqual([
          [1, 2, 3],
          [4, 5],
        ])
        expect(ended).toBeUndefined()
        credit.grant(10)
        yield* Fiber.join(sender)
        expect(sent).toEqual([
          [1, 2, 3],
          [4, 5],
          [6, 7],
        ])
        expect(ended).toBe(7)
      }),
    ))

  it("fails with the stream's typed error, a defect as INTERNAL, and sends nothing when interrupted", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const failures: Array<string> = []
        const outlet = { chunk: () => {}, end: () => void failures.push("end"), fail: (error: CrankError) => void failures.push(error.code) }
        yield* send(Stream.fail(new CrankError({ code: "DECLARED", message: "d", retriable: false })), new Credit(1), outlet)
        yield* send(Stream.die(new Error("boom")), new Credit(1), outlet)
        const waiting = yield* Effect.forkChild(send(Stream.make(1, 2), new Credit(0), outlet), { startImmediately: true })
        yield* Fiber.interrupt(waiting)
        expect(failures).toEqual(["DECLARED", "INTERNAL"])
      }),
    ))
})
