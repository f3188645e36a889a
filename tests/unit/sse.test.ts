/**
 * Our use of effect's `effect/encoding/Sse`: the frames the controller writes, read back however the bytes are
 * split, and the bound on what a stream that never ends a line can make a reader hold.
 */
import * as Sse from "effect/encoding/Sse"
import { describe, expect, it } from "vitest"
import { commentFrame, eventFrame, eventStreamParser, maxEventChars, retryFrame, type ServerSentEvent } from "../../src/http/sse.ts"

const parseAll = (chunks: Iterable<string>, options: { readonly maxEventSize?: number } = {}): Array<ServerSentEvent> => {
  const events: Array<ServerSentEvent> = []
  const feed = eventStreamParser((e) => events.push(e), options)
  for (const chunk of chunks) expect(feed(chunk)).toBeUndefined()
  return events
}

/** Every way of cutting `text` into three pieces, so a cut lands inside each field, line ending and CRLF. */
function* splitsOf(text: string): Generator<Array<string>> {
  for (let i = 0; i <= text.length; i++) for (let j = i; j <= text.length; j += 7) yield [text.slice(0, i), text.slice(i, j), text.slice(j)]
}

describe("event stream", () => {
  const wire =
    retryFrame(1000) +
    eventFrame("snapshot", { workers: ["a\nb"] }) +
    commentFrame("keep\nalive") +
    eventFrame(undefined, { type: "@xstate.event" }) +
    eventFrame("transition", { from: "healthy", to: "stale" })

  it("writes the frames the format expects", () => {
    expect(retryFrame(1000)).toBe("retry: 1000\n\n")
    expect(eventFrame("transition", { a: 1 })).toBe('event: transition\ndata: {"a":1}\n\n')
    expect(eventFrame(undefined, "x")).toBe('data: "x"\n\n')
    expect(commentFrame("keep\nalive")).toBe(": keep alive\n\n")
  })

  it("round-trips events; comments and retry lines are not events", () => {
    const events = parseAll([wire])
    expect(events.map((e) => e.event)).toEqual(["snapshot", "message", "transition"])
    expect(JSON.parse(events[0]!.data)).toEqual({ workers: ["a\nb"] })
    expect(JSON.parse(events[2]!.data)).toEqual({ from: "healthy", to: "stale" })
  })

  it("parses the same events however the chunks are split, with LF, CRLF or CR line endings", () => {
    const whole = parseAll([wire])
    expect(parseAll(wire)).toEqual(whole)
    for (const ending of ["\r\n", "\r"]) {
      const other = wire.replace(/\n/g, ending)
      expect(parseAll(other)).toEqual(whole)
      for (const chunks of splitsOf(other)) expect(parseAll(chunks)).toEqual(whole)
    }
    for (const chunks of splitsOf(wire)) expect(parseAll(chunks)).toEqual(whole)
  })

  it("joins multi-line data and keeps the last id", () => {
    expect(parseAll(["id: 7\ndata: one\ndata: two\n\n", "data:three\n\n"]).map(({ event, data, id }) => ({ event, data, id }))).toEqual([
      { event: "message", data: "one\ntwo", id: "7" },
      { event: "message", data: "three", id: "7" },
    ])
  })

  it("hands a retry directive to effect's parser as Retry, not as an event", () => {
    const seen: Array<Sse.AnyEvent> = []
    Sse.makeParser((e) => seen.push(e)).feed(retryFrame(2500))
    expect(seen).toHaveLength(1)
    expect(Sse.Retry.is(seen[0])).toBe(true)
  })

  it("bounds what a stream with no line break can make it hold: an error, then it starts afresh", () => {
    expect(maxEventChars).toBe(10 * 1024 * 1024)
    const events: Array<ServerSentEvent> = []
    const feed = eventStreamParser((e) => events.push(e), { maxEventSize: 1_000 })
    const chunk = "data: " + "x".repeat(94)
    const results = Array.from({ length: 10 }, () => feed(chunk))
    expect(results.slice(0, 9).every((r) => r === undefined)).toBe(true)
    expect(results[9]).toBeUndefined() // exactly 1,000 pending: at the bound, not past it
    const error = feed("x")
    expect(error?._tag).toBe("SseError")
    expect(error?.reason._tag).toBe("EventTooLarge")
    // What it held was dropped: the next event parses from a clean state.
    expect(feed('\n\nevent: transition\ndata: {"ok":true}\n\n')).toBeUndefined()
    expect(events.map((e) => e.event)).toEqual(["transition"])
  })

  it("counts data already gathered for the pending event against the bound", () => {
    const feed = eventStreamParser(() => {}, { maxEventSize: 100 })
    for (let i = 0; i < 5; i++) expect(feed(`data: ${"y".repeat(10)}\n`)).toBeUndefined()
    expect(feed(`data: ${"y".repeat(60)}\n`)?.reason._tag).toBe("EventTooLarge")
  })
})
