// The dashboard's model: what the page knows of the mesh, fed by /api/machine.json once and by the events of
// /api/events after. Pure: no DOM, no network and no clock of its own (callers pass their local time in ms), so
// tests/unit/dashboardModel.test.ts runs it in Node. Its types are in model.d.ts (the repository's tsconfig does
// not read JavaScript); render.js draws it and connect.js feeds it.

/** Workers that stopped or vanished stay listed this long, at most `goneMax` of them. */
export const goneKeepMs = 5 * 60_000
export const goneMax = 25
export const activityMax = 100
/** The controller keeps the last 20 transitions per worker; so does the page. */
export const timelineMax = 20
/** Transitions remembered to drop the copy a snapshot and a transition event both carry. */
const seenMax = 20_000

export const capKey = (c) => `${c.id}@${c.version}`
export const byId = (a, b) => a.localeCompare(b, undefined, { numeric: true })

export const makeModel = (groupBy = "capability") => ({
  /** State ids in the machine's own order: empty until `applyMachine`. */
  states: [],
  descriptions: {},
  /** The machine's transitions: what can happen next in each state. */
  transitions: [],
  workers: new Map(),
  /** Workers that stopped or vanished, newest first: { entry, at, from, event } */
  gone: [],
  activity: [],
  seen: new Set(),
  controller: undefined,
  capabilities: [],
  nodes: [],
  requests: [],
  /** The federation's controllers as crank.status gives them (this one first); undefined when not federated. */
  controllers: undefined,
  /** The controller's clock minus ours, so ages are right even when the clocks disagree. */
  offset: 0,
  selected: undefined,
  filter: "",
  groupBy,
  stateFilter: undefined,
  /** Workers changed by a transition since the last render: their rows flash once. */
  flashes: new Set(),
})

/** The controller's clock now, from ours. */
export const serverNow = (model, localNow) => localNow + model.offset

/**
 * Takes the lifecycle machine as /api/machine.json serves it: its states in the machine's order (`order`, or the
 * top-level states in document order), their descriptions, and its transitions.
 */
export const applyMachine = (model, machine) => {
  const topLevel = machine.states.filter((s) => s.parent === undefined).map((s) => s.id)
  model.states = Array.isArray(machine.order) ? [...machine.order] : topLevel
  model.descriptions = Object.fromEntries(machine.states.map((s) => [s.id, s.description]))
  model.transitions = machine.transitions
}

const remember = (model, t) => {
  const key = `${t.workerId}|${t.at}|${t.from}|${t.to}`
  if (model.seen.has(key)) return false
  if (model.seen.size > seenMax) model.seen.clear()
  model.seen.add(key)
  return true
}

const addTimeline = (worker, t) => {
  const list = (worker.transitions ??= [])
  if (list.some((x) => x.at === t.at && x.from === t.from && x.to === t.to)) return
  list.push(t)
  if (list.length > timelineMax) list.splice(0, list.length - timelineMax)
}

const forget = (model, id) => {
  model.gone = model.gone.filter((g) => g.entry.id !== id)
}

const markGone = (model, worker, t, at) => {
  model.workers.delete(worker.id)
  forget(model, worker.id)
  model.gone.unshift({
    entry: { ...worker, state: "stopped" },
    at: t?.at ?? at,
    from: t?.from ?? worker.state,
    event: t?.event ?? "vanished",
  })
  if (model.gone.length > goneMax) model.gone.length = goneMax
}

/** A `snapshot` event: `full` replaces every timeline, `periodic` keeps them; workers missing from it are gone. */
export const applySnapshot = (model, snapshot, localNow) => {
  model.offset = snapshot.now - localNow
  model.controller = snapshot.controller
  model.capabilities = snapshot.capabilities
  model.nodes = snapshot.nodes
  model.requests = snapshot.requests
  model.controllers = snapshot.controllers
  const fresh = new Map()
  for (const entry of snapshot.workers) {
    const previous = model.workers.get(entry.id)
    const worker = { ...entry, transitions: previous?.transitions ?? [] }
    if (snapshot.kind === "full") {
      worker.transitions = []
      for (const t of entry.transitions ?? []) {
        addTimeline(worker, t)
        remember(model, t)
      }
    }
    fresh.set(entry.id, worker)
    forget(model, entry.id)
  }
  for (const [id, worker] of model.workers) if (!fresh.has(id)) markGone(model, worker, undefined, snapshot.now)
  model.workers = fresh
  if (snapshot.kind === "full" && model.activity.length === 0) {
    model.activity = [...fresh.values()]
      .flatMap((w) => w.transitions)
      .sort((a, b) => b.at - a.at)
      .slice(0, activityMax)
  }
}

/** A `transition` event; one already seen (through a snapshot) changes nothing. */
export const applyTransition = (model, t) => {
  if (!remember(model, t)) return
  model.activity.unshift(t)
  if (model.activity.length > activityMax) model.activity.length = activityMax
  const known = model.workers.get(t.workerId)
  const worker = t.worker ? { ...t.worker, transitions: known?.transitions ?? [] } : known
  if (worker === undefined) return
  addTimeline(worker, t)
  if (t.to === "stopped" || t.worker === undefined) return markGone(model, worker, t, t.at)
  model.workers.set(worker.id, worker)
  forget(model, worker.id)
  model.flashes.add(worker.id)
}

/** Drops gone workers older than `goneKeepMs`. */
export const pruneGone = (model, localNow) => {
  const cutoff = serverNow(model, localNow) - goneKeepMs
  model.gone = model.gone.filter((g) => g.at >= cutoff)
}

/** The state filter, then every word of the text filter, against id, node, state and capabilities. */
export const matches = (model, worker) => {
  if (model.stateFilter && worker.state !== model.stateFilter) return false
  if (!model.filter) return true
  const haystack = `${worker.id} ${worker.nodeId} ${worker.state} ${worker.capabilities.map(capKey).join(" ")}`.toLowerCase()
  return model.filter.split(/\s+/).every((token) => haystack.includes(token))
}

/**
 * `workers` in groups by `model.groupBy`: by capability (a worker in each group it serves), node, state (in the
 * machine's order) or none (one group keyed ""). Groups and the workers in them sort by id, numbers numerically.
 */
export const groupsOf = (model, workers) => {
  const groups = new Map()
  const put = (key, title, worker) => {
    let group = groups.get(key)
    if (group === undefined) groups.set(key, (group = { key, title, workers: [] }))
    group.workers.push(worker)
  }
  for (const worker of workers) {
    switch (model.groupBy) {
      case "capability":
        if (worker.capabilities.length === 0) put("(none)", undefined, worker)
        for (const c of worker.capabilities) put(capKey(c), c, worker)
        break
      case "node":
        put(worker.nodeId, undefined, worker)
        break
      case "state":
        put(worker.state, undefined, worker)
        break
      default:
        put("", undefined, worker)
    }
  }
  const list = [...groups.values()]
  if (model.groupBy === "state") list.sort((a, b) => model.states.indexOf(a.key) - model.states.indexOf(b.key))
  else list.sort((a, b) => byId(a.key, b.key))
  for (const group of list) group.workers.sort((a, b) => byId(a.id, b.id))
  return list
}

/** What the worker list shows: every live worker, those the filters let through, and those in groups. */
export const visibleWorkers = (model) => {
  const all = [...model.workers.values()]
  const shown = all.filter((w) => matches(model, w))
  return { all, shown, groups: groupsOf(model, shown) }
}

/** Live workers per state: every state of the machine (zeros included), and any other state a worker is in. */
export const countsOf = (model) => {
  const counts = Object.fromEntries(model.states.map((s) => [s, 0]))
  for (const w of model.workers.values()) counts[w.state] = (counts[w.state] ?? 0) + 1
  return counts
}

const sum = (outcomes) => Object.values(outcomes).reduce((a, b) => a + b, 0)

/** Requests answered since the controller started, every outcome. */
export const totalRequests = (model) => model.requests.reduce((n, r) => n + sum(r.outcomes), 0)

/** One row per capability version, sorted by id then newest version first. */
export const capabilityRows = (model) =>
  [...model.capabilities]
    .sort((a, b) => byId(a.id, b.id) || byId(b.version, a.version))
    .map((capability) => {
      const stats = model.requests.find((r) => r.capability === capability.id && r.version === capability.version)
      const total = stats ? sum(stats.outcomes) : 0
      return {
        capability,
        stats,
        total,
        errors: stats ? total - (stats.outcomes.OK ?? 0) : 0,
        healthy: capability.workers.filter((id) => model.workers.get(id)?.state === "healthy").length,
        meanMs: stats && total > 0 ? stats.latencySumMs / total : undefined,
      }
    })

/** How late a heartbeat `ms` old is: "dead" past the stale window, "late" past two intervals (and the 1 s refresh). */
export const heartbeatLevel = (model, ms) => {
  const timings = model.controller
  if (!timings) return ""
  if (ms >= timings.staleAfterMs) return "dead"
  // Ages are refreshed by the once-a-second snapshot: allow for that before calling a heartbeat late.
  if (ms >= Math.max(2 * timings.heartbeatIntervalMs, timings.heartbeatIntervalMs + 1500)) return "late"
  return ""
}

/**
 * The worker the detail panel shows: the selected one, live or gone; else (selecting it) the first shown, else
 * any live worker.
 */
export const selectedWorker = (model, shown) => {
  if (model.selected === undefined || (!model.workers.has(model.selected) && !model.gone.some((g) => g.entry.id === model.selected))) {
    model.selected = shown[0]?.id ?? model.workers.keys().next().value
  }
  const live = model.workers.get(model.selected)
  const gone = live ? undefined : model.gone.find((g) => g.entry.id === model.selected)
  return { worker: live ?? gone?.entry, gone }
}

/** The machine's transitions out of `state`. */
export const nextTransitions = (model, state) => model.transitions.filter((t) => t.from === state)

/**
 * Where a federated controller stands, as one word: `self` (this controller), `synced` (alive, its snapshot
 * applied: requests may be forwarded to it), `syncing` (alive, snapshot not applied yet: nothing is forwarded),
 * `silent` (not heard within the stale period: it is dropped, with its routes, at the next check).
 */
export const controllerStatus = (c) => (c.self ? "self" : !c.alive ? "silent" : c.synced ? "synced" : "syncing")

/**
 * The Controllers section, or undefined when the controller is not federated: the controllers (this one first,
 * then by id) and one row per capability version any of them serves, with a cell per controller (same order)
 * holding what it announced for it (`workers`: routable ones, registered or healthy; `inFlight`, `maxInFlight`),
 * or undefined where it serves none. Rows sort by id, then newest version first.
 */
export const federationOf = (model) => {
  if (model.controllers === undefined) return undefined
  const controllers = [...model.controllers]
    .sort((a, b) => Number(b.self === true) - Number(a.self === true) || byId(a.id, b.id))
    .map((c) => ({ ...c, status: controllerStatus(c) }))
  const rows = new Map()
  controllers.forEach((controller, column) => {
    for (const c of controller.capabilities) {
      let row = rows.get(capKey(c))
      if (row === undefined) rows.set(capKey(c), (row = { id: c.id, version: c.version, cells: controllers.map(() => undefined), workers: 0 }))
      row.cells[column] = { workers: c.workers, inFlight: c.inFlight, maxInFlight: c.maxInFlight }
      row.workers += c.workers
    }
  })
  const capabilities = [...rows.values()].sort((a, b) => byId(a.id, b.id) || byId(b.version, a.version))
  return { controllers, capabilities }
}
