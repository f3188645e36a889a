// The lifecycle panel: the selected worker's facts, the machine drawn once (the SVG of /api/diagram.svg) with the
// worker's state lit by a CSS class, what can happen next, and the worker's recent transitions.

import { $, arrowTo, h } from "./dom.js"
import { clock } from "./format.js"
import { capKey, nextTransitions, selectedWorker } from "./model.js"

/** The panel for `model`'s selected worker: `render(shown)` picks one among the shown workers when none is. */
export const makeDetail = (model) => {
  let machineSvg
  let litState = null

  const render = (shown) => {
    const { worker, gone } = selectedWorker(model, shown)
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
      const next = nextTransitions(model, state)
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
              h("span", { class: "arrow" }, ...arrowTo(t.from, t.to)),
              h("span", { class: "event" }, t.event),
            ),
          )),
    )
  }

  /** Puts the machine's drawing (the SVG text of /api/diagram.svg) in the detail panel. */
  const showMachine = (svg) => {
    const holder = $("machine")
    holder.innerHTML = svg.slice(svg.indexOf("<svg"))
    machineSvg = holder.querySelector("svg")
    machineSvg.removeAttribute("width")
    machineSvg.removeAttribute("height")
    for (const node of machineSvg.querySelectorAll("g.node.state")) node.dataset.stateId = node.querySelector("title")?.textContent ?? ""
    litState = null
  }

  const showMachineError = (message) => {
    $("machine").textContent = `The lifecycle diagram could not be loaded (${message}).`
  }

  return { render, showMachine, showMachineError }
}
