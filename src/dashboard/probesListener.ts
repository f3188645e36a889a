/**
 * The controller's probes and metrics on an address of their own (`crank controller --probes-listen HOST:PORT`):
 * plain HTTP serving `/healthz`, `/readyz` and `/metrics` only, for a kubelet or a Prometheus that should not reach
 * the controller's mesh port, or that cannot speak its mutual TLS. Everything else is `404` here: the dashboard
 * and `/api/*` stay on the controller's own port, behind its access control.
 *
 * @example
 * ```ts
 * const url = yield* listenProbes("127.0.0.1:9090", () => surfaceHandle) // "http://127.0.0.1:9090"
 * ```
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { HttpHandler } from "../../transports/Transport.ts"
import { sendError, urlOf } from "../http/respond.ts"

export const probePaths: ReadonlyArray<string> = ["/healthz", "/readyz", "/metrics"]

/** `HOST:PORT` (`127.0.0.1:9090`, `[::1]:9090`, `0.0.0.0:9090`) as a host and port, or `undefined`. */
export const parseHostPort = (text: string): { readonly host: string; readonly port: number } | undefined => {
  try {
    const url = new URL(`http://${text}`)
    if (url.port === "" || url.pathname !== "/" || url.username !== "") return undefined
    return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) }
  } catch {
    return undefined
  }
}

/**
 * Listens on `host:port` until the scope closes, answering the probe paths with what `handle()` gives (the
 * controller's HTTP surface; `503` while there is none); its URL, with the port bound.
 */
export const listenProbes = (host: string, port: number, handle: () => HttpHandler | undefined): Effect.Effect<string, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<http.Server, Error>((resume) => {
      const server = http.createServer((request, response) => {
        const path = urlOf(request).pathname
        if (!probePaths.includes(path)) {
          return sendError(request, response, 404, "NOT_FOUND", `only ${probePaths.join(", ")} here; the dashboard is on the controller's own port`)
        }
        const surface = handle()
        if (surface === undefined) return sendError(request, response, 503, "UNAVAILABLE", "the controller is not running")
        surface(request, response)
      })
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen({ host, port }, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      }),
  ).pipe(
    Effect.map((server) => {
      const bound = server.address() as AddressInfo
      return `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`
    }),
  )
