/**
 * An xstate 5 machine definition as a small, neutral graph: the one thing every diagram format is drawn from.
 *
 * The walk reads the machine's resolved state nodes (`machine.root`, `.states`, `.transitions`, `.always`,
 * `.initial`), never a hand-written list, so a state or edge added to a machine shows up in every picture of it.
 * Nested states are flattened into dotted ids (`"online.healthy"`) with a `parent` link, so renderers that can
 * draw nesting (Mermaid composite states, DOT clusters) can, and those that cannot still get every node.
 *
 * @example
 * ```ts
 * import { workerLifecycle } from "../../actors/workerLifecycle.ts"
 * const graph = machineGraph(workerLifecycle)
 * graph.initial // "starting"
 * graph.transitions.find((t) => t.from === "healthy" && t.event === "HEARTBEAT_TIMEOUT")?.to // "stale"
 * ```
 */
import type { AnyStateMachine, AnyStateNode } from "xstate"

/** Where a transition is declared on the machine's root node itself (it applies in every state). */
export const machineRoot = ""

export type StateKind = "atomic" | "compound" | "parallel" | "final" | "history"

export interface GraphState {
  /** Dotted path from the root (`"healthy"`, `"online.healthy"`): unique within the machine. */
  readonly id: string
  /** The state's own key (the last segment of `id`). */
  readonly key: string
  readonly kind: StateKind
  readonly final: boolean
  readonly description: string | undefined
  /** The enclosing state's id; `undefined` for top-level states. */
  readonly parent: string | undefined
  /** For compound states, the id of the child entered first. */
  readonly initial: string | undefined
}

export interface GraphTransition {
  /** The source state's id, or {@link machineRoot} for transitions declared on the machine itself. */
  readonly from: string
  /**
   * The target state's id. A transition without a target (actions only; the state does not change) is drawn
   * as a self-loop, so `to === from`.
   */
  readonly to: string
  /**
   * The event as people read it: the event type (`"HEARTBEAT"`, `"*"`), `"after 1000ms"` / `"after RETRY"`
   * for delayed transitions, `"always"` for eventless ones, `"done"` / `"done: id"` / `"error: id"` for
   * xstate's done and error events.
   */
  readonly event: string
  /** The guard as people read it: a named guard's name, `"!a"`, `"a && b"`, `"in(state)"`, or an inline function's name. */
  readonly guard?: string
}

export interface MachineGraph {
  readonly id: string
  /** The id of the top-level state the machine starts in (`undefined` for a parallel or stateless root). */
  readonly initial: string | undefined
  /** Every state node below the root, parents before their children, in document order. */
  readonly states: ReadonlyArray<GraphState>
  /** Every transition, in document order of its source state, then of its declaration. */
  readonly transitions: ReadonlyArray<GraphTransition>
}

/**
 * Walks a machine definition into a {@link MachineGraph}.
 *
 * @example
 * ```ts
 * const graph = machineGraph(workerLifecycle)
 * graph.states.map((s) => s.id) // ["starting", "registered", "healthy", "stale", "draining", "stopped"]
 * ```
 */
export const machineGraph = (machine: AnyStateMachine): MachineGraph => {
  const states: Array<GraphState> = []
  const transitions: Array<GraphTransition> = []
  visit(machine.root, states, transitions)
  return {
    id: machine.id,
    initial: initialOf(machine.root),
    states,
    transitions,
  }
}

const idOf = (node: AnyStateNode): string => node.path.join(".")

const initialOf = (node: AnyStateNode): string | undefined => {
  if (node.type !== "compound") return undefined
  const target = node.initial.target[0]
  return target === undefined ? undefined : idOf(target)
}

const visit = (node: AnyStateNode, states: Array<GraphState>, transitions: Array<GraphTransition>): void => {
  const from = idOf(node)
  if (node.parent !== undefined) {
    states.push({
      id: from,
      key: node.key,
      kind: node.type,
      final: node.type === "final",
      description: node.description,
      parent: node.parent.parent === undefined ? undefined : idOf(node.parent),
      initial: initialOf(node),
    })
  }

  const delays = new Map<string, string>()
  for (const delayed of node.after) {
    delays.set(delayed.eventType, typeof delayed.delay === "number" ? `${delayed.delay}ms` : String(delayed.delay))
  }

  const edgesOf = (event: string, list: ReadonlyArray<{ target?: ReadonlyArray<AnyStateNode> | undefined; guard?: unknown }>) => {
    for (const transition of list) {
      const guard = transition.guard === undefined ? undefined : guardLabel(transition.guard)
      const targets = transition.target === undefined || transition.target.length === 0 ? [node] : transition.target
      for (const target of targets) {
        transitions.push(guard === undefined ? { from, to: idOf(target), event } : { from, to: idOf(target), event, guard })
      }
    }
  }
  for (const [eventType, list] of node.transitions) edgesOf(eventLabel(eventType, delays), list)
  if (node.always !== undefined) edgesOf("always", node.always)

  for (const child of Object.values(node.states) as ReadonlyArray<AnyStateNode>) visit(child, states, transitions)
}

const eventLabel = (eventType: string, delays: ReadonlyMap<string, string>): string => {
  const delay = delays.get(eventType)
  if (delay !== undefined) return `after ${delay}`
  if (eventType.startsWith("xstate.done.state.")) return "done"
  if (eventType.startsWith("xstate.done.actor.")) return `done: ${eventType.slice("xstate.done.actor.".length)}`
  if (eventType.startsWith("xstate.error.actor.")) return `error: ${eventType.slice("xstate.error.actor.".length)}`
  return eventType
}

/**
 * xstate keeps guards as it was given them: a name (`"isReady"`), a `{ type, params }` reference, or a function.
 * Its higher-order guards are functions that carry what they combine (`not/and/or` keep `.guards`, `stateIn`
 * keeps `.stateValue`), which is how they are told apart from inline predicates here.
 */
const guardLabel = (guard: unknown): string => {
  if (typeof guard === "string") return guard
  if (typeof guard === "object" && guard !== null && "type" in guard) return String((guard as { type: unknown }).type)
  if (typeof guard === "function") {
    const fn = guard as { name: string; guards?: ReadonlyArray<unknown>; stateValue?: unknown }
    if (fn.guards !== undefined) {
      const parts = fn.guards.map(guardLabel)
      if (fn.name === "not") return `!${wrap(parts[0] ?? "")}`
      if (fn.name === "and") return parts.map(wrap).join(" && ")
      if (fn.name === "or") return parts.map(wrap).join(" || ")
    }
    if (fn.name === "stateIn" && fn.stateValue !== undefined) {
      return `in(${typeof fn.stateValue === "string" ? fn.stateValue : JSON.stringify(fn.stateValue)})`
    }
    // An arrow function written as `guard: () => …` is named "guard" by the engine: say it is inline instead.
    return fn.name === "" || fn.name === "guard" ? "inline" : fn.name
  }
  return "guard"
}

const wrap = (label: string): string => (/[ &|]/.test(label) ? `(${label})` : label)

/** A compact, human-readable description of an edge: `EVENT [guard]`. */
export const edgeLabel = (transition: GraphTransition): string =>
  transition.guard === undefined ? transition.event : `${transition.event} [${transition.guard}]`

/** What every renderer accepts. */
export interface RenderOptions {
  /**
   * The state(s) to light: ids from {@link MachineGraph.states} (for a live actor,
   * `activeStateIds(snapshot.value)`). An id the machine does not have is an error, not a silent no-op.
   */
  readonly current?: string | ReadonlyArray<string>
  /** Layout direction: top to bottom or left to right. Each renderer has its own default. */
  readonly direction?: "TB" | "LR"
}

/** The ids of the states to highlight, checked against the graph. */
export const currentIds = (graph: MachineGraph, current: RenderOptions["current"]): ReadonlySet<string> => {
  const ids = new Set(current === undefined ? [] : typeof current === "string" ? [current] : current)
  for (const id of ids) {
    if (!graph.states.some((state) => state.id === id)) {
      throw new RangeError(`No state "${id}" in machine "${graph.id}"; its states are: ${graph.states.map((s) => s.id).join(", ")}`)
    }
  }
  return ids
}

/**
 * The dotted ids of the atomic states in an xstate state value: what to pass as `current` for a live snapshot.
 *
 * @example
 * ```ts
 * activeStateIds("healthy") // ["healthy"]
 * activeStateIds({ online: "healthy", audit: { idle: {} } }) // ["online.healthy", "audit.idle"]
 * ```
 */
export const activeStateIds = (value: string | { readonly [key: string]: unknown }, prefix = ""): Array<string> => {
  if (typeof value === "string") return [prefix + value]
  const ids: Array<string> = []
  for (const [key, child] of Object.entries(value)) {
    const id = prefix + key
    if (child === undefined || (typeof child === "object" && child !== null && Object.keys(child).length === 0)) {
      ids.push(id)
    } else {
      ids.push(...activeStateIds(child as string | { readonly [key: string]: unknown }, `${id}.`))
    }
  }
  return ids
}

/** The state `id`'s ancestors, nearest first (not including itself); `[]` for top-level states and the root. */
export const ancestorsOf = (graph: MachineGraph, id: string): Array<string> => {
  const byId = new Map(graph.states.map((state) => [state.id, state]))
  const ancestors: Array<string> = []
  for (let parent = byId.get(id)?.parent; parent !== undefined; parent = byId.get(parent)?.parent) ancestors.push(parent)
  return ancestors
}

/**
 * The innermost state that strictly contains both ends of a transition, where a nesting-aware renderer should
 * declare it; `undefined` means the top level.
 */
export const enclosingState = (graph: MachineGraph, transition: GraphTransition): string | undefined => {
  if (transition.from === machineRoot) return undefined
  const around = new Set(ancestorsOf(graph, transition.to))
  return ancestorsOf(graph, transition.from).find((id) => around.has(id))
}
