// Crank dashboard: what the controller knows, live. Everything arrives pushed over server-sent events
// (/api/events): a full snapshot on connect, then each lifecycle transition as it happens and a periodic snapshot
// every second. The page never polls; ages tick locally from the timestamps it was sent.
// The lifecycle machine (states for the strips, the SVG for the detail) is fetched once, drawn from the xstate
// definition the controller runs.

const $ = (id) => document.getElementById(id)

/** Builds an element; text goes in as text, never as HTML (worker ids come from the network). */
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === "class") el.className = value
    else if (key === "dataset") Object.assign(el.dataset, value)
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value)
    else el.setAttribute(key, value === true ? "" : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
  return el
}

const fallbackStates = ["starting", "registered", "healthy", "stale", "draining", "stopped"]

const model = {
  /** State ids in the machine's own order. */
  states: fallbackStates,
  descriptions: {},
  /** The machine's transitions: what can happen next in each state. */
  transitions: [],
  workers: new Map(),
  /** Workers that stopped or vanished, newest first: { entry, at, from, event, transitions } */
  gone: [],
  activity: [],
  seen: new Set(),
  controller: undefined,
  capabilities: [],
  nodes: [],
  requests: [],
  /** The controller's clock minus ours, so ages are right even when the clocks disagree. */
  offset: 0,
  selected: undefined,
  filter: "",
  groupBy: localStorage.getItem("crank.groupBy") ?? "capability",
  stateFilter: undefined,
}

const goneKeepMs = 5 * 60_000
const goneMax = 25
const activityMax = 100
const timelineMax = 20

const now = () => Date.now() + model.offset

// ---------- formatting ----------

const pad = (n, width = 2) => String(n).padStart(width, "0")
const clock = (ms) => {
  const d = new Date(ms)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}
const age = (ms) => {
  if (ms < 0) ms = 0
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3_600_000)} h`
  return `${Math.round(ms / 86_400_000)} d`
}
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`
const capKey = (c) => `${c.id}@${c.version}`
const byId = (a, b) => a.localeCompare(b, undefined, { numeric: true })

// ---------- the model, fed by events ----------

const remember = (t) => {
  const key = `${t.workerId}|${t.at}|${t.from}|${t.to}`
  if (model.seen.has(key)) return false
  if (model.seen.size > 20_000) model.seen.clear()
  model.seen.add(key)
  return true
}

const addTimeline = (worker, t) => {
  const list = (worker.transitions ??= [])
  if (list.some((x) => x.at === t.at && x.from === t.from && x.to === t.to)) return
  list.push(t)
  if (list.length > timelineMax) list.splice(0, list.length - timelineMax)
}

const markGone = (worker, t) => {
  model.workers.delete(worker.id)
  model.gone = model.gone.filter((g) => g.entry.id !== worker.id)
  model.gone.unshift({
    entry: { ...worker, state: "stopped" },
    at: t?.at ?? now(),
    from: t?.from ?? worker.state,
    event: t?.event ?? "vanished",
  })
  if (model.gone.length > goneMax) model.gone.length = goneMax
}

const applySnapshot = (snapshot) => {
  model.offset = snapshot.now - Date.now()
  model.controller = snapshot.controller
  model.capabilities = snapshot.capabilities
  model.nodes = snapshot.nodes
  model.requests = snapshot.requests
  const fresh = new Map()
  for (const entry of snapshot.workers) {
    const previous = model.workers.get(entry.id)
    const worker = { ...entry, transitions: previous?.transitions ?? [] }
    if (snapshot.kind === "full") {
      worker.transitions = []
      for (const t of entry.transitions ?? []) {
        addTimeline(worker, t)
        remember(t)
      }
    }
    fresh.set(entry.id, worker)
    model.gone = model.gone.filter((g) => g.entry.id !== entry.id)
  }
  for (const [id, worker] of model.workers) if (!fresh.has(id)) markGone(worker)
  model.workers = fresh
  if (snapshot.kind === "full" && model.activity.length === 0) {
    model.activity = [...fresh.values()].flatMap((w) => w.transitions).sort((a, b) => b.at - a.at).slice(0, activityMax)
  }
}

const flashes = new Set()

const applyTransition = (t) => {
  if (!remember(t)) return
  model.activity.unshift(t)
  if (model.activity.length > activityMax) model.activity.length = activityMax
  const known = model.workers.get(t.workerId)
  const worker = t.worker ? { ...t.worker, transitions: known?.transitions ?? [] } : known
  if (worker === undefined) return
  addTimeline(worker, t)
  if (t.to === "stopped" || t.worker === undefined) return markGone(worker, t)
  model.workers.set(worker.id, worker)
  model.gone = model.gone.filter((g) => g.entry.id !== worker.id)
  flashes.add(worker.id)
}

// ---------- rendering ----------

let pending = false
const scheduleRender = () => {
  if (pending) return
  pending = true
  requestAnimationFrame(() => {
    pending = false
    render()
  })
}

const strip = (state) =>
  h(
    "span",
    { class: "strip", title: `lifecycle: ${model.states.join(" → ")}` },
    model.states.map((s) => h("i", { class: s === state ? "on" : "", title: s + (model.descriptions[s] ? `: ${model.descriptions[s]}` : "") })),
  )

const heartbeatClass = (ms) => {
  const timings = model.controller
  if (!timings) return "age"
  if (ms >= timings.staleAfterMs) return "age dead"
  // Ages are refreshed by the once-a-second snapshot: allow for that before calling a heartbeat late.
  if (ms >= Math.max(2 * timings.heartbeatIntervalMs, timings.heartbeatIntervalMs + 1500)) return "age late"
  return "age"
}

const rows = new Map()

const rowFor = (key, worker) => {
  let row = rows.get(key)
  if (row === undefined) {
    row = {
      el: h("div", { class: "row worker", role: "button", tabindex: "0", dataset: { workerId: worker.id } }),
      badge: h("span", { class: "badge state" }),
      id: h("span", { class: "id" }),
      node: h("span", { class: "node" }),
      strip: h("span"),
      load: h("b"),
      inFlight: h("span", { class: "n" }),
      done: h("span", { class: "num done" }),
      age: h("span", { class: "num age" }),
      last: h("span", { class: "last" }),
      state: undefined,
    }
    row.el.append(
      h("span", {}, row.badge),
      row.id,
      row.node,
      row.strip,
      h("span", { class: "num load" }, h("span", { class: "bar" }, row.load), row.inFlight),
      row.done,
      row.age,
      row.last,
    )
    const select = () => {
      model.selected = worker.id
      scheduleRender()
    }
    row.el.addEventListener("click", select)
    row.el.addEventListener("animationend", () => row.el.classList.remove("flash"))
    row.el.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), select()))
    rows.set(key, row)
  }
  if (row.state !== worker.state) {
    row.state = worker.state
    row.el.dataset.state = worker.state
    row.badge.textContent = worker.state
    row.strip.replaceChildren(strip(worker.state))
  }
  row.id.textContent = worker.id
  row.id.title = worker.address ? `${worker.id}\n${worker.address}` : worker.id
  row.node.textContent = worker.nodeId
  row.inFlight.textContent = worker.inFlight
  row.load.style.width = `${Math.min(100, (100 * worker.inFlight) / Math.max(1, worker.maxInFlight))}%`
  row.el.title = `${worker.inFlight} of ${worker.maxInFlight} in flight`
  row.done.textContent = worker.completed
  row.age.dataset.at = worker.lastHeartbeatAt
  const last = worker.transitions?.at(-1)
  row.last.replaceChildren(
    ...(last
      ? [
          h("span", { class: "arrow", title: `${last.from} → ${last.to} (${last.event}) at ${clock(last.at)}` }, "→ ", h("b", { class: "to", dataset: { state: last.to } }, last.to)),
          h("span", { class: "rel", dataset: { at: last.at } }),
        ]
      : []),
  )
  row.el.classList.toggle("selected", model.selected === worker.id)
  if (flashes.has(worker.id)) {
    row.el.classList.remove("flash")
    void row.el.offsetWidth
    row.el.classList.add("flash")
  }
  return row.el
}

const matches = (worker) => {
  if (model.stateFilter && worker.state !== model.stateFilter) return false
  if (!model.filter) return true
  const haystack = `${worker.id} ${worker.nodeId} ${worker.state} ${worker.capabilities.map(capKey).join(" ")}`.toLowerCase()
  return model.filter.split(/\s+/).every((token) => haystack.includes(token))
}

const groupsOf = (workers) => {
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

const titles = new Map()

/** A group's heading, kept across renders (a new element would force the whole list to be re-inserted). */
const groupTitle = (group) => {
  const key = `${model.groupBy}\u0000${group.key}`
  let el = titles.get(key)
  if (el === undefined) {
    el = h("div", { class: "group-title" })
    if (model.groupBy === "state") el.dataset.state = group.key
    titles.set(key, el)
  }
  const healthy = group.workers.filter((w) => w.state === "healthy").length
  const counts = h("span", { class: "muted" }, `${plural(group.workers.length, "worker")} · ${healthy} healthy`)
  if (model.groupBy === "capability" && group.title) {
    const described = model.capabilities.find((c) => c.id === group.title.id && c.version === group.title.version)
    el.replaceChildren(
      h("span", { class: "mono" }, group.title.id),
      h("span", { class: "muted" }, `@${group.title.version}`),
      described?.name && described.name !== group.title.id ? h("span", {}, described.name) : "",
      counts,
    )
  } else if (model.groupBy === "state") el.replaceChildren(h("span", { class: "badge" }, group.key), counts)
  else el.replaceChildren(h("span", { class: "mono" }, group.key), counts)
  return el
}

const renderWorkers = () => {
  const all = [...model.workers.values()]
  const shown = all.filter(matches)
  const groups = groupsOf(shown)
  const used = new Set()
  const children = []
  for (const group of groups) {
    if (model.groupBy !== "none") children.push(groupTitle(group))
    for (const worker of group.workers) {
      const key = `${group.key}\u0000${worker.id}`
      used.add(key)
      children.push(rowFor(key, worker))
    }
  }
  for (const key of rows.keys()) if (!used.has(key)) rows.delete(key)
  for (const [key, el] of titles) if (!children.includes(el)) titles.delete(key)
  // Re-inserting a row restarts its animations: only touch the list when its order changed.
  const list = $("workers")
  const current = list.children
  if (current.length !== children.length || children.some((child, i) => current[i] !== child)) list.replaceChildren(...children)
  $("empty").hidden = all.length > 0
  $("shown").textContent = shown.length === all.length ? plural(all.length, "worker") : `${shown.length} of ${all.length} workers`
  flashes.clear()
  return shown
}

const renderCounts = () => {
  const counts = Object.fromEntries(model.states.map((s) => [s, 0]))
  for (const w of model.workers.values()) counts[w.state] = (counts[w.state] ?? 0) + 1
  $("state-counts").replaceChildren(
    ...model.states
      .filter((s) => s !== "stopped")
      .map((s) =>
        h(
          "button",
          {
            class: `chip${counts[s] === 0 ? " zero" : ""}`,
            type: "button",
            dataset: { state: s, count: counts[s] },
            "aria-pressed": String(model.stateFilter === s),
            title: model.descriptions[s] ?? s,
            onclick: () => {
              model.stateFilter = model.stateFilter === s ? undefined : s
              scheduleRender()
            },
          },
          h("span", { class: "dot" }),
          s,
          h("b", {}, counts[s]),
        ),
      ),
  )
  const requests = model.requests.reduce((n, r) => n + Object.values(r.outcomes).reduce((a, b) => a + b, 0), 0)
  $("totals").replaceChildren(
    h("b", {}, model.workers.size), model.workers.size === 1 ? "worker · " : "workers · ",
    h("b", {}, model.nodes.length), model.nodes.length === 1 ? "node · " : "nodes · ",
    h("b", {}, model.capabilities.length), model.capabilities.length === 1 ? "capability · " : "capabilities · ",
    h("b", {}, requests), requests === 1 ? "request" : "requests",
  )
}

const renderTables = () => {
  const statsOf = (c) => model.requests.find((r) => r.capability === c.id && r.version === c.version)
  $("capabilities").replaceChildren(
    ...[...model.capabilities]
      .sort((a, b) => byId(a.id, b.id) || byId(b.version, a.version))
      .map((c) => {
        const stats = statsOf(c)
        const total = stats ? Object.values(stats.outcomes).reduce((a, b) => a + b, 0) : 0
        const errors = stats ? total - (stats.outcomes.OK ?? 0) : 0
        const healthy = c.workers.filter((id) => model.workers.get(id)?.state === "healthy").length
        return h(
          "tr",
          { title: c.description },
          h("td", {}, h("code", {}, c.id)),
          h("td", {}, c.version),
          h("td", { class: "num" }, `${healthy}/${c.workers.length}`),
          h("td", { class: "num" }, total),
          h("td", { class: `num${errors > 0 ? " bad" : ""}`, title: stats ? Object.entries(stats.outcomes).map(([k, v]) => `${k}: ${v}`).join("\n") : "" }, errors),
          h("td", { class: "num" }, total > 0 ? `${(stats.latencySumMs / total).toFixed(1)} ms` : "–"),
        )
      }),
  )
  if (model.capabilities.length === 0) $("capabilities").append(h("tr", {}, h("td", { colspan: 6, class: "nothing" }, "none advertised")))
  $("nodes").replaceChildren(
    ...[...model.nodes]
      .sort((a, b) => byId(a.id, b.id))
      .map((n) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, n.id)),
          h("td", { class: "num" }, n.workers.length),
          h("td", {}, h("span", { class: "pips" }, n.workers.map((id) => {
            const state = model.workers.get(id)?.state ?? "stopped"
            return h("i", { dataset: { state }, title: `${id}: ${state}` })
          }))),
        ),
      ),
  )
  if (model.nodes.length === 0) $("nodes").append(h("tr", {}, h("td", { colspan: 3, class: "nothing" }, "none")))
}

const renderGone = () => {
  const cutoff = now() - goneKeepMs
  model.gone = model.gone.filter((g) => g.at >= cutoff)
  $("gone-section").hidden = model.gone.length === 0
  $("gone-count").textContent = model.gone.length ? `(${model.gone.length})` : ""
  $("gone").replaceChildren(
    ...model.gone.map((g) =>
      h(
        "div",
        { class: "row", dataset: { workerId: g.entry.id, state: "stopped" } },
        h("span", {}, h("span", { class: "badge" }, "stopped")),
        h("span", { class: "id mono" }, g.entry.id),
        h("span", {}, g.entry.nodeId),
        h("span", { class: "arrow" }, `${g.from} → stopped `, h("span", { class: "event" }, g.event)),
        h("span", { class: "num rel", dataset: { at: g.at } }),
      ),
    ),
  )
}

let machineSvg
let litState

const renderDetail = (shown) => {
  if (model.selected === undefined || (!model.workers.has(model.selected) && !model.gone.some((g) => g.entry.id === model.selected))) {
    model.selected = shown[0]?.id ?? model.workers.keys().next().value
  }
  const live = model.workers.get(model.selected)
  const gone = live ? undefined : model.gone.find((g) => g.entry.id === model.selected)
  const worker = live ?? gone?.entry
  const state = worker?.state
  $("detail").dataset.state = state ?? ""
  $("detail-id").textContent = worker ? worker.id : "(no worker)"
  const badge = $("detail-state")
  badge.textContent = state ?? ""
  badge.hidden = !state
  badge.dataset.state = state ?? ""
  if (litState !== state) {
    litState = state
    $("machine").dataset.state = state ?? ""
    if (machineSvg) for (const node of machineSvg.querySelectorAll("g.node.state")) node.classList.toggle("current", node.dataset.stateId === state)
    const next = model.transitions.filter((t) => t.from === state)
    $("next").replaceChildren(
      ...(next.length === 0
        ? [h("span", { class: "muted" }, state === "stopped" ? "final state" : "")]
        : next.map((t) => h("span", { class: "next", dataset: { state: t.to } }, h("code", {}, t.event), " → ", h("span", { class: "to" }, t.to)))),
    )
    $("machine-full").href = `/api/diagram.svg${state ? `?current=${encodeURIComponent(state)}` : ""}`
  }
  const facts = $("detail-facts")
  if (!worker) {
    facts.replaceChildren()
    $("timeline").replaceChildren(h("li", { class: "nothing" }, "Select a worker to see its lifecycle."))
    return
  }
  const fact = (label, value) => [h("dt", {}, label), h("dd", { title: typeof value === "string" ? value : "" }, value)]
  facts.replaceChildren(
    ...fact("node", worker.nodeId),
    ...fact("address", worker.address ?? "(via the controller)"),
    ...fact("serves", worker.capabilities.map(capKey).join(", ") || "—"),
    ...fact("in flight", `${worker.inFlight} of ${worker.maxInFlight}`),
    ...fact("completed", String(worker.completed)),
    ...fact("registered", h("span", {}, clock(worker.registeredAt), " · ", h("span", { class: "rel", dataset: { at: worker.registeredAt } }))),
    ...(gone ? fact("gone", h("span", {}, `${gone.from} → stopped (${gone.event}) · `, h("span", { class: "rel", dataset: { at: gone.at } }))) : []),
  )
  const timeline = [...(worker.transitions ?? [])].reverse()
  $("timeline").replaceChildren(
    ...(timeline.length === 0
      ? [h("li", { class: "nothing" }, "No transitions yet.")]
      : timeline.map((t) =>
          h(
            "li",
            {},
            h("span", { class: "time" }, clock(t.at)),
            h("span", { class: "arrow" }, `${t.from} → `, h("span", { class: "to", dataset: { state: t.to } }, t.to)),
            h("span", { class: "event" }, t.event),
          ),
        )),
  )
}

const renderActivity = () => {
  $("activity").replaceChildren(
    ...(model.activity.length === 0
      ? [h("li", { class: "nothing" }, "Waiting for lifecycle changes…")]
      : model.activity.slice(0, 40).map((t) =>
          h(
            "li",
            {
              onclick: () => {
                model.selected = t.workerId
                scheduleRender()
              },
            },
            h("span", { class: "time" }, clock(t.at)),
            h("span", { class: "who", title: t.workerId }, t.workerId),
            h("span", { class: "arrow" }, `${t.from} → `, h("span", { class: "to", dataset: { state: t.to } }, t.to)),
            h("span", { class: "event" }, t.event),
          ),
        )),
  )
}

const renderHeader = () => {
  const c = model.controller
  if (!c) return
  $("controller-address").textContent = c.address
  $("controller-timings").textContent = `${age(c.heartbeatIntervalMs)} · stale ${age(c.staleAfterMs)} · evict ${age(c.evictAfterMs)}`
}

const render = () => {
  renderHeader()
  renderCounts()
  const shown = renderWorkers()
  renderGone()
  renderTables()
  renderDetail(shown)
  renderActivity()
  tick()
}

/** Ages tick here, from timestamps already received: no request goes to the server. */
const tick = () => {
  const t = now()
  for (const el of document.querySelectorAll(".age[data-at]")) {
    const ms = t - Number(el.dataset.at)
    el.textContent = age(ms)
    el.className = `num ${heartbeatClass(ms)}`
  }
  for (const el of document.querySelectorAll(".rel[data-at]")) el.textContent = `${age(t - Number(el.dataset.at))} ago`
  if (model.controller) $("controller-uptime").textContent = age(t - model.controller.startedAt)
}

// ---------- wiring ----------

const setConnection = (status, text) => {
  const el = $("connection")
  el.className = `connection ${status}`
  el.textContent = text
}

const loadMachine = async () => {
  try {
    const [machine, svg] = await Promise.all([
      fetch("/api/machine.json").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`)))),
      fetch("/api/diagram.svg?labels=none").then((r) => (r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`)))),
    ])
    model.states = machine.states.filter((s) => s.parent === undefined).map((s) => s.id)
    model.descriptions = Object.fromEntries(machine.states.map((s) => [s.id, s.description]))
    model.transitions = machine.transitions
    const holder = $("machine")
    holder.innerHTML = svg.slice(svg.indexOf("<svg"))
    machineSvg = holder.querySelector("svg")
    machineSvg.removeAttribute("width")
    machineSvg.removeAttribute("height")
    for (const node of machineSvg.querySelectorAll("g.node.state")) node.dataset.stateId = node.querySelector("title")?.textContent ?? ""
  } catch (error) {
    $("machine").textContent = `The lifecycle diagram could not be loaded (${error.message}).`
  }
}

let reconnectDelayMs = 1_000

const connect = () => {
  const source = new EventSource("/api/events")
  source.addEventListener("open", () => {
    reconnectDelayMs = 1_000
    setConnection("live", "live")
  })
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED) return setConnection("reconnecting", "reconnecting…")
    // The browser retries a dropped stream by itself, but gives up on an HTTP error (a controller shutting down
    // answers 503): start a new stream later, backing off to 30 s.
    setConnection("reconnecting", "disconnected, retrying…")
    setTimeout(connect, reconnectDelayMs)
    reconnectDelayMs = Math.min(30_000, reconnectDelayMs * 2)
  })
  source.addEventListener("snapshot", (e) => {
    applySnapshot(JSON.parse(e.data))
    setConnection("live", "live")
    scheduleRender()
  })
  source.addEventListener("transition", (e) => {
    applyTransition(JSON.parse(e.data))
    scheduleRender()
  })
}

const start = async () => {
  const filter = $("filter")
  filter.addEventListener("input", () => {
    model.filter = filter.value.trim().toLowerCase()
    scheduleRender()
  })
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== filter) {
      e.preventDefault()
      filter.focus()
    }
  })
  const groupBy = $("group-by")
  groupBy.value = model.groupBy
  groupBy.addEventListener("change", () => {
    model.groupBy = groupBy.value
    localStorage.setItem("crank.groupBy", groupBy.value)
    scheduleRender()
  })
  await loadMachine()
  connect()
  setInterval(tick, 250)
}

start()
