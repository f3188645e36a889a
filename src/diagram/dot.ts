/**
 * A {@link MachineGraph} as Graphviz DOT text, the input of the SVG renderer (and of any `dot` binary).
 *
 * Conventions of statecharts: a small filled point marks where the machine starts, final states are double
 * circles, edges read `EVENT [guard]`, and transitions between the same two states share one edge with a label
 * line each. Nested states are clusters; an edge to or from a compound state is drawn to
 * the cluster's border (`compound=true` with `lhead`/`ltail`). Descriptions become tooltips, and each state node
 * carries `class="state"` (plus `current` when lit), which Graphviz copies into the SVG for the dashboard's CSS.
 */
import { currentIds, edgeLabel, type GraphState, type MachineGraph, machineRoot, type RenderOptions } from "./machineGraph.ts"

export interface DotOptions extends RenderOptions {}

/** The class Graphviz writes on highlighted state nodes in SVG output. */
export const dotCurrentClass = "current"

const font = "Helvetica,Arial,sans-serif"
const palette = {
  stroke: "#4a5568",
  fill: "#f7fafc",
  cluster: "#edf2f7",
  currentFill: "#ffd54f",
  currentStroke: "#e65100",
  edge: "#2d3748",
} as const

/**
 * @example
 * ```ts
 * dot(machineGraph(workerLifecycle), { current: "stale" })
 * // digraph "worker" {
 * //   rankdir=TB; …
 * //   "[*]" [shape=point …]
 * //   "[*]" -> "starting"
 * //   "healthy" -> "stale" [label="HEARTBEAT_TIMEOUT"]
 * //   …
 * ```
 */
export const dot = (graph: MachineGraph, options: DotOptions = {}): string => {
  const current = currentIds(graph, options.current)
  const byId = new Map(graph.states.map((state) => [state.id, state]))
  const children = new Map<string | undefined, Array<GraphState>>()
  for (const state of graph.states) {
    const list = children.get(state.parent)
    if (list === undefined) children.set(state.parent, [state])
    else list.push(state)
  }
  const isCluster = (id: string): boolean => children.has(id)
  const clusterName = (id: string): string => `cluster_${id}`
  const initialNode = (id: string | undefined): string => (id === undefined ? "[*]" : `[*]${id}`)
  // Graphviz has no edges to clusters: an edge to a compound state ends on a node inside it, clipped at the border.
  const anchor = (id: string): string => {
    const kids = children.get(id)
    if (kids === undefined) return id
    const inner = byId.get(id)?.initial ?? kids[0]?.id
    return inner === undefined ? id : anchor(inner)
  }
  const anyState = "[any]"
  const inside = (id: string, cluster: string): boolean => id === cluster || id.startsWith(`${cluster}.`)

  const lines = [
    `digraph ${quote(graph.id)} {`,
    `  rankdir=${options.direction ?? "TB"}; compound=true; newrank=true; nodesep=0.5; ranksep=0.45;`,
    `  fontname=${quote(font)}; fontsize=12; labeljust=l;`,
    `  node [shape=box, style="rounded,filled", fillcolor=${quote(palette.fill)}, color=${quote(palette.stroke)}, fontname=${quote(font)}, fontsize=12, margin="0.2,0.06"];`,
    `  edge [color=${quote(palette.edge)}, fontname=${quote(font)}, fontsize=10, arrowsize=0.7];`,
  ]

  const block = (parent: string | undefined, indent: string): void => {
    const initial = parent === undefined ? graph.initial : byId.get(parent)?.initial
    if (initial !== undefined) {
      const point = initialNode(parent)
      lines.push(`${indent}${quote(point)} [shape=point, width=0.15, label="", fillcolor=${quote(palette.edge)}, tooltip="start"];`)
      lines.push(`${indent}${quote(point)} -> ${quote(anchor(initial))}${isCluster(initial) ? ` [lhead=${quote(clusterName(initial))}]` : ""};`)
    }
    for (const state of children.get(parent) ?? []) {
      const lit = current.has(state.id)
      if (isCluster(state.id)) {
        lines.push(`${indent}subgraph ${quote(clusterName(state.id))} {`)
        lines.push(
          `${indent}  label=${quote(state.kind === "parallel" ? `${state.key} (parallel)` : state.key)}; style="rounded,filled${state.kind === "parallel" ? ",dashed" : ""}";` +
            ` fillcolor=${quote(lit ? palette.currentFill : palette.cluster)}; color=${quote(lit ? palette.currentStroke : palette.stroke)};` +
            (lit ? ` penwidth=2.5; class=${quote(dotCurrentClass)};` : "") +
            (state.description === undefined ? "" : ` tooltip=${quote(state.description)};`),
        )
        block(state.id, `${indent}  `)
        lines.push(`${indent}}`)
        continue
      }
      const attributes = [
        `label=${quote(state.kind === "history" ? `H ${state.key}` : state.key)}`,
        `class=${quote(lit ? `state ${dotCurrentClass}` : "state")}`,
      ]
      if (state.final) attributes.push("shape=doublecircle", `margin="0.04"`)
      if (state.kind === "history") attributes.push("shape=circle")
      if (lit) {
        attributes.push(`fillcolor=${quote(palette.currentFill)}`, `color=${quote(palette.currentStroke)}`, "penwidth=2.5")
        attributes.push(`fontname=${quote(`Helvetica-Bold,Arial-Bold,sans-serif`)}`)
      }
      if (state.description !== undefined) attributes.push(`tooltip=${quote(state.description)}`)
      lines.push(`${indent}${quote(state.id)} [${attributes.join(", ")}];`)
    }
  }
  block(undefined, "  ")

  if (graph.transitions.some((t) => t.from === machineRoot)) {
    lines.push(
      `  ${quote(anyState)} [label="any state", shape=note, style=filled, tooltip="Transitions declared on the machine itself apply in every state."];`,
    )
  }
  // Transitions between the same two states share one edge with a label line each: the lifecycle has several
  // (DRAIN and DEREGISTERED both stop a starting worker), and separate parallel curves make the picture unreadable.
  const merged = new Map<string, { tail: string; head: string; labels: Array<string>; clip: Array<string> }>()
  for (const t of graph.transitions) {
    const clip: Array<string> = []
    if (t.from !== machineRoot && isCluster(t.from) && !inside(t.to, t.from)) clip.push(`ltail=${quote(clusterName(t.from))}`)
    if (isCluster(t.to) && !inside(t.from, t.to)) clip.push(`lhead=${quote(clusterName(t.to))}`)
    const tail = t.from === machineRoot ? anyState : anchor(t.from)
    const head = anchor(t.to)
    const key = JSON.stringify([tail, head, clip])
    const edge = merged.get(key)
    if (edge === undefined) merged.set(key, { tail, head, labels: [edgeLabel(t)], clip })
    else edge.labels.push(edgeLabel(t))
  }
  for (const { tail, head, labels, clip } of merged.values()) {
    lines.push(`  ${quote(tail)} -> ${quote(head)} [${[`label=${quote(labels.join("\n"))}`, ...clip].join(", ")}];`)
  }
  lines.push("}")
  return `${lines.join("\n")}\n`
}

/** A DOT double-quoted string: only `"` needs escaping, and `\` so Graphviz's own escapes (`\n`, `\N`) stay text. */
const quote = (value: string): string => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`
