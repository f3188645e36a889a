// Draws the model (model.js) into index.html's elements. Rows and group headings are kept across renders and
// only re-inserted when the list's order changes (re-inserting restarts their animations); renders are batched
// into animation frames; ages tick from timestamps already received, without asking the server.

import { makeDetail } from "./detail.js"
import { $, arrowTo, h } from "./dom.js"
import { age, clock, plural } from "./format.js"
import { byId, capabilityRows, countsOf, federationOf, heartbeatLevel, pruneGone, serverNow, totalRequests, visibleWorkers } from "./model.js"

/** A renderer for `model`: `schedule()` after changing it; `tick()` refreshes the ages only. */
export const makeRenderer = (model) => {
  const rows = new Map()
  const titles = new Map()
  let pending = false
  const detail = makeDetail(model)

  const schedule = () => {
    if (pending) return
    pending = true
    requestAnimationFrame(() => {
      pending = false
      render()
    })
  }

  const select = (id) => {
    model.selected = id
    schedule()
  }

  const strip = (state) =>
    h(
      "span",
      { class: "strip", title: `lifecycle: ${model.states.join(" → ")}` },
      model.states.map((s) => h("i", { class: s === state ? "on" : "", title: s + (model.descriptions[s] ? `: ${model.descriptions[s]}` : "") })),
    )

  const rowFor = (key, worker) => {
    let row = rows.get(key)
    if (row === undefined) {
      row = {
        el: h("div", { class: "row worker", role: "button", tabindex: "0", dataset: { workerId: worker.id } }),
        badge: h("span", { class: "badge state" }),
        breaker: h("span", { class: "badge breaker", title: "the controller's breaker for this worker: its relay skips it but for one probe" }),
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
        h("span", {}, row.badge, row.breaker),
        row.id,
        row.node,
        row.strip,
        h("span", { class: "num load" }, h("span", { class: "bar" }, row.load), row.inFlight),
        row.done,
        row.age,
        row.last,
      )
      row.el.addEventListener("click", () => select(worker.id))
      row.el.addEventListener("animationend", () => row.el.classList.remove("flash"))
      row.el.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), select(worker.id)))
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
    // Shown only while not closed (older controllers send no breaker at all).
    const breakerShown = worker.breaker === "open" || worker.breaker === "half-open"
    row.breaker.hidden = !breakerShown
    row.breaker.textContent = breakerShown ? `breaker ${worker.breaker}` : ""
    row.inFlight.textContent = worker.inFlight
    row.load.style.width = `${Math.min(100, (100 * worker.inFlight) / Math.max(1, worker.maxInFlight))}%`
    row.el.title = `${worker.inFlight} of ${worker.maxInFlight} in flight`
    row.done.textContent = worker.completed
    row.age.dataset.at = worker.lastHeartbeatAt
    const last = worker.transitions?.at(-1)
    row.last.replaceChildren(
      ...(last
        ? [
            h(
              "span",
              { class: "arrow", title: `${last.from} → ${last.to} (${last.event}) at ${clock(last.at)}` },
              "→ ",
              h("b", { class: "to", dataset: { state: last.to } }, last.to),
            ),
            h("span", { class: "rel", dataset: { at: last.at } }),
          ]
        : []),
    )
    row.el.classList.toggle("selected", model.selected === worker.id)
    if (model.flashes.has(worker.id)) {
      row.el.classList.remove("flash")
      void row.el.offsetWidth
      row.el.classList.add("flash")
    }
    return row.el
  }

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
    const { all, shown, groups } = visibleWorkers(model)
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
    model.flashes.clear()
    return shown
  }

  const renderCounts = () => {
    const counts = countsOf(model)
    const chip = (s) =>
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
            schedule()
          },
        },
        h("span", { class: "dot" }),
        s,
        h("b", {}, counts[s]),
      )
    $("state-counts").replaceChildren(...model.states.filter((s) => s !== "stopped").map(chip))
    const requests = totalRequests(model)
    const n = (count, one, many) => [h("b", {}, count), count === 1 ? one : many]
    $("totals").replaceChildren(
      ...n(model.workers.size, "worker · ", "workers · "),
      ...n(model.nodes.length, "node · ", "nodes · "),
      ...n(model.capabilities.length, "capability · ", "capabilities · "),
      ...n(requests, "request", "requests"),
    )
  }

  const renderTables = () => {
    const caps = capabilityRows(model)
    $("capabilities").replaceChildren(
      ...caps.map(({ capability: c, stats, total, errors, healthy, meanMs }) =>
        h(
          "tr",
          { title: c.description },
          h("td", {}, h("code", {}, c.id)),
          h("td", {}, c.version),
          h("td", { class: "num" }, `${healthy}/${c.workers.length}`),
          h("td", { class: "num" }, total),
          h(
            "td",
            {
              class: `num${errors > 0 ? " bad" : ""}`,
              title: stats
                ? Object.entries(stats.outcomes)
                    .map(([k, v]) => `${k}: ${v}`)
                    .join("\n")
                : "",
            },
            errors,
          ),
          h("td", { class: "num" }, meanMs === undefined ? "–" : `${meanMs.toFixed(1)} ms`),
        ),
      ),
    )
    if (caps.length === 0) $("capabilities").append(h("tr", {}, h("td", { colspan: 6, class: "nothing" }, "none advertised")))
    const pips = (ids) =>
      ids.map((id) => {
        const state = model.workers.get(id)?.state ?? "stopped"
        return h("i", { dataset: { state }, title: `${id}: ${state}` })
      })
    $("nodes").replaceChildren(
      ...[...model.nodes]
        .sort((a, b) => byId(a.id, b.id))
        .map((n) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, n.id)),
            h("td", { class: "num" }, n.workers.length),
            h("td", {}, h("span", { class: "pips" }, pips(n.workers))),
          ),
        ),
    )
    if (model.nodes.length === 0) $("nodes").append(h("tr", {}, h("td", { colspan: 3, class: "nothing" }, "none")))
  }

  /** What each status means, on hover. */
  const statusTitles = {
    self: "this controller: the one this page talks to",
    synced: "heard within the stale period, its snapshot applied: requests may be forwarded to it",
    syncing: "heard from, its snapshot not applied yet: nothing is forwarded to it",
    silent: "not heard within the stale period: dropped with its routes at the next check",
  }

  /** The federation's controllers and where each capability lives; hidden when the controller is not federated. */
  const renderControllers = () => {
    const federation = federationOf(model)
    $("controllers-section").hidden = federation === undefined
    if (federation === undefined) return
    const { controllers, capabilities } = federation
    $("controllers-count").textContent = `(${controllers.length})`
    $("controllers").replaceChildren(
      ...controllers.map((c) =>
        h(
          "tr",
          { class: c.self ? "self" : undefined, dataset: { controllerId: c.id, status: c.status } },
          h("td", {}, h("code", {}, c.id), c.self ? h("span", { class: "muted" }, " (this one)") : ""),
          h("td", {}, h("span", { class: "badge fed", title: statusTitles[c.status] }, c.status)),
          h("td", { class: "num" }, c.self ? "–" : h("span", { class: "rel", dataset: { at: c.lastHeardAt } })),
          h("td", {}, h("code", {}, c.address || "–")),
        ),
      ),
    )
    $("placement-head").replaceChildren(
      h(
        "tr",
        {},
        h("th", {}, "capability"),
        h("th", {}, "version"),
        ...controllers.map((c) => h("th", { class: "num", title: c.address }, c.self ? `${c.id} (this)` : c.id)),
      ),
    )
    $("placement").replaceChildren(
      ...capabilities.map((row) =>
        h(
          "tr",
          { dataset: { capability: `${row.id}@${row.version}` } },
          h("td", {}, h("code", {}, row.id)),
          h("td", {}, row.version),
          ...row.cells.map((cell, i) =>
            h(
              "td",
              {
                class: cell === undefined ? "num none" : "num",
                dataset: { controllerId: controllers[i].id },
                title: cell === undefined ? `none behind ${controllers[i].id}` : `${cell.inFlight} of ${cell.maxInFlight} in flight`,
              },
              cell === undefined ? "–" : cell.workers,
            ),
          ),
        ),
      ),
    )
    if (capabilities.length === 0) $("placement").append(h("tr", {}, h("td", { colspan: 2 + controllers.length, class: "nothing" }, "none advertised")))
  }

  const renderGone = () => {
    pruneGone(model, Date.now())
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

  const renderActivity = () => {
    $("activity").replaceChildren(
      ...(model.activity.length === 0
        ? [h("li", { class: "nothing" }, "Waiting for lifecycle changes…")]
        : model.activity
            .slice(0, 40)
            .map((t) =>
              h(
                "li",
                { onclick: () => select(t.workerId) },
                h("span", { class: "time" }, clock(t.at)),
                h("span", { class: "who", title: t.workerId }, t.workerId),
                h("span", { class: "arrow" }, ...arrowTo(t.from, t.to)),
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

  /** Ages tick here, from timestamps already received: no request goes to the server. */
  const tick = () => {
    const t = serverNow(model, Date.now())
    for (const el of document.querySelectorAll(".age[data-at]")) {
      const ms = t - Number(el.dataset.at)
      el.textContent = age(ms)
      el.className = `num age ${heartbeatLevel(model, ms)}`.trimEnd()
    }
    for (const el of document.querySelectorAll(".rel[data-at]")) el.textContent = `${age(t - Number(el.dataset.at))} ago`
    if (model.controller) $("controller-uptime").textContent = age(t - model.controller.startedAt)
  }

  const render = () => {
    renderHeader()
    renderCounts()
    const shown = renderWorkers()
    renderGone()
    renderTables()
    renderControllers()
    detail.render(shown)
    renderActivity()
    tick()
  }

  const setConnection = (status, text) => {
    const el = $("connection")
    el.className = `connection ${status}`
    el.textContent = text
  }

  return { schedule, tick, showMachine: detail.showMachine, showMachineError: detail.showMachineError, setConnection }
}
