/**
 * The controller's HTTP surface reads every time it serves through Effect's `Clock`: under a `TestClock` set far
 * from the real time, heartbeat ages in `/metrics`, the `now` of the first snapshot and the entry a transition
 * carries are all computed from the test's clock. A stand-in controller answers over a real 127.0.0.1 server.
 */
import * as http from "node:http"
import { Effect, PubSub } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import type { Controller, LifecycleTransition, WorkerView } from "../../actors/Controller.ts"
import type { MeshStatus } from "../../capabilities/crank.ts"
import { makeControllerHttp } from "../../src/dashboard/controllerHttp.ts"
import { eventStreamParser, type ServerSentEvent } from "../../src/http/sse.ts"
import { eventually } from "../support/poll.ts"

const t0 = 1_000_000

const view = {
  id: "n/w1",
  nodeId: "n",
  state: "healthy",
  address: undefined,
  capabilities: [],
  maxInFlight: 1,
  inFlight: 0,
  completed: 0,
  stats: [],
  registeredAt: t0 - 10_000,
  lastHeartbeatAt: t0 - 4_000,
  transitions: [],
} satisfies WorkerView

const status: MeshStatus = {
  controller: { address: "memory://fake", startedAt: 0, heartbeatIntervalMs: 1_000, staleAfterMs: 5_000, evictAfterMs: 60_000 },
  nodes: [{ id: "n", workers: ["n/w1"] }],
  workers: [{ ...view, address: "memory://w1" }],
  capabilities: [],
}

const text = (url: string) => Effect.promise(() => fetch(url, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text()))

const heartbeatAge = (metrics: string): number | undefined => {
  const series = 'crank_worker_heartbeat_age_seconds{worker="n/w1"} '
  const line = metrics.split("\n").find((l) => l.startsWith(series))
  return line === undefined ? undefined : Number(line.slice(series.length))
}

/** An open event stream (closed with the scope) and a bounded wait, in real time (poll.ts), for an event of a kind. */
const openEvents = (url: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const events: Array<ServerSentEvent> = []
        const request = http.get(url, (response) =>
          response.setEncoding("utf8").on(
            "data",
            eventStreamParser((e) => events.push(e)),
          ),
        )
        return { events, request }
      }),
      ({ request }) => Effect.sync(() => request.destroy()),
    ),
    ({ events }) =>
      (kind: string) =>
        eventually(`a ${kind} event`, () => events.find((e) => e.event === kind), { timeoutMs: 3_000 }),
  )

describe("controller HTTP surface on Effect's Clock", () => {
  it("serves heartbeat ages, snapshot times and transitions from the scope's Clock (a TestClock here)", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        yield* TestClock.setTime(t0)
        const transitions = yield* PubSub.unbounded<LifecycleTransition>()
        const controller = {
          address: "memory://fake",
          workers: () => [view],
          worker: (id: string) => (id === view.id ? view : undefined),
          transitions,
          refusals: () => new Map(),
          serve: (invoke: { readonly id: string }) => Effect.succeed({ _tag: "Result" as const, id: invoke.id, output: status }),
        } as unknown as Controller
        // A tick far beyond the test: the only snapshot is the one a new stream gets.
        const surface = yield* makeControllerHttp(() => controller, { tickMs: 3_600_000 })
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => {
            const server = http.createServer(surface.handle)
            return new Promise<http.Server>((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)))
          }),
          (server) => Effect.promise(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve)))),
        )
        const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
        const next = yield* openEvents(`${base}api/events`)

        expect(heartbeatAge(yield* text(`${base}metrics`))).toBe(4)
        const first = yield* next("snapshot")
        expect(JSON.parse(first.data)).toMatchObject({ kind: "full", now: t0, workers: [{ id: "n/w1", heartbeatAgeMs: 4_000 }] })
        // /api/status runs in the surface's FiberSet, on this scope.
        expect(JSON.parse(yield* text(`${base}api/status`))).toEqual(status)

        yield* TestClock.adjust("2 seconds")
        expect(heartbeatAge(yield* text(`${base}metrics`))).toBe(6)
        const stale: LifecycleTransition = { workerId: "n/w1", from: "healthy", to: "stale", event: "DISCONNECTED", at: t0 + 2_000 }
        yield* PubSub.publish(transitions, stale)
        const change = yield* next("transition")
        expect(JSON.parse(change.data)).toMatchObject({ workerId: "n/w1", to: "stale", worker: { heartbeatAgeMs: 6_000 } })
      }).pipe(Effect.scoped, Effect.provide(TestClock.layer())),
    ))
})
