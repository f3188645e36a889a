// Crank dashboard: what the controller knows, live. Everything arrives pushed over server-sent events
// (/api/events): a full snapshot on connect, then each lifecycle transition as it happens and a periodic snapshot
// every second. The page never polls; ages tick locally from the timestamps it was sent. The lifecycle machine
// (its states, in order, for the strips and counts; its SVG for the detail) is fetched once at start, drawn from
// the xstate definition the controller runs.
//
// ES modules, no build step: model.js (pure state), render.js (DOM), connect.js (the event stream), this entry.

import { connect } from "./connect.js"
import { applyMachine, applySnapshot, applyTransition, makeModel } from "./model.js"
import { makeRenderer } from "./render.js"

const model = makeModel(localStorage.getItem("crank.groupBy") ?? "capability")
const view = makeRenderer(model)

const fetchOk = (url, read) => fetch(url).then((r) => (r.ok ? read(r) : Promise.reject(new Error(`HTTP ${r.status}`))))

const loadMachine = async () => {
  try {
    const [machine, svg] = await Promise.all([fetchOk("/api/machine.json", (r) => r.json()), fetchOk("/api/diagram.svg?labels=none", (r) => r.text())])
    applyMachine(model, machine)
    view.showMachine(svg)
  } catch (error) {
    view.showMachineError(error.message)
  }
}

const wireControls = () => {
  const filter = document.getElementById("filter")
  filter.addEventListener("input", () => {
    model.filter = filter.value.trim().toLowerCase()
    view.schedule()
  })
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== filter) {
      e.preventDefault()
      filter.focus()
    }
  })
  const groupBy = document.getElementById("group-by")
  groupBy.value = model.groupBy
  groupBy.addEventListener("change", () => {
    model.groupBy = groupBy.value
    localStorage.setItem("crank.groupBy", groupBy.value)
    view.schedule()
  })
}

wireControls()
await loadMachine()
connect({
  onSnapshot: (snapshot) => {
    applySnapshot(model, snapshot, Date.now())
    view.schedule()
  },
  onTransition: (transition) => {
    applyTransition(model, transition)
    view.schedule()
  },
  onStatus: view.setConnection,
})
setInterval(view.tick, 250)
