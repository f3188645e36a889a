/** The event-stream format both ways: frames the controller writes, parsed back however the bytes are split. */
import { describe, expect, it } from "vitest"
import { commentFrame, eventFrame, eventStreamParser, retryFrame, type ServerSentEvent } from "../../src/dashboard/sse.ts"

const parseAll = (chunks: ReadonlyArray<string>): Array<ServerSentEvent> => {
  const events: Array<ServerSentEvent> = []
  const push = eventStreamParser((e) => events.push(e))
  for (const chunk of chunks) push(chunk)
  return events
}

describe("event stream", () => {
  const wire =
    retryFrame(1000) +
    eventFrame("snapshot", { workers: ["a\nb"] }) +
    commentFrame("keep\nalive") +
    eventFrame(undefined, { type: "@xstate.event" }) +
    eventFrame("transition", { from: "healthy", to: "stale" })

  it("round-trips events, comments and retry lines", () => {
    const events = parseAll([wire])
    expect(events.map((e) => e.event)).toEqual(["snapshot", "message", "transition"])
    expect(JSON.parse(events[0]!.data)).toEqual({ workers: ["a\nb"] })
    expect(JSON.parse(events[2]!.data)).toEqual({ from: "healthy", to: "stale" })
  })

  it("parses the same events from one-character chunks and CRLF line endings", () => {
    expect(parseAll([...wire])).toEqual(parseAll([wire]))
    expect(parseAll([...wire.replace(/\n/g, "\r\n")])).toEqual(parseAll([wire]))
  })

  it("joins multi-line data and keeps the last id", () => {
    expect(parseAll(["id: 7\ndata: one\ndata: two\n\n", "data:three\n\n"])).toEqual([
      { event: "message", data: "one\ntwo", id: "7" },
      { event: "message", data: "three", id: "7" },
    ])
  })
})
