/**
 * The controller's HTTP surface, served on the same port as its WebSocket listener (through the transport's
 * `http` handler (`Controller.make({ http })`); upgrades never reach it):
 *
 * | path | what |
 * |---|---|
 * | `/` (+ `/styles.css`, `/app.js` and the modules it imports) | the live dashboard (files in `page/`, ES modules, no build step, nothing from a CDN) |
 * | `/api/events` | server-sent events: a full snapshot, then transitions and periodic snapshots (events.ts) |
 * | `/api/inspect` | opt-in (`inspect: true`, `--inspect`): lifecycle changes as Stately inspection events (inspect.ts) |
 * | `/api/status` | the mesh as JSON, the same data as the `crank.status` capability |
 * | `/api/machine.json` | the lifecycle machine's graph (states, transitions), from its xstate definition |
 * | `/api/diagram.svg?current=STATE` | the lifecycle machine drawn, `STATE` lit; `&labels=none` for the compact drawing |
 * | `/metrics` | Prometheus text (metrics.ts) |
 * | `/healthz` | 200 while the process is up |
 * | `/readyz` | 200 while the controller is listening, 503 otherwise |
 *
 * Read-only. Unauthenticated when the controller runs in one process or with `--insecure` (it listens where the
 * controller does, loopback only, and answers only requests naming a loopback host, against DNS rebinding). A secure controller passes `operators` (operatorAccess.ts): then everything but
 * `/healthz`, `/readyz` and `/metrics` needs an operator's credentials (a client certificate, or a session from
 * `POST /api/login` with an operator token), and each refusal is a typed 401/403, counted and logged by the controller.
 *
 * @example
 * ```ts
 * // The controller builds its HTTP surface once it exists, and serves it on its listeners' ports:
 * const node = yield* Node.start({
 *   controller: { addresses: ["ws://127.0.0.1:0"], http: (controller) => Effect.map(makeControllerHttp(() => controller), (s) => s.handle) },
 * })
 * ```
 */
import { readFile } from "node:fs/promises"
import type * as http from "node:http"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type { Controller } from "../../actors/Controller.ts"
import { lifecycleStates, workerLifecycle } from "../../actors/workerLifecycle.ts"
import { messageOf } from "../../capabilities/CrankError.ts"
import { latencyBoundariesMs } from "../../transports/Envelope.ts"
import { type GraphTransition, type MachineGraph, machineGraph, svg } from "../diagram/index.ts"
import { hostNameOf, isLoopbackAddress, isLoopbackHost } from "../http/loopback.ts"
import { refuseMethod, send, sendError, sendJson, urlOf } from "../http/respond.ts"
import * as EventStreams from "./events.ts"
import { controllerMetrics, RequestTotals } from "./metrics.ts"
import { loginPage, loginPagePolicy, type OperatorAccess, sessionCookieHeader, type Verdict } from "./operatorAccess.ts"
import { contentType as metricsContentType } from "./prometheusText.ts"
import { meshStatus } from "./snapshot.ts"

export interface ControllerHttpOptions extends EventStreams.EventStreamOptions {
  /** Only operators may read the dashboard and `/api/*` (a secure controller); absent: anyone who reaches the port. */
  readonly operators?: OperatorAccess
  /** Serve `/api/inspect` (opt-in: `--inspect`); default false. */
  readonly inspect?: boolean
}

/**
 * A request that reached a loopback listener under another name: a page of another site whose name was made to
 * resolve to 127.0.0.1 (DNS rebinding) is same-origin to the browser, so it could read an open controller's pages;
 * its `Host` header still carries its own name. Only for controllers without access control.
 */
const rebound = (request: http.IncomingMessage): boolean => {
  if (!isLoopbackAddress(request.socket.localAddress)) return false
  const host = hostNameOf(request.headers.host)
  return host === undefined || !isLoopbackHost(host)
}

/** What anyone may read, whatever the access: probes and Prometheus carry no credentials. */
const openPaths = new Set(["/healthz", "/readyz", "/metrics"])

export interface ControllerHttp {
  /** Answers one plain HTTP request; never throws (a failure is a 500 with its message). */
  readonly handle: (request: http.IncomingMessage, response: http.ServerResponse) => void
  /** Event streams open now (dashboards, `crank watch`, inspectors). */
  readonly eventStreams: () => number
}

/** The page's ES modules (app.js is the entry; no build step): served as they are, each from its own path. */
const pageModules = ["app.js", "model.js", "render.js", "detail.js", "dom.js", "format.js", "connect.js"] as const

const page = [
  { path: "/", file: "index.html", type: "text/html; charset=utf-8" },
  ...pageModules.map((file) => ({ path: `/${file}`, file, type: "text/javascript; charset=utf-8" })),
  { path: "/styles.css", file: "styles.css", type: "text/css; charset=utf-8" },
]

/** The page may load its own files and talk to its own origin; nothing else. */
const pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

/**
 * The machine without edge labels, one edge per pair of states: a drawing about a third smaller, whose state
 * names stay readable at the width of the dashboard's side panel (the page lists the events beside it).
 * The label is a space, not empty: Graphviz (viz.js 3.31) fails every later render after one with `label=""`.
 */
const compact = (graph: MachineGraph): MachineGraph => {
  const seen = new Set<string>()
  const transitions: Array<GraphTransition> = []
  for (const t of graph.transitions) {
    const key = JSON.stringify([t.from, t.to])
    if (seen.has(key)) continue
    seen.add(key)
    transitions.push({ from: t.from, to: t.to, event: " " })
  }
  return { ...graph, transitions }
}

/** The machine as data for the page: what `/api/machine.json` serves. */
const machineJson = (graph: MachineGraph) => ({ ...graph, order: lifecycleStates, latencyBoundariesMs })

/**
 * Builds the surface for the controller `getController()` returns (undefined while it is not running: the
 * data endpoints answer 503 then). Event streams and their subscriptions live in the calling scope.
 */
export const makeControllerHttp = (
  getController: () => Controller | undefined,
  options: ControllerHttpOptions = {},
): Effect.Effect<ControllerHttp, never, Scope.Scope> =>
  Effect.gen(function* () {
    const files = new Map<string, { readonly body: Buffer; readonly type: string }>(
      yield* Effect.forEach(page, (entry) =>
        Effect.map(
          Effect.promise(() => readFile(new URL(`./page/${entry.file}`, import.meta.url))),
          (body) => [entry.path, { body, type: entry.type }] as const,
        ),
      ),
    )
    const totals = new RequestTotals()
    const streams = yield* EventStreams.make(getController, totals, options)
    const graph = machineGraph(workerLifecycle)
    const compactGraph = compact(graph)
    const machine = JSON.stringify(machineJson(graph))
    const diagrams = new Map<string, Promise<string>>()
    // Requests arrive in plain Node callbacks: what they start runs in this scope (its Logger, its Clock) and is
    // interrupted when the scope closes, and their times come from the scope's Clock (a TestClock in tests).
    const runFork = yield* FiberSet.makeRuntime<never>()
    const clock = yield* Clock.Clock

    const fail = (request: http.IncomingMessage, response: http.ServerResponse) => (error: unknown) => {
      const message = messageOf(error)
      if (!response.headersSent) sendError(request, response, 500, "INTERNAL", message)
      else response.destroy()
    }

    const unavailable = (request: http.IncomingMessage, response: http.ServerResponse) =>
      sendError(request, response, 503, "UNAVAILABLE", "the controller is not running")

    const operators = options.operators

    /** A request without an operator's credentials: the login form for a browser's page, the typed error for the rest; counted. */
    const refuse = (request: http.IncomingMessage, response: http.ServerResponse, path: string, verdict: Verdict & { _tag: "Refused" }) => {
      const remote = `${request.socket.remoteAddress ?? "unknown"}:${request.socket.remotePort ?? 0}`
      // A browser opening the dashboard without a session is not an attack: it gets the form, and is not counted.
      const page = path === "/" && (request.headers.accept ?? "").includes("text/html")
      if (!page || verdict.code === "FORBIDDEN")
        getController()?.refused(verdict.code === "FORBIDDEN" ? "forbidden" : "unauthorized", remote, `HTTP ${path}: ${verdict.message}`)
      if (page) return send(request, response, verdict.status, "text/html; charset=utf-8", loginPage(), { "content-security-policy": loginPagePolicy })
      sendError(request, response, verdict.status, verdict.code, verdict.message)
    }

    const login = (request: http.IncomingMessage, response: http.ServerResponse, access: OperatorAccess) =>
      runFork(
        Effect.map(access.login(request), ({ verdict, session }) => {
          if (verdict._tag === "Refused" || session === undefined) {
            const refused = verdict as Verdict & { _tag: "Refused" }
            const remote = `${request.socket.remoteAddress ?? "unknown"}:${request.socket.remotePort ?? 0}`
            getController()?.refused(refused.code === "FORBIDDEN" ? "forbidden" : "unauthorized", remote, `HTTP /api/login: ${refused.message}`)
            if ((request.headers.accept ?? "").includes("application/json")) return sendError(request, response, refused.status, refused.code, refused.message)
            return send(request, response, refused.status, "text/html; charset=utf-8", loginPage(refused.message), {
              "content-security-policy": loginPagePolicy,
            })
          }
          const cookie = sessionCookieHeader(session.value, request)
          if ((request.headers.accept ?? "").includes("application/json")) {
            response.setHeader("set-cookie", cookie)
            return sendJson(request, response, 200, { session: session.value, expiresAt: session.expiresAt })
          }
          response.writeHead(303, { location: "/", "set-cookie": cookie, "cache-control": "no-store", "content-length": 0 })
          response.end()
        }),
      )

    const route = (request: http.IncomingMessage, response: http.ServerResponse): void => {
      const url = urlOf(request)
      const path = url.pathname === "/index.html" ? "/" : url.pathname
      if (operators === undefined && !openPaths.has(path) && rebound(request)) {
        const host = request.headers.host ?? ""
        getController()?.refused("origin", `${request.socket.remoteAddress ?? "unknown"}:${request.socket.remotePort ?? 0}`, `HTTP ${path} for host ${host}`)
        return sendError(request, response, 403, "FORBIDDEN", `this controller answers on loopback names only, not ${JSON.stringify(host.slice(0, 100))}`)
      }
      if (operators === undefined || openPaths.has(path)) return serve(request, response, url, path)
      if (path === "/api/login" && request.method === "POST") return void login(request, response, operators)
      runFork(
        Effect.map(operators.check(request), (verdict) =>
          verdict._tag === "Allowed" ? serve(request, response, url, path) : refuse(request, response, path, verdict),
        ),
      )
    }

    const serve = (request: http.IncomingMessage, response: http.ServerResponse, url: URL, path: string): void => {
      if (refuseMethod(request, response)) return
      const file = files.get(path)
      if (file !== undefined) {
        return send(request, response, 200, file.type, file.body, path === "/" ? { "content-security-policy": pagePolicy } : {})
      }
      switch (path) {
        case "/healthz":
          return sendJson(request, response, 200, { ok: true })
        case "/readyz": {
          const controller = getController()
          return controller === undefined
            ? sendJson(request, response, 503, { ready: false, reason: "the controller is not listening" })
            : sendJson(request, response, 200, { ready: true, address: controller.address, workers: controller.workers().length })
        }
        case "/api/inspect":
          if (options.inspect !== true)
            return sendError(request, response, 404, "NOT_FOUND", "inspection is off: start the controller with --inspect to serve /api/inspect")
          return streams.open(request, response, "inspect")
        case "/api/events":
          return streams.open(request, response, "dashboard")
        case "/api/machine.json":
          return send(request, response, 200, "application/json; charset=utf-8", machine)
        case "/api/diagram.svg": {
          const current = url.searchParams.get("current") ?? ""
          if (current !== "" && !(lifecycleStates as ReadonlyArray<string>).includes(current)) {
            return sendError(request, response, 400, "INVALID_INPUT", `no state "${current}"; the states are ${lifecycleStates.join(", ")}`)
          }
          const labels = url.searchParams.get("labels") ?? "events"
          if (labels !== "events" && labels !== "none") {
            return sendError(request, response, 400, "INVALID_INPUT", `labels must be "events" (default) or "none", got "${labels}"`)
          }
          // At most 2 × 7 variants, each rendered once.
          const key = `${labels}:${current}`
          let rendering = diagrams.get(key)
          if (rendering === undefined) {
            rendering = svg(labels === "none" ? compactGraph : graph, current === "" ? {} : { current })
            diagrams.set(key, rendering)
            rendering.catch(() => diagrams.delete(key))
          }
          rendering.then((svg) => send(request, response, 200, "image/svg+xml; charset=utf-8", svg), fail(request, response))
          return
        }
        case "/api/status": {
          const controller = getController()
          if (controller === undefined) return unavailable(request, response)
          runFork(
            meshStatus(controller).pipe(
              Effect.match({
                onSuccess: (status) => sendJson(request, response, 200, status),
                onFailure: (error) => sendError(request, response, 500, error.code, error.message),
              }),
            ),
          )
          return
        }
        case "/metrics": {
          const controller = getController()
          if (controller === undefined) return unavailable(request, response)
          const workers = controller.workers()
          return send(
            request,
            response,
            200,
            metricsContentType,
            controllerMetrics({ workers, now: clock.currentTimeMillisUnsafe(), totals: totals.observe(workers), refusals: controller.refusals() }),
          )
        }
        default:
          return sendError(request, response, 404, "NOT_FOUND", `no ${path} here; try / (dashboard), /api/status, /metrics or /healthz`)
      }
    }

    return {
      handle: (request, response) => {
        try {
          route(request, response)
        } catch (error) {
          fail(request, response)(error)
        }
      },
      eventStreams: streams.count,
    } satisfies ControllerHttp
  })
