/**
 * Server-sent events (the `text/event-stream` format of the HTML standard) on our HTTP surfaces: the glue around
 * the pinned effect's `effect/encoding/Sse`, which does the encoding and the parsing. Frames for the
 * controller's `/api/events` and `/api/inspect` go out through its `encoder`; `crank watch` and the tests read
 * streams through its `makeParser`. What is ours: the response headers, comment frames (effect's encoder has
 * none) and the bound on what one event may hold.
 *
 * Why SSE rather than a second WebSocket: it is plain HTTP on the controller's port, browsers reconnect by
 * themselves (`retry:`), and `curl -N` can read it. Traffic only flows one way, from the controller.
 */
import type * as http from "node:http"
import * as Duration from "effect/Duration"
import * as Sse from "effect/encoding/Sse"

/** The response headers of an event stream. `X-Accel-Buffering` stops nginx-style proxies holding events back. */
export const eventStreamHeaders: http.OutgoingHttpHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no",
}

/**
 * One event as wire text. `data` is JSON on one line (JSON.stringify never emits a raw newline), so a single
 * `data:` field carries it; without `event` it arrives in a browser as a plain `message`.
 *
 * @example
 * ```ts
 * eventFrame("transition", { workerId: "w1", from: "healthy", to: "stale" })
 * // 'event: transition\ndata: {"workerId":"w1",...}\n\n'
 * ```
 */
export const eventFrame = (event: string | undefined, data: unknown): string =>
  Sse.encoder.write({ _tag: "Event", event: event ?? "message", id: undefined, data: JSON.stringify(data) })

/** How long a browser waits before reconnecting a dropped stream. */
export const retryFrame = (ms: number): string => Sse.encoder.write(new Sse.Retry({ duration: Duration.millis(ms), lastEventId: undefined }))

/** A comment line: ignored by clients, keeps idle proxies from closing the stream. */
export const commentFrame = (text: string): string => `: ${text.replace(/[\r\n]/g, " ")}\n\n`

/**
 * The most one pending event may hold, in UTF-16 code units (a line not yet ended counts): past it the parser
 * reports `EventTooLarge` and drops what it held, so a stream that never sends a line break cannot make a reader
 * buffer without bound. A full snapshot of a large mesh is a few MiB; effect's default is 10 MiB.
 */
export const maxEventChars = 10 * 1024 * 1024

/**
 * An incremental reader: feed it chunks as they arrive (split anywhere, even inside a line or a CRLF); it calls
 * `onEvent` for each complete event (`retry:` directives and comments are not events). Returns the `SseError`
 * when an event grew past `maxEventSize` (the parser has then dropped it and starts afresh).
 *
 * @example
 * ```ts
 * const feed = eventStreamParser((e) => console.log(e.event, JSON.parse(e.data)))
 * response.setEncoding("utf8").on("data", (chunk) => feed(chunk) && response.destroy())
 * ```
 */
export const eventStreamParser = (
  onEvent: (event: Sse.Event) => void,
  options: { readonly maxEventSize?: number } = {},
): ((chunk: string) => Sse.SseError | undefined) => {
  const parser = Sse.makeParser(
    (parsed) => {
      if (parsed._tag === "Event") onEvent(parsed)
    },
    { maxEventSize: options.maxEventSize ?? maxEventChars },
  )
  return (chunk) => parser.feed(chunk)
}

export type { Event as ServerSentEvent } from "effect/encoding/Sse"
