/**
 * Small helpers for answering plain HTTP on a transport's port: JSON, text, and the refusals every endpoint
 * shares. Only `GET` and `HEAD` are served (everything here is read-only); `HEAD` gets the headers alone.
 */
import type * as http from "node:http"

/** Headers on every answer: no MIME sniffing, no caching of live data. */
const common: http.OutgoingHttpHeaders = { "x-content-type-options": "nosniff", "cache-control": "no-store" }

export const send = (
  request: http.IncomingMessage,
  response: http.ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: http.OutgoingHttpHeaders = {},
): void => {
  response.writeHead(status, { ...common, "content-type": contentType, "content-length": Buffer.byteLength(body), ...headers })
  response.end(request.method === "HEAD" ? undefined : body)
}

export const sendJson = (request: http.IncomingMessage, response: http.ServerResponse, status: number, value: unknown): void =>
  send(request, response, status, "application/json; charset=utf-8", `${JSON.stringify(value)}\n`)

/** A failure with a typed code, in the shape `crank` prints them: `{ "error": "UNAVAILABLE", "message": "..." }`. */
export const sendError = (request: http.IncomingMessage, response: http.ServerResponse, status: number, code: string, message: string): void =>
  sendJson(request, response, status, { error: code, message })

/** Refuses anything but GET and HEAD; true when the request was answered. */
export const refuseMethod = (request: http.IncomingMessage, response: http.ServerResponse): boolean => {
  if (request.method === "GET" || request.method === "HEAD") return false
  response.writeHead(405, { ...common, allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" })
  response.end("method not allowed: this endpoint is read-only\n")
  return true
}

/** The path and query of a request, parsed against a dummy origin (only the path matters). */
export const urlOf = (request: http.IncomingMessage): URL => new URL(request.url ?? "/", "http://localhost")
