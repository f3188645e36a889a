/**
 * The dashboard page's pure model (src/dashboard/page/model.js), run in Node: the machine it is given, snapshots
 * and transitions in, and what the page draws from them (filters, groups, counts, tables, the selection).
 * Plain JavaScript imported as the browser does; TypeScript checks this file against model.d.ts.
 */
import { describe, expect, it } from "vitest"
import { lifecycleStates, workerLifecycle } from "../../actors/workerLifecycle.ts"
import type { FederatedController, MeshStatus } from "../../capabilities/crank.ts"
import { age, plural } from "../../src/dashboard/page/format.js"
import {
  activityMax,
  applyMachine,
  applySnapshot,
  applyTransition,
  capabilityRows,
  controllerStatus,
  countsOf,
  federationOf,
  goneKeepMs,
  groupsOf,
  heartbeatLevel,
  type Model,
  makeModel,
  nextTransitions,
  pruneGone,
  selectedWorker,
  serverNow,
  timelineMax,
  totalRequests,
  visibleWorkers,
} from "../../src/dashboard/page/model.js"
import { type DashboardSnapshot, snapshotOf, type TransitionEvent, type WorkerEntry } from "../../src/dashboard/snapshot.ts"
import { machineGraph } from "../../src/diagram/index.ts"

/** What /api/machine.json serves (controllerHttp.ts): the graph of the real machine and its states in order. */
const machine = { ...machineGraph(workerLifecycle), order: lifecycleStates }

const entry = (id: string, overrides: Partial<WorkerEntry> = {}): WorkerEntry => ({
  id,
  nodeId: id.split("/")[0]!,
  state: "healthy",
  capabilities: [{ id: "hello.greet", version: "1.0.0" }],
  maxInFlight: 4,
  inFlight: 0,
  completed: 0,
  stats: [],
  registeredAt: 1_000,
  lastHeartbeatAt: 9_000,
  heartbeatAgeMs: 1_000,
  ...overrides,
})

const snapshot = (kind: "full" | "periodic", workers: ReadonlyArray<WorkerEntry>, now = 10_000): DashboardSnapshot => ({
  kind,
  now,
  controller: { address: "ws://127.0.0.1:7070", startedAt: 0, heartbeatIntervalMs: 1_000, staleAfterMs: 5_000, evictAfterMs: 60_000 },
  counts: { starting: 0, registered: 0, healthy: 0, stale: 0, draining: 0, stopped: 0 },
  nodes: [],
  workers,
  capabilities: [],
  requests: [],
})

const transition = (workerId: string, from: TransitionEvent["from"], to: TransitionEvent["to"], at: number, worker?: WorkerEntry): TransitionEvent => ({
  workerId,
  from,
  to,
  event: to === "stale" ? "DISCONNECTED" : to === "draining" ? "DRAIN" : to === "stopped" ? "DRAINED" : "HEARTBEAT",
  at,
  ...(worker === undefined ? {} : { worker }),
})

const ready = (): Model => {
  const model = makeModel()
  applyMachine(model, machine)
  return model
}

describe("dashboard model", () => {
  it("takes the machine's states, in order, from /api/machine.json, and what can follow each", () => {
    const model = makeModel()
    expect(model.states).toEqual([])
    applyMachine(model, machine)
    expect(model.states).toEqual([...lifecycleStates])
    expect(model.descriptions.healthy).toBe(machine.states.find((s) => s.id === "healthy")?.description)
    expect(nextTransitions(model, "draining").map((t) => `${t.event} → ${t.to}`)).toContain("DRAINED → stopped")
    // Without `order`, the top-level states in document order: whatever the machine has, no list of our own.
    const other = makeModel()
    applyMachine(other, {
      id: "m",
      initial: "a",
      states: [
        { id: "a", key: "a", kind: "compound", final: false, description: undefined, parent: undefined, initial: "a.x" },
        { id: "a.x", key: "x", kind: "atomic", final: false, description: undefined, parent: "a", initial: undefined },
        { id: "b", key: "b", kind: "final", final: true, description: "done", parent: undefined, initial: undefined },
      ],
      transitions: [],
    })
    expect(other.states).toEqual(["a", "b"])
    expect(countsOf(other)).toEqual({ a: 0, b: 0 })
  })

  it("builds workers, timelines and activity from a full snapshot, on the controller's clock", () => {
    const model = ready()
    const t1 = transition("n/w1", "registered", "healthy", 2_000)
    const t2 = transition("n/w2", "healthy", "stale", 3_000)
    applySnapshot(model, snapshot("full", [entry("n/w1", { transitions: [t1] }), entry("n/w2", { state: "stale", transitions: [t2] })]), 4_000)
    expect([...model.workers.keys()]).toEqual(["n/w1", "n/w2"])
    expect(model.workers.get("n/w1")?.transitions).toEqual([t1])
    expect(model.activity).toEqual([t2, t1])
    expect(model.offset).toBe(6_000)
    expect(serverNow(model, 5_000)).toBe(11_000)
    expect(countsOf(model)).toEqual({ starting: 0, registered: 0, healthy: 1, stale: 1, draining: 0, stopped: 0 })
    // The same transition arriving as an event after the snapshot changes nothing.
    applyTransition(model, { ...t2, worker: entry("n/w2", { state: "stale" }) })
    expect(model.activity).toHaveLength(2)
    expect(model.flashes.size).toBe(0)
  })

  it("keeps timelines across periodic snapshots; a worker missing from one has vanished", () => {
    const model = ready()
    const t1 = transition("n/w1", "registered", "healthy", 2_000)
    applySnapshot(model, snapshot("full", [entry("n/w1", { transitions: [t1] }), entry("n/w2", { transitions: [] })]), 10_000)
    applySnapshot(model, snapshot("periodic", [entry("n/w1", { inFlight: 3 })], 11_000), 11_000)
    expect(model.workers.get("n/w1")).toMatchObject({ inFlight: 3, transitions: [t1] })
    expect(model.gone).toEqual([{ entry: expect.objectContaining({ id: "n/w2", state: "stopped" }), at: 11_000, from: "healthy", event: "vanished" }])
    // Back in a later snapshot: no longer gone.
    applySnapshot(model, snapshot("periodic", [entry("n/w1"), entry("n/w2")], 12_000), 12_000)
    expect(model.gone).toEqual([])
  })

  it("applies transitions: timeline, activity, a flash, and gone on stopped", () => {
    const model = ready()
    applySnapshot(model, snapshot("full", [entry("n/w1", { transitions: [] })]), 10_000)
    applyTransition(model, transition("n/w1", "healthy", "draining", 10_500, entry("n/w1", { state: "draining" })))
    expect(model.workers.get("n/w1")?.state).toBe("draining")
    expect(model.workers.get("n/w1")?.transitions.map((t) => t.to)).toEqual(["draining"])
    expect([...model.flashes]).toEqual(["n/w1"])
    applyTransition(model, transition("n/w1", "draining", "stopped", 10_900))
    expect(model.workers.has("n/w1")).toBe(false)
    expect(model.gone[0]).toMatchObject({ entry: { id: "n/w1", state: "stopped" }, at: 10_900, from: "draining", event: "DRAINED" })
    expect(model.activity.map((t) => t.to)).toEqual(["stopped", "draining"])
    // Gone workers are kept for goneKeepMs of the controller's time.
    pruneGone(model, 10_900 + goneKeepMs - model.offset)
    expect(model.gone).toHaveLength(1)
    pruneGone(model, 10_901 + goneKeepMs - model.offset)
    expect(model.gone).toHaveLength(0)
    // A transition for a worker the page never saw, without its entry, is activity only.
    applyTransition(model, transition("n/ghost", "healthy", "stale", 11_000))
    expect(model.activity[0]?.workerId).toBe("n/ghost")
    expect(model.workers.has("n/ghost")).toBe(false)
  })

  it("caps each timeline and the activity list", () => {
    const model = ready()
    applySnapshot(model, snapshot("full", [entry("n/w1", { transitions: [] })]), 0)
    for (let i = 0; i < activityMax + 5; i++) {
      const [from, to] = i % 2 === 0 ? (["healthy", "stale"] as const) : (["stale", "healthy"] as const)
      applyTransition(model, transition("n/w1", from, to, 20_000 + i, entry("n/w1", { state: to })))
    }
    expect(model.activity).toHaveLength(activityMax)
    expect(model.activity[0]?.at).toBe(20_000 + activityMax + 4)
    expect(model.workers.get("n/w1")?.transitions).toHaveLength(timelineMax)
  })

  it("filters by state and by every word of the text, and groups by capability, node, state or nothing", () => {
    const model = ready()
    const workers = [
      entry("b/w10", {
        capabilities: [
          { id: "hello.greet", version: "1.0.0" },
          { id: "img.resize", version: "2.0.0" },
        ],
      }),
      entry("a/w2", { state: "stale" }),
      entry("a/w1", { state: "draining", capabilities: [] }),
    ]
    applySnapshot(model, snapshot("full", workers), 10_000)
    const ids = (m: Model) => visibleWorkers(m).shown.map((w) => w.id)
    const keys = () => groupsOf(model, [...model.workers.values()]).map((g) => `${g.key}: ${g.workers.map((w) => w.id).join(",")}`)
    expect(keys()).toEqual(["(none): a/w1", "hello.greet@1.0.0: a/w2,b/w10", "img.resize@2.0.0: b/w10"])
    model.groupBy = "node"
    expect(keys()).toEqual(["a: a/w1,a/w2", "b: b/w10"])
    model.groupBy = "state"
    expect(keys()).toEqual(["healthy: b/w10", "stale: a/w2", "draining: a/w1"])
    model.groupBy = "none"
    expect(keys()).toEqual([": a/w1,a/w2,b/w10"])
    model.filter = "img"
    expect(ids(model)).toEqual(["b/w10"])
    model.filter = "a/ stale"
    expect(ids(model)).toEqual(["a/w2"])
    model.filter = ""
    model.stateFilter = "draining"
    expect(ids(model)).toEqual(["a/w1"])
    expect(visibleWorkers(model).all).toHaveLength(3)
  })

  it("sums requests and builds the capability table", () => {
    const model = ready()
    const stats = { capability: "hello.greet", version: "1.0.0", outcomes: { OK: 8, TIMEOUT: 2 }, latencyBuckets: [], latencySumMs: 50 }
    applySnapshot(
      model,
      {
        ...snapshot("full", [entry("n/w1"), entry("n/w2", { state: "stale" })]),
        capabilities: [
          { id: "hello.greet", version: "1.0.0", name: "Greet", description: "", workers: ["n/w1", "n/w2"] },
          { id: "hello.greet", version: "2.0.0", name: "Greet", description: "", workers: [] },
        ],
        requests: [stats],
      },
      10_000,
    )
    expect(totalRequests(model)).toBe(10)
    expect(capabilityRows(model).map(({ capability, total, errors, healthy, meanMs }) => [capability.version, total, errors, healthy, meanMs])).toEqual([
      ["2.0.0", 0, 0, 0, undefined],
      ["1.0.0", 10, 2, 1, 5],
    ])
  })

  it("passes crank.status's controllers through the snapshot as they are, and leaves them out when not federated", () => {
    const status: MeshStatus = { controller: snapshot("full", []).controller, nodes: [], workers: [], capabilities: [] }
    const controllers: ReadonlyArray<FederatedController> = [
      { id: "a", address: "nats://127.0.0.1:4222/controller-a", self: true, alive: true, synced: true, lastHeardAt: 10_000, capabilities: [] },
    ]
    expect(snapshotOf({ ...status, controllers }, { kind: "periodic", now: 10_000, requests: [] }).controllers).toBe(controllers)
    expect("controllers" in snapshotOf(status, { kind: "periodic", now: 10_000, requests: [] })).toBe(false)
  })

  it("shows no Controllers section unless federated; federated, this controller first and where each capability lives", () => {
    const model = ready()
    applySnapshot(model, snapshot("full", []), 10_000)
    expect(federationOf(model)).toBeUndefined()
    const cap = (id: string, version: string, workers: number, inFlight = 0) => ({ id, version, workers, inFlight, maxInFlight: 4 * workers })
    const peer = (id: string, alive: boolean, synced: boolean, capabilities: FederatedController["capabilities"]): FederatedController => ({
      id,
      address: `nats://127.0.0.1:4222/controller-${id}`,
      alive,
      synced,
      lastHeardAt: 9_500,
      capabilities,
    })
    const controllers: ReadonlyArray<FederatedController> = [
      { ...peer("b", true, true, [cap("hello.greet", "1.0.0", 3)]), self: true, lastHeardAt: 10_000 },
      peer("c10", false, true, [cap("document.convert", "1.0.0", 1)]),
      peer("a", true, true, [cap("hello.greet", "1.0.0", 2, 5), cap("hello.greet", "2.0.0", 1)]),
      peer("c2", true, false, []),
    ]
    applySnapshot(model, { ...snapshot("periodic", []), controllers }, 10_000)
    const federation = federationOf(model)!
    expect(federation.controllers.map((c) => [c.id, c.status])).toEqual([
      ["b", "self"],
      ["a", "synced"],
      ["c2", "syncing"],
      ["c10", "silent"],
    ])
    expect(federation.capabilities.map((row) => [`${row.id}@${row.version}`, row.cells.map((cell) => cell?.workers), row.workers])).toEqual([
      ["document.convert@1.0.0", [undefined, undefined, undefined, 1], 1],
      ["hello.greet@2.0.0", [undefined, 1, undefined, undefined], 1],
      ["hello.greet@1.0.0", [3, 2, undefined, undefined], 5],
    ])
    expect(federation.capabilities[2]!.cells[1]).toEqual({ workers: 2, inFlight: 5, maxInFlight: 8 })
    expect(controllerStatus({ ...peer("x", false, false, []), self: true })).toBe("self")
    // Federation ends (a controller restarted without it): the next snapshot has no controllers, the section goes.
    applySnapshot(model, snapshot("periodic", [], 11_000), 11_000)
    expect(federationOf(model)).toBeUndefined()
  })

  it("calls a heartbeat late after two intervals (and the 1 s refresh), dead after the stale window", () => {
    const model = ready()
    expect(heartbeatLevel(model, 99_999)).toBe("")
    applySnapshot(model, snapshot("full", []), 0)
    expect([2_499, 2_500, 4_999, 5_000].map((ms) => heartbeatLevel(model, ms))).toEqual(["", "late", "late", "dead"])
  })

  it("selects the first shown worker until one is chosen, and keeps a chosen one that has gone", () => {
    const model = ready()
    applySnapshot(model, snapshot("full", [entry("n/w2"), entry("n/w1")]), 10_000)
    expect(selectedWorker(model, visibleWorkers(model).shown).worker?.id).toBe("n/w2")
    expect(model.selected).toBe("n/w2")
    model.selected = "n/w1"
    applyTransition(model, transition("n/w1", "healthy", "stopped", 10_100))
    expect(selectedWorker(model, visibleWorkers(model).shown)).toMatchObject({ worker: { id: "n/w1", state: "stopped" }, gone: { event: "DRAINED" } })
    model.selected = "n/nobody"
    expect(selectedWorker(model, []).worker?.id).toBe("n/w2")
  })

  it("writes ages and counts as people read them", () => {
    expect([-5, 1_500, 42_400, 3 * 60_000, 5 * 3_600_000, 3 * 86_400_000].map(age)).toEqual(["0.0 s", "1.5 s", "42 s", "3 min", "5 h", "3 d"])
    expect([plural(1, "worker"), plural(2, "worker")]).toEqual(["1 worker", "2 workers"])
  })
})
