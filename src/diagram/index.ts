/**
 * Diagrams of xstate machines, drawn from the machine definition itself so they cannot drift from it:
 * Mermaid text, Graphviz DOT text, or SVG (rendered in-process). `crank diagram` and the dashboard use this.
 *
 * @example
 * ```ts
 * import { workerLifecycle } from "../../actors/workerLifecycle.ts"
 * const text = await diagram(workerLifecycle, { format: "mermaid", current: "healthy" })
 * ```
 */
import type { AnyStateMachine } from "xstate"
import { dot } from "./dot.ts"
import { machineGraph, type RenderOptions } from "./machineGraph.ts"
import { mermaid } from "./mermaid.ts"
import { svg } from "./svg.ts"

export type DiagramFormat = "mermaid" | "dot" | "svg"
export const diagramFormats: ReadonlyArray<DiagramFormat> = ["mermaid", "dot", "svg"]

export interface DiagramOptions extends RenderOptions {
  readonly format: DiagramFormat
}

/**
 * The machine as a diagram in `format`, with `current` (a state id, or several) lit.
 * Always a promise, so callers need not care which formats are computed synchronously.
 *
 * @throws RangeError when `current` names a state the machine does not have.
 */
export const diagram = async (machine: AnyStateMachine, options: DiagramOptions): Promise<string> => {
  const { format, ...render } = options
  const graph = machineGraph(machine)
  switch (format) {
    case "mermaid":
      return mermaid(graph, render)
    case "dot":
      return dot(graph, render)
    case "svg":
      return svg(graph, render)
  }
}

export { type DotOptions, dot, dotCurrentClass } from "./dot.ts"
export {
  activeStateIds,
  edgeLabel,
  type GraphState,
  type GraphTransition,
  type MachineGraph,
  machineGraph,
  machineRoot,
  type RenderOptions,
  type StateKind,
} from "./machineGraph.ts"
export { type MermaidOptions, mermaid, mermaidCurrentClass } from "./mermaid.ts"
export { renderSvg, svg } from "./svg.ts"
