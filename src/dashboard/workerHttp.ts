/**
 * The probes of a worker process (`crank worker`), served on its workers' listener ports through the
 * listener's `http` handler (`Node.start({ workerHttp })`), for orchestrators and scrapers:
 *
 * | path | what |
 * |---|---|
 * | `/healthz` | 200 while the process is up (liveness) |
 * | `/readyz` | 200 only when every worker in the process is `registered` or `healthy`; 503 while any is `starting`, `stale`, `draining` or `stopped`, or when none runs. The body lists each worker's state |
 * | `/metrics` | Prometheus text (workerMetrics.ts) |
 *
 * Every listener of the process answers for the whole process (`--replicas 3` gives three ports, same answers).
 *
 * @example
 * ```ts
 * const node = yield* Node.start({ workers: [...], workerListen: "ws://127.0.0.1:0", workerHttp: (workers) => makeWorkerHttp(workers).handle })
 * http.set(makeWorkerHttp(node.workers))
 * ```
 */
import type * as http from "node:http"
import type { RunningWorker } from "../../actors/Worker.ts"
import { messageOf } from "../../capabilities/CrankError.ts"
import { refuseMethod, send, sendError, sendJson, urlOf } from "../http/respond.ts"
import { contentType as metricsContentType } from "./prometheusText.ts"
import { workerMetrics } from "./workerMetrics.ts"

export interface WorkerHttp {
  readonly handle: (request: http.IncomingMessage, response: http.ServerResponse) => void
}

/** The states in which a worker takes work: anything else makes the process not ready. */
const readyStates: ReadonlySet<string> = new Set(["registered", "healthy"])

export const makeWorkerHttp = (getWorkers: () => ReadonlyArray<RunningWorker>): WorkerHttp => {
  const route = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    if (refuseMethod(request, response)) return
    const path = urlOf(request).pathname
    switch (path) {
      case "/healthz":
        return sendJson(request, response, 200, { ok: true, workers: getWorkers().length })
      case "/readyz": {
        const workers = getWorkers().map((w) => ({ id: w.id, state: w.state(), inFlight: w.inFlight(), completed: w.completed() }))
        const ready = workers.length > 0 && workers.every((w) => readyStates.has(w.state))
        return sendJson(request, response, ready ? 200 : 503, {
          ready,
          ...(workers.length === 0 ? { reason: "no worker is running in this process" } : {}),
          workers,
        })
      }
      case "/metrics":
        return send(
          request,
          response,
          200,
          metricsContentType,
          workerMetrics(
            getWorkers().map((w) => ({
              id: w.id,
              state: w.state(),
              inFlight: w.inFlight(),
              completed: w.completed(),
              stats: w.stats(),
            })),
          ),
        )
      case "/":
        return sendJson(request, response, 200, { probes: ["/healthz", "/readyz", "/metrics"] })
      default:
        return sendError(request, response, 404, "NOT_FOUND", `no ${path} here; try /healthz, /readyz or /metrics`)
    }
  }
  return {
    handle: (request, response) => {
      try {
        route(request, response)
      } catch (error) {
        if (!response.headersSent) sendError(request, response, 500, "INTERNAL", messageOf(error))
        else response.destroy()
      }
    },
  }
}
