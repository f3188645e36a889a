/**
 * A {@link MachineGraph} as SVG, rendered in-process from the DOT text by Graphviz compiled to WebAssembly
 * (`@viz-js/viz`): no browser, no native binary, nothing downloaded at run time.
 *
 * The WebAssembly module is compiled once, on first use, and shared: later renders are synchronous calls into it.
 */
import { instance, type Viz } from "@viz-js/viz"
import { type DotOptions, dot } from "./dot.ts"
import type { MachineGraph } from "./machineGraph.ts"

let viz: Promise<Viz> | undefined

/**
 * Renders DOT text to an SVG document (with its XML declaration).
 *
 * @throws Error with Graphviz's own messages when the DOT does not parse or cannot be laid out.
 */
export const renderSvg = async (dotText: string): Promise<string> => {
  viz ??= instance()
  const result = (await viz).render(dotText, { format: "svg", engine: "dot" })
  if (result.status !== "success") {
    throw new Error(`Graphviz could not render the diagram: ${result.errors.map((e) => e.message.trim()).join("; ")}`)
  }
  return result.output
}

/**
 * @example
 * ```ts
 * const picture = await svg(machineGraph(workerLifecycle), { current: "healthy" })
 * await writeFile("lifecycle.svg", picture)
 * ```
 */
export const svg = (graph: MachineGraph, options: DotOptions = {}): Promise<string> => renderSvg(dot(graph, options))
