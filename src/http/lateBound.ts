/**
 * An HTTP handler to give a transport before the thing that answers exists: the transport must be made before
 * the node (which listens through it), and the node before the surface that reads it. Until `set` is called,
 * and after `set(undefined)`, every request is answered 503.
 *
 * @example
 * ```ts
 * const http = lateBound()
 * const node = yield* Node.start({ transport: cliTransport({ httpHandler: http.handle }), ... })
 * http.set(yield* makeControllerHttp(() => node.controller()))
 * ```
 */
import type * as http from "node:http"

export interface HttpSurface {
  readonly handle: (request: http.IncomingMessage, response: http.ServerResponse) => void
}

export interface LateBound extends HttpSurface {
  readonly set: (surface: HttpSurface | undefined) => void
}

export const lateBound = (): LateBound => {
  let current: HttpSurface | undefined
  return {
    handle: (request, response) => {
      if (current !== undefined) return current.handle(request, response)
      response.writeHead(503, { "content-type": "application/json; charset=utf-8", "retry-after": "1" })
      response.end(`${JSON.stringify({ error: "UNAVAILABLE", message: "starting up" })}\n`)
    },
    set: (surface) => {
      current = surface
    },
  }
}
