/**
 * A {@link MachineGraph} as Mermaid `stateDiagram-v2` text, for Markdown (GitHub renders it) and the dashboard.
 *
 * Nested states become composite states (`state b { … }`), parallel regions are separated by `--`, and each
 * transition is declared in the innermost composite that holds both of its ends, as Mermaid requires.
 * Transitions between the same two states share one arrow whose label has a line (`<br/>`) for each.
 * Transitions declared on the machine itself (they apply in every state) leave a pseudo-state "any state".
 */
import {
  currentIds,
  edgeLabel,
  enclosingState,
  type GraphState,
  type GraphTransition,
  type MachineGraph,
  machineRoot,
  type RenderOptions,
} from "./machineGraph.ts"

export interface MermaidOptions extends RenderOptions {
  /** Print each state's description inside its box (`state : text`). Default false: the boxes stay small. */
  readonly descriptions?: boolean
}

/** The class given to highlighted states; its style is declared with `classDef` in the output. */
export const mermaidCurrentClass = "current"
const currentStyle = "fill:#ffd54f,stroke:#e65100,stroke-width:3px,color:#000,font-weight:bold"

/**
 * @example
 * ```ts
 * mermaid(machineGraph(workerLifecycle), { current: "healthy" })
 * // stateDiagram-v2
 * //   [*] --> starting
 * //   starting --> registered : REGISTERED
 * //   starting --> stopped : DRAIN<br/>DEREGISTERED
 * //   …
 * //   classDef current fill:#ffd54f,…
 * //   class healthy current
 * ```
 */
export const mermaid = (graph: MachineGraph, options: MermaidOptions = {}): string => {
  const current = currentIds(graph, options.current)
  const ids = mermaidIds(graph)
  const idOf = (stateId: string): string => ids.get(stateId) ?? stateId
  const byId = new Map(graph.states.map((state) => [state.id, state]))

  const children = new Map<string | undefined, Array<GraphState>>()
  for (const state of graph.states) push(children, state.parent, state)
  const edges = new Map<string | undefined, Array<GraphTransition>>()
  for (const transition of graph.transitions) push(edges, enclosingState(graph, transition), transition)

  const lines = ["stateDiagram-v2"]
  if (options.direction !== undefined) lines.push(`  direction ${options.direction}`)

  const block = (parent: string | undefined, indent: string): void => {
    const initial = parent === undefined ? graph.initial : byId.get(parent)?.initial
    if (initial !== undefined) lines.push(`${indent}[*] --> ${idOf(initial)}`)
    if (parent === undefined && graph.transitions.some((t) => t.from === machineRoot)) {
      lines.push(`${indent}state "any state" as ${idOf(machineRoot)}`)
    }
    const kids = children.get(parent) ?? []
    const parallel = parent !== undefined && byId.get(parent)?.kind === "parallel"
    kids.forEach((state, index) => {
      if (parallel && index > 0) lines.push(`${indent}--`)
      const id = idOf(state.id)
      // Declared even when an edge would create it: a state with no edges must still be drawn.
      lines.push(id === state.key ? `${indent}${id}` : `${indent}state "${text(state.key)}" as ${id}`)
      if (children.has(state.id)) {
        lines.push(`${indent}state ${id} {`)
        block(state.id, `${indent}  `)
        lines.push(`${indent}}`)
      }
      if (options.descriptions === true && state.description !== undefined) {
        lines.push(`${indent}${id} : ${text(state.description)}`)
      }
    })
    // Transitions between the same two states share one arrow with a label line each, as in the DOT picture:
    // Mermaid draws parallel arrows as separate curves whose labels pile up.
    const shared = new Map<string, Array<string>>()
    for (const t of edges.get(parent) ?? []) {
      const arrow = `${idOf(t.from)} --> ${idOf(t.to)}`
      const labels = shared.get(arrow)
      if (labels === undefined) shared.set(arrow, [text(edgeLabel(t))])
      else labels.push(text(edgeLabel(t)))
    }
    for (const [arrow, labels] of shared) lines.push(`${indent}${arrow} : ${labels.join("<br/>")}`)
    for (const state of kids) if (state.final) lines.push(`${indent}${idOf(state.id)} --> [*]`)
  }
  block(undefined, "  ")

  if (current.size > 0) {
    lines.push(`  classDef ${mermaidCurrentClass} ${currentStyle}`)
    lines.push(`  class ${[...current].map(idOf).join(",")} ${mermaidCurrentClass}`)
  }
  return `${lines.join("\n")}\n`
}

const push = <K, V>(map: Map<K, Array<V>>, key: K, value: V): void => {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

/**
 * Mermaid ids are plain words: dotted paths become `a_b`, and clashes (`a.b` beside a state named `a_b`) get
 * a numeric suffix. States whose id had to change are declared with their key as the label.
 */
const mermaidIds = (graph: MachineGraph): ReadonlyMap<string, string> => {
  const ids = new Map<string, string>()
  const taken = new Set<string>()
  const claim = (stateId: string, wanted: string): void => {
    let base = wanted.replace(/\W/g, "_")
    if (!/^[A-Za-z_]/.test(base)) base = `s_${base}`
    let id = base
    for (let n = 2; taken.has(id); n++) id = `${base}_${n}`
    taken.add(id)
    ids.set(stateId, id)
  }
  // Simple keys first, so the common case keeps its own name.
  for (const state of graph.states) if (/^[A-Za-z_]\w*$/.test(state.id)) claim(state.id, state.id)
  for (const state of graph.states) if (!ids.has(state.id)) claim(state.id, state.id)
  claim(machineRoot, "any_state")
  return ids
}

/** Mermaid reads `#`, `;`, quotes and angle brackets in labels as syntax or HTML; its entity codes keep them text. */
const text = (value: string): string => value.replace(/\s+/g, " ").replace(/[#;"<>]/g, (c) => entities[c] ?? c)

const entities: Readonly<Record<string, string>> = { "#": "#35;", ";": "#59;", '"': "#quot;", "<": "#lt;", ">": "#gt;" }
