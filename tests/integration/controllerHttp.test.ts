/**
 * The HTTP surfaces on a real mesh over 127.0.0.1: a controller node serving the dashboard API on its WebSocket
 * port (hello workers beside it, in memory), and a worker node whose listener port answers the probes.
 * Every wait polls with a bounded deadline.
 */
import * as http from "node:http"
import { Effect, Exit, Schema, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import type { Controller } from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { MeshStatus } from "../../capabilities/crank.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import helloWorker from "../../examples/hello/index.ts"
import { makeControllerHttp } from "../../src/dashboard/controllerHttp.ts"
import { makeWorkerHttp } from "../../src/dashboard/workerHttp.ts"
import { httpUrlOf } from "../../src/http/httpUrl.ts"
import { eventStreamParser, type ServerSentEvent } from "../../src/http/sse.ts"
import * as Node from "../../src/Node.ts"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { heldWorker, TestHold } from "../support/heldWorker.ts"
import { eventually, until } from "../support/poll.ts"
import { readExposition } from "../support/prometheusText.ts"

const timings = { heartbeatIntervalMs: 25, staleAfterMs: 500, evictAfterMs: 1_000 }

interface Answer {
  readonly status: number
  readonly type: string
  readonly body: string
}

const get = async (url: string, init?: RequestInit): Promise<Answer> => {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) })
  return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
}

/** An open `/api/events` stream: the events so far, and a bounded wait for the next one that matches. */
const openEvents = (url: string) => {
  const events: Array<ServerSentEvent> = []
  const request = http.get(url, { headers: { accept: "text/event-stream" } })
  const opened = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.on("response", (response) => {
      response.setEncoding("utf8").on(
        "data",
        eventStreamParser((e) => events.push(e)),
      )
      resolve(response)
    })
    request.on("error", reject)
  })
  const waitFor = (what: string, match: (e: ServerSentEvent) => boolean, timeoutMs = 3_000) =>
    Effect.runPromise(eventually(what, () => events.find(match), { timeoutMs, show: () => events.map((e) => `${e.event} ${e.data.slice(0, 160)}`) }))
  return { events, opened, waitFor, close: () => request.destroy() }
}

const sampleValue = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("controller and worker HTTP surfaces", () => {
  const scope = Effect.runSync(Scope.make())
  const held = heldWorker("held")
  let controller: Controller
  let node: Node.CrankNode
  let workerNode: Node.CrankNode
  let base: string
  let probes: string

  beforeAll(async () => {
    await Effect.runPromise(
      Effect.gen(function* () {
        node = yield* Node.start({
          nodeId: "ctl",
          controller: {
            addresses: ["ws://127.0.0.1:0", "memory://controller"],
            logTransitions: false,
            http: (controller) =>
              Effect.map(
                makeControllerHttp(() => controller, { tickMs: 100, inspect: true }),
                (served) => served.handle,
              ),
          },
          controllerAddress: "memory://controller",
          workers: [{ definition: helloWorker, replicas: 2 }],
          workerListen: "memory://",
        }).pipe(
          withTunables({ ...timings, drainDeadlineMs: 2_000 }),
          Effect.provideService(Transport, combine(MemoryTransport.make(), WebSocketTransport.make())),
        )
        controller = node.controller()!

        workerNode = yield* Node.start({
          nodeId: "probe",
          controllerAddress: controller.address,
          workers: [held.definition],
          workerListen: "ws://127.0.0.1:0",
          workerHttp: (workers) => makeWorkerHttp(workers).handle,
        }).pipe(
          withTunables({ drainDeadlineMs: 10_000, registerBackoffInitialMs: 5, registerBackoffMaxMs: 50 }),
          Effect.provideService(Transport, combine(MemoryTransport.make(), WebSocketTransport.make())),
        )
        probes = httpUrlOf(workerNode.workers()[0]!.address!)!
        yield* awaitWorkers(controller, (ws) => ws.length === 3 && ws.every((w) => w.state === "healthy"), 5_000)
      }).pipe(Scope.provide(scope)),
    )
    base = httpUrlOf(controller.address)!
  })

  afterAll(async () => {
    held.release()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("answers /healthz and /readyz on the controller's WebSocket port", async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    expect(await get(`${base}healthz`)).toMatchObject({ status: 200 })
    const ready = await get(`${base}readyz`)
    expect(ready.status).toBe(200)
    expect(JSON.parse(ready.body)).toEqual({ ready: true, address: controller.address, workers: 3 })
  })

  it("serves /api/status as crank.status describes the mesh", async () => {
    const answer = await get(`${base}api/status`)
    expect(answer.status).toBe(200)
    expect(answer.type).toContain("application/json")
    const status = Schema.decodeUnknownSync(MeshStatus)(JSON.parse(answer.body))
    expect(status.controller.address).toBe(controller.address)
    expect(status.workers.map((w) => w.state)).toEqual(["healthy", "healthy", "healthy"])
    expect(status.nodes.map((n) => n.id).sort()).toEqual(["ctl", "probe"])
    expect(status.capabilities.map((c) => c.id).sort()).toEqual(["hello.greet", "test.hold"])
  })

  it("serves the dashboard page and its files", async () => {
    const page = await get(base)
    expect(page.status).toBe(200)
    expect(page.type).toContain("text/html")
    expect(page.body).toContain('<script type="module" src="/app.js">')
    // The page is ES modules served as they are: the entry imports the model, the renderer and the stream.
    const app = await get(`${base}app.js`)
    expect(app.type).toContain("text/javascript")
    for (const module of ["./model.js", "./render.js", "./connect.js"]) expect(app.body).toContain(`from "${module}"`)
    expect((await get(`${base}connect.js`)).body).toContain('new EventSource("/api/events")')
    expect((await get(`${base}model.js`)).body).toContain("export const applySnapshot")
    expect(await get(`${base}model.d.ts`)).toMatchObject({ status: 404 })
    expect((await get(`${base}styles.css`)).type).toContain("text/css")
    expect(await get(`${base}nope`)).toMatchObject({ status: 404 })
    expect(await get(`${base}metrics`, { method: "POST" })).toMatchObject({ status: 405 })
  })

  it("draws the lifecycle machine from its definition, with the asked-for state lit", async () => {
    const svg = await get(`${base}api/diagram.svg?current=healthy`)
    expect(svg.status).toBe(200)
    expect(svg.type).toContain("image/svg+xml")
    expect(svg.body).toMatch(/<g id="node\d+" class="node state current">\s*<title>healthy<\/title>/)
    expect(svg.body.match(/class="node state current"/g)).toHaveLength(1)
    expect(svg.body).toContain(">HEARTBEAT_TIMEOUT<")
    const compact = await get(`${base}api/diagram.svg?current=stale&labels=none`)
    expect(compact.body).toMatch(/<g id="node\d+" class="node state current">\s*<title>stale<\/title>/)
    expect(compact.body).not.toContain(">HEARTBEAT_TIMEOUT<")
    expect((await get(`${base}api/diagram.svg?current=bogus`)).status).toBe(400)
    expect((await get(`${base}api/diagram.svg?labels=bogus`)).status).toBe(400)
    const machine = JSON.parse((await get(`${base}api/machine.json`)).body) as {
      states: Array<{ id: string }>
      transitions: Array<{ from: string; to: string; event: string }>
    }
    expect(machine.states.map((s) => s.id)).toEqual(["starting", "registered", "healthy", "stale", "draining", "stopped"])
    expect(machine.transitions).toContainEqual({ from: "healthy", to: "stale", event: "HEARTBEAT_TIMEOUT" })
  })

  it("exports /metrics that a Prometheus text parser reads, with request counts from the workers' heartbeats", async () => {
    await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(node.client({ timeoutMs: 2_000 }), (c) =>
          Effect.forEach(
            Array.from({ length: 7 }, (_, i) => i),
            (i) => c.invoke(HelloGreet, { message: `m${i}` }),
            { discard: true },
          ),
        ),
      ),
    )
    // Workers report their counts in heartbeats: wait (bounded) for the beat that carries all seven.
    const series = 'crank_requests_total{capability="hello.greet",version="1.0.0",outcome="OK"}'
    const answer = await until("7 hello.greet requests counted in /metrics", async () => {
      const a = await get(`${base}metrics`)
      return sampleValue(a.body, series) === 7 && a
    })
    expect(answer.status).toBe(200)
    expect(answer.type).toContain("text/plain")
    const metrics = readExposition(answer.body)
    expect(metrics.families.get("crank_workers")?.type).toBe("gauge")
    expect(metrics.families.get("crank_requests_total")?.type).toBe("counter")
    expect(metrics.families.get("crank_request_duration_seconds")?.type).toBe("histogram")
    expect(metrics.value("crank_workers", { state: "healthy" })).toBe(3)
    expect(metrics.value("crank_workers", { state: "stopped" })).toBe(0)
    expect(metrics.value("crank_requests_total", { capability: "hello.greet", version: "1.0.0", outcome: "OK" })).toBe(7)
    expect(metrics.value("crank_request_duration_seconds_count", { capability: "hello.greet", version: "1.0.0" })).toBe(7)
    expect(metrics.value("crank_request_duration_seconds_bucket", { capability: "hello.greet", version: "1.0.0", le: "+Inf" })).toBe(7)
    expect(metrics.value("crank_worker_in_flight", { worker: "ctl/hello-1" })).toBe(0)
    // One heartbeat age per registered worker, under its id.
    expect(
      metrics
        .select("crank_worker_heartbeat_age_seconds")
        .map((s) => s.labels.worker)
        .sort(),
    ).toEqual(["ctl/hello-1", "ctl/hello-2", "probe/held-1"])
  })

  it("pushes a full snapshot, then the transitions of a drained worker, over /api/events", async () => {
    const stream = openEvents(`${base}api/events`)
    try {
      const response = await stream.opened
      expect(response.statusCode).toBe(200)
      expect(response.headers["content-type"]).toContain("text/event-stream")
      const first = await stream.waitFor("a full snapshot", (e) => e.event === "snapshot")
      const snapshot = JSON.parse(first.data) as { kind: string; workers: Array<{ id: string; state: string; transitions: Array<unknown> }> }
      expect(snapshot.kind).toBe("full")
      expect(snapshot.workers.map((w) => w.state)).toEqual(["healthy", "healthy", "healthy"])
      expect(snapshot.workers[0]!.transitions.length).toBeGreaterThanOrEqual(2)

      await Effect.runPromise(controller.drain("ctl/hello-2", 2_000))
      const draining = await stream.waitFor("hello-2 draining", (e) => e.event === "transition" && JSON.parse(e.data).to === "draining")
      expect(JSON.parse(draining.data)).toMatchObject({
        workerId: "ctl/hello-2",
        from: "healthy",
        to: "draining",
        event: "DRAIN",
        worker: { state: "draining" },
      })
      const stopped = await stream.waitFor("hello-2 stopped", (e) => e.event === "transition" && JSON.parse(e.data).to === "stopped")
      expect(JSON.parse(stopped.data)).toMatchObject({ workerId: "ctl/hello-2", from: "draining", to: "stopped" })
      expect(JSON.parse(stopped.data).worker).toBeUndefined()
      const periodic = await stream.waitFor("a periodic snapshot without hello-2", (e) => {
        if (e.event !== "snapshot") return false
        const s = JSON.parse(e.data) as { kind: string; workers: Array<{ id: string }> }
        return s.kind === "periodic" && !s.workers.some((w) => w.id === "ctl/hello-2")
      })
      const later = JSON.parse(periodic.data) as { now: number; workers: Array<{ id: string; lastHeartbeatAt: number; heartbeatAgeMs: number }> }
      expect(later.workers[0]).not.toHaveProperty("transitions")
      // Each age is measured from the worker's last heartbeat to the snapshot's own time, in milliseconds.
      for (const w of later.workers) expect(w.heartbeatAgeMs, w.id).toBe(later.now - w.lastHeartbeatAt)
    } finally {
      stream.close()
    }
  })

  it("streams Stately inspection events on the opt-in /api/inspect", async () => {
    const stream = openEvents(`${base}api/inspect`)
    try {
      const actor = await stream.waitFor("an @xstate.actor", (e) => JSON.parse(e.data).type === "@xstate.actor")
      expect(JSON.parse(actor.data)).toMatchObject({ name: "worker", snapshot: { status: "active", value: "healthy" } })
      expect(JSON.parse(JSON.parse(actor.data).definition)).toMatchObject({ id: "worker", initial: "starting" })
    } finally {
      stream.close()
    }
  })

  it("worker probes: /readyz is 200 while healthy and 503 once a drain starts", async () => {
    const ready = await get(`${probes}readyz`)
    expect(ready.status).toBe(200)
    expect(JSON.parse(ready.body)).toEqual({ ready: true, workers: [{ id: "probe/held-1", state: "healthy", inFlight: 0, completed: 0 }] })
    expect((await get(`${probes}healthz`)).status).toBe(200)

    // A request held in flight keeps the worker in draining until the test lets it go.
    const request = Effect.runPromise(Effect.scoped(Effect.flatMap(node.client({ timeoutMs: 10_000 }), (c) => c.invoke(TestHold, {}))))
    await Effect.runPromise(eventually("the held request is in flight", () => held.held() === 1))
    const metrics = readExposition((await get(`${probes}metrics`)).body)
    expect(metrics.value("crank_worker_in_flight", { worker: "probe/held-1" })).toBe(1)
    expect(metrics.families.get("crank_worker_state")?.type).toBe("gauge")
    expect(
      metrics
        .select("crank_worker_state", { worker: "probe/held-1" })
        .filter((s) => s.value === 1)
        .map((s) => s.labels.state),
    ).toEqual(["healthy"])

    await Effect.runPromise(controller.drain("probe/held-1", 10_000))
    const answer = await until("/readyz answers 503", async () => {
      const a = await get(`${probes}readyz`)
      return a.status === 503 && a
    })
    expect(JSON.parse(answer.body)).toMatchObject({ ready: false, workers: [{ id: "probe/held-1", state: "draining", inFlight: 1 }] })

    held.release()
    expect(await request).toEqual({ worker: "probe/held-1" })
  })
})

describe("controller HTTP surface without a controller", () => {
  it("is alive (/healthz 200) but not ready (/readyz 503), and data endpoints answer 503", async () => {
    const scope = Effect.runSync(Scope.make())
    const surface = await Effect.runPromise(makeControllerHttp(() => undefined).pipe(Scope.provide(scope)))
    const server = http.createServer(surface.handle)
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as { port: number }
    try {
      expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
      expect((await get(`http://127.0.0.1:${port}/readyz`)).status).toBe(503)
      expect((await get(`http://127.0.0.1:${port}/metrics`)).status).toBe(503)
      expect((await get(`http://127.0.0.1:${port}/api/status`)).status).toBe(503)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
