/** `crank watch`: print worker lifecycle transitions as they happen. Its usage text lives in the command table (../commands.ts). */
import * as http from "node:http"
import * as https from "node:https"
import * as Effect from "effect/Effect"
import { type CrankError, crankError, messageOf } from "../../../capabilities/CrankError.ts"
import { clientTlsOptions } from "../../../trust/tlsOptions.ts"
import type { TransitionEvent } from "../../dashboard/snapshot.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import { eventStreamParser, type ServerSentEvent } from "../../http/sse.ts"
import type { CommandRun } from "../Command.ts"
import { accessFlagsOf, accessOptions, meshAccess, processId } from "../meshAccess.ts"
import { parse, pickNumber, UsageError } from "../options.ts"
import { printLine } from "../output.ts"

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** `12:00:01.234`, local time: when it happened on the controller. */
const clockOf = (ms: number): string => {
  const d = new Date(ms)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** Node reports a refused dual-stack connect as an AggregateError with an empty message: fall back to its code. */
const reasonOf = (error: Error): string => error.message || (error as NodeJS.ErrnoException).code || String(error)

/** The `message` of a JSON error body (`{ "error": "UNAUTHORIZED", "message": "..." }`), if it is one. */
const messageIn = (body: string): string | undefined => {
  try {
    const parsed = JSON.parse(body) as { message?: unknown }
    return typeof parsed.message === "string" ? parsed.message : undefined
  } catch {
    return undefined
  }
}

export const formatTransition = (t: Pick<TransitionEvent, "at" | "workerId" | "from" | "to" | "event">): string =>
  `${clockOf(t.at)} ${t.workerId} ${t.from} → ${t.to} (${t.event})`

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, { ...accessOptions, json: { type: "boolean" }, timeout: { type: "string" } })
    if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(" ")}`)
    // Over wss:// the events are an operator's to read: the stream is opened with this command's certificate.
    const access = yield* meshAccess(accessFlagsOf(values), { hint: "client", id: processId("cli-"), local: "operator" })
    const controller = access.controller
    const credentials = access.cell?.current()
    const url = httpUrlOf(controller, "/api/events")
    if (url === undefined) throw new UsageError(`--controller must be a ws://, wss://, http:// or https:// URL, got "${controller}"`)
    const timeoutMs = pickNumber(values.timeout, "timeout", 10_000)!
    const json = values.json === true

    const onEvent = (event: ServerSentEvent): void => {
      if (event.event === "snapshot") {
        const snapshot = JSON.parse(event.data) as { kind: string; workers: ReadonlyArray<unknown> }
        if (snapshot.kind === "full") process.stderr.write(`watching ${controller}: ${snapshot.workers.length} workers; Ctrl-C to stop\n`)
        return
      }
      if (event.event !== "transition") return
      const { worker: _entry, ...transition } = JSON.parse(event.data) as TransitionEvent
      printLine(json ? JSON.stringify(transition) : formatTransition(transition))
    }

    return yield* Effect.callback<never, CrankError>((resume) => {
      const unavailable = (message: string) => resume(Effect.fail(crankError("UNAVAILABLE", message)))
      const get = url.startsWith("https:") ? https.get : http.get
      const tls = credentials === undefined ? {} : clientTlsOptions(credentials, { role: "controller" })
      const request = get(url, { ...tls, headers: { accept: "text/event-stream" }, timeout: timeoutMs }, (response) => {
        if (response.statusCode === 401 || response.statusCode === 403) {
          let body = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => void (body = (body + chunk).slice(0, 2_000)))
          response.on("end", () => {
            resume(
              Effect.fail(
                crankError(response.statusCode === 403 ? "FORBIDDEN" : "UNAUTHORIZED", messageIn(body) ?? `${url} answered HTTP ${response.statusCode}`),
              ),
            )
          })
          return
        }
        if (response.statusCode !== 200) {
          response.resume()
          return unavailable(`${url} answered HTTP ${response.statusCode} instead of an event stream`)
        }
        const feed = eventStreamParser(onEvent)
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          let failure: string | undefined
          try {
            const tooLarge = feed(chunk)
            if (tooLarge !== undefined) failure = `the controller sent more than it may in one event: ${tooLarge.message}`
          } catch (error) {
            failure = `the controller sent an event that is not JSON: ${messageOf(error)}`
          }
          if (failure === undefined) return
          request.destroy()
          unavailable(failure)
        })
        response.on("end", () => unavailable(`the controller at ${controller} ended the event stream`))
        response.on("error", (error) => unavailable(`the event stream from ${controller} broke: ${reasonOf(error)}`))
      })
      request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)))
      request.on("error", (error) => unavailable(`cannot reach the controller at ${url}: ${reasonOf(error)}`))
      // Ctrl-C interrupts the command: close the stream.
      return Effect.sync(() => request.destroy())
    })
  })
