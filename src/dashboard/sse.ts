/**
 * Server-sent events (the `text/event-stream` format of the HTML standard), both ways: frames for the
 * controller's `/api/events` and `/api/inspect`, and a parser for `crank watch` and the tests.
 *
 * Why SSE rather than a second WebSocket: it is plain HTTP on the controller's port, browsers reconnect by
 * themselves (`retry:`), and `curl -N` can read it. Traffic only flows one way, from the controller.
 */
import type * as http from "node:http"

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
  `${event === undefined ? "" : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`

/** How long a browser waits before reconnecting a dropped stream. */
export const retryFrame = (ms: number): string => `retry: ${ms}\n\n`

/** A comment line: ignored by clients, keeps idle proxies from closing the stream. */
export const commentFrame = (text: string): string => `: ${text.replace(/[\r\n]/g, " ")}\n\n`

export interface ServerSentEvent {
  /** The `event:` field; `message` when the server gave none. */
  readonly event: string
  readonly data: string
  readonly id: string | undefined
}

/**
 * An incremental parser: feed it chunks as they arrive (split anywhere, even inside a line); it calls `onEvent`
 * for each complete event. Follows the standard's rules for `data` (joined with newlines), comments, `id` and
 * the three line endings.
 *
 * @example
 * ```ts
 * const parser = eventStreamParser((e) => console.log(e.event, JSON.parse(e.data)))
 * response.setEncoding("utf8").on("data", parser)
 * ```
 */
export const eventStreamParser = (onEvent: (event: ServerSentEvent) => void): ((chunk: string) => void) => {
  let buffer = ""
  let event = ""
  let data: Array<string> = []
  let id: string | undefined
  let lastId: string | undefined
  const line = (text: string): void => {
    if (text === "") {
      if (data.length > 0) {
        lastId = id ?? lastId
        onEvent({ event: event === "" ? "message" : event, data: data.join("\n"), id: lastId })
      }
      event = ""
      data = []
      id = undefined
      return
    }
    if (text.startsWith(":")) return
    const colon = text.indexOf(":")
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? "" : text.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    if (field === "event") event = value
    else if (field === "data") data.push(value)
    else if (field === "id") id = value
  }
  return (chunk) => {
    buffer += chunk
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer)
      // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
      if (match === null || (match[0] === "\r" && match.index === buffer.length - 1)) return
      line(buffer.slice(0, match.index))
      buffer = buffer.slice(match.index + match[0].length)
    }
  }
}
