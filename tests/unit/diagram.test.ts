import { readFileSync } from "node:fs"
import { Resvg } from "@resvg/resvg-js"
import { describe, expect, it } from "vitest"
import { type AnyStateMachine, and, createMachine, not, setup, stateIn } from "xstate"
import { workerLifecycle } from "../../actors/workerLifecycle.ts"
import { activeStateIds, diagram, dot, type MachineGraph, machineGraph, mermaid, renderSvg, svg } from "../../src/diagram/index.ts"

/** A throwaway machine with every kind of guard xstate has, plus nesting, a delay and an eventless transition. */
const guarded = setup({
  types: { context: {} as { retries: number } },
  guards: { canRetry: ({ context }) => context.retries < 3, isAdmin: (_, params: { level: number }) => params.level > 1 },
}).createMachine({
  id: "door",
  initial: "closed",
  context: { retries: 0 },
  on: { RESET: ".closed" },
  states: {
    closed: {
      description: 'Shut; <knock> & "wait"',
      on: {
        OPEN: [
          { target: "open", guard: "canRetry" },
          { target: "locked", guard: not("canRetry") },
        ],
        FORCE: { target: "open", guard: ({ context }) => context.retries > 10 },
        AUDIT: { guard: and(["canRetry", { type: "isAdmin", params: { level: 2 } }]), actions: () => {} },
      },
      after: { 500: "locked" },
    },
    open: {
      initial: "swinging",
      states: {
        swinging: { always: { target: "still", guard: stateIn("open") } },
        still: { type: "final" },
      },
      onDone: "closed",
    },
    locked: { type: "final" },
  },
})

describe("machineGraph", () => {
  const graph = machineGraph(guarded)

  it("shows named, inline and higher-order guards on their edges", () => {
    const edge = (from: string, event: string) => graph.transitions.filter((t) => t.from === from && t.event === event)
    expect(edge("closed", "OPEN")).toEqual([
      { from: "closed", to: "open", event: "OPEN", guard: "canRetry" },
      { from: "closed", to: "locked", event: "OPEN", guard: "!canRetry" },
    ])
    expect(edge("closed", "FORCE")).toEqual([{ from: "closed", to: "open", event: "FORCE", guard: "inline" }])
    // A targetless transition does not change state: a self-loop.
    expect(edge("closed", "AUDIT")).toEqual([{ from: "closed", to: "closed", event: "AUDIT", guard: "canRetry && isAdmin" }])
    expect(edge("open.swinging", "always")).toEqual([{ from: "open.swinging", to: "open.still", event: "always", guard: "in(open)" }])
  })

  it("flattens nested states into dotted ids, with delays, done events and root transitions", () => {
    expect(graph.initial).toBe("closed")
    expect(graph.states.map((s) => s.id)).toEqual(["closed", "open", "open.swinging", "open.still", "locked"])
    expect(graph.states.find((s) => s.id === "open")).toMatchObject({ kind: "compound", initial: "open.swinging", final: false })
    expect(graph.states.find((s) => s.id === "open.still")).toMatchObject({ key: "still", parent: "open", final: true })
    expect(graph.transitions).toContainEqual({ from: "closed", to: "locked", event: "after 500ms" })
    expect(graph.transitions).toContainEqual({ from: "open", to: "closed", event: "done" })
    expect(graph.transitions).toContainEqual({ from: "", to: "closed", event: "RESET" })
  })

  it("turns a live state value into the ids to highlight", () => {
    expect(activeStateIds("healthy")).toEqual(["healthy"])
    expect(activeStateIds({ open: "swinging" })).toEqual(["open.swinging"])
    expect(activeStateIds({ a: { b: "c" }, d: {} })).toEqual(["a.b.c", "d"])
  })
})

/** Every `from --event--> to` the machine's own config declares, read the way xstate reads it. */
const declaredEdges = (machine: AnyStateMachine): Array<string> => {
  const edges: Array<string> = []
  const states = (machine.config.states ?? {}) as Record<string, { on?: Record<string, unknown> }>
  for (const [from, state] of Object.entries(states)) {
    for (const [event, spec] of Object.entries(state.on ?? {})) {
      for (const one of Array.isArray(spec) ? spec : [spec]) {
        const target = typeof one === "string" ? one : (one as { target?: string }).target
        edges.push(`${from} --${event}--> ${target ?? from}`)
      }
    }
  }
  return edges.sort()
}
const edgesOf = (graph: MachineGraph): Array<string> => graph.transitions.map((t) => `${t.from} --${t.event}--> ${t.to}`).sort()

describe("the worker lifecycle diagram", () => {
  const graph = machineGraph(workerLifecycle)
  const configStates = workerLifecycle.config.states as Record<string, { type?: string }>

  it("has every state and every transition of the definition", () => {
    expect(graph.id).toBe(workerLifecycle.id)
    expect(graph.states.map((s) => s.id)).toEqual(Object.keys(configStates))
    expect(graph.initial).toBe(workerLifecycle.config.initial)
    expect(graph.states.filter((s) => s.final).map((s) => s.id)).toEqual(
      Object.entries(configStates)
        .filter(([, s]) => s.type === "final")
        .map(([key]) => key),
    )
    expect(edgesOf(graph)).toEqual(declaredEdges(workerLifecycle))
    expect(graph.transitions.length).toBeGreaterThan(10)
    for (const state of graph.states) expect(state.description, state.id).toBeTypeOf("string")
  })

  it("has the edges the design names", () => {
    expect(graph.initial).toBe("starting")
    expect(graph.states.find((s) => s.id === "stopped")?.final).toBe(true)
    expect(graph.transitions).toContainEqual({ from: "healthy", to: "stale", event: "HEARTBEAT_TIMEOUT" })
    expect(graph.transitions).toContainEqual({ from: "stale", to: "healthy", event: "HEARTBEAT" })
    expect(graph.transitions).toContainEqual({ from: "draining", to: "stopped", event: "DRAINED" })
    expect(graph.transitions.some((t) => t.from === "stopped")).toBe(false)
  })

  it("renders every state and edge in Mermaid and DOT", () => {
    const text = mermaid(graph)
    expect(text.startsWith("stateDiagram-v2\n")).toBe(true)
    expect(text).toContain("  [*] --> starting\n")
    expect(text).toContain("  stopped --> [*]\n")
    expect(text).toContain("  healthy --> stale : HEARTBEAT_TIMEOUT<br/>DISCONNECTED\n")
    expect(text).toContain("  draining --> stopped : DRAINED<br/>DEREGISTERED<br/>EVICTED\n")
    const arrows = new Map<string, Array<string>>()
    for (const [, arrow, label] of text.matchAll(/^ {2}(\w+ --> \w+) : (.*)$/gm)) arrows.set(arrow!, label!.split("<br/>"))
    for (const t of graph.transitions) expect(arrows.get(`${t.from} --> ${t.to}`), t.event).toContain(t.event)

    const dotText = dot(graph)
    expect(dotText).toMatch(/^digraph "worker" \{/)
    expect(dotText).toContain(`"[*]" -> "starting";`)
    expect(dotText).toMatch(/"stopped" \[[^\]]*shape=doublecircle/)
    for (const state of graph.states) expect(dotText).toContain(`"${state.id}" [label="${state.key}"`)
    // Transitions between the same two states share an edge, one label line each.
    const labels = new Map<string, Array<string>>()
    for (const [, from, to, label] of dotText.matchAll(/^ {2}"([^"]+)" -> "([^"]+)" \[label="([^"]*)"/gm)) {
      labels.set(`${from} -> ${to}`, label!.split("\\n"))
    }
    for (const t of graph.transitions) expect(labels.get(`${t.from} -> ${t.to}`), t.event).toContain(t.event)
  })
})

/** The lifecycle with one more state: what a developer adding `paused` would write. */
const withPaused = () => {
  const config = workerLifecycle.config
  const states = config.states as Record<string, { on?: Record<string, string> }>
  return createMachine({
    id: config.id,
    initial: config.initial as string,
    states: {
      ...(states as Record<string, object>),
      healthy: { ...states["healthy"], on: { ...states["healthy"]?.on, PAUSE: "paused" } },
      paused: { description: "Not taking new work for a while.", on: { RESUME: "healthy", DRAIN: "draining" } },
    },
  })
}

describe("adding a state changes the diagram", () => {
  const extended = withPaused()

  it("in the graph", () => {
    const graph = machineGraph(extended)
    expect(graph.states.map((s) => s.id)).toEqual([...Object.keys(workerLifecycle.config.states ?? {}), "paused"])
    expect(graph.transitions).toContainEqual({ from: "healthy", to: "paused", event: "PAUSE" })
    expect(edgesOf(graph)).toEqual(declaredEdges(extended))
  })

  it("in Mermaid, DOT and SVG, while the original's have no trace of it", async () => {
    for (const format of ["mermaid", "dot", "svg"] as const) {
      const before = await diagram(workerLifecycle, { format })
      const after = await diagram(extended, { format })
      expect(before, format).not.toContain("paused")
      expect(before, format).not.toContain("PAUSE")
      expect(after, format).toContain("paused")
      expect(after, format).toContain("PAUSE")
      expect(after, format).toContain("RESUME")
    }
    expect(await diagram(extended, { format: "mermaid" })).toContain("healthy --> paused : PAUSE\n")
    expect(await diagram(extended, { format: "dot" })).toContain(`"healthy" -> "paused" [label="PAUSE"]`)
    expect(await diagram(extended, { format: "svg" })).toContain("<title>paused</title>")
  })
})

/**
 * resvg (the `@resvg/resvg-js` npm package, its native binary shipped inside it) parses the SVG as strict XML and
 * draws it in this process: the picture's size and how much of it is not white say it really drew.
 */
const rasterize = (svgText: string): { readonly width: number; readonly height: number; readonly inked: number; readonly png: Buffer } => {
  const image = new Resvg(svgText, { background: "white", font: { loadSystemFonts: false }, logLevel: "off" }).render()
  const pixels = image.pixels
  let inked = 0
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 240 || pixels[i + 1]! < 240 || pixels[i + 2]! < 240) inked++
  return { width: image.width, height: image.height, inked, png: image.asPng() }
}

/** Well-formedness without a dependency: every tag closes in order, and every `&` starts an entity. */
const xmlProblems = (text: string): Array<string> => {
  const problems: Array<string> = []
  const body = text
    .replace(/<\?[\s\S]*?\?>/g, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<!DOCTYPE[^>]*>/, "")
  const open: Array<string> = []
  for (const match of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g)) {
    const [, closing, name, , selfClosing] = match
    if (closing === "/") {
      const top = open.pop()
      if (top !== name) problems.push(`</${name}> closes <${top}>`)
    } else if (selfClosing !== "/") {
      open.push(name!)
    }
  }
  if (open.length > 0) problems.push(`unclosed: ${open.join(" > ")}`)
  const stray = body.replace(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g, "")
  if (/[<>]/.test(stray.replace(/&[^;\s]+;/g, ""))) problems.push("a < or > outside any tag")
  if (/&(?![a-zA-Z]+;|#\d+;|#x[\da-fA-F]+;)/.test(body)) problems.push("a bare &")
  return problems
}

const isPng = (png: Buffer): boolean => png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))

describe("the SVG", () => {
  it("is well-formed XML that draws, naming every state", async () => {
    const graph = machineGraph(workerLifecycle)
    const picture = await svg(graph)
    expect(xmlProblems(picture)).toEqual([])
    expect(picture).toMatch(/<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    for (const state of graph.states) expect(picture).toContain(`<title>${state.id}</title>`)
    for (const t of graph.transitions) expect(picture).toContain(`>${t.event}</text>`)
    const drawn = rasterize(picture)
    expect(isPng(drawn.png)).toBe(true)
    // Six states and their edges: a picture some hundreds of pixels across, with a real share of it drawn on.
    expect(drawn.width).toBeGreaterThan(200)
    expect(drawn.height).toBeGreaterThan(200)
    expect(drawn.width).toBeLessThan(5_000)
    expect(drawn.height).toBeLessThan(5_000)
    expect(drawn.inked).toBeGreaterThan(drawn.width * drawn.height * 0.01)
    expect(drawn.inked).toBeLessThan(drawn.width * drawn.height * 0.9)
  })

  it("escapes guards and descriptions, and draws nested states as clusters", async () => {
    const picture = await svg(machineGraph(guarded))
    expect(xmlProblems(picture)).toEqual([])
    expect(picture).toContain("canRetry &amp;&amp; isAdmin")
    expect(picture).toContain("&lt;knock&gt;")
    expect(picture).toContain('class="cluster"')
    expect(picture).toContain("<title>open.swinging</title>")
    const drawn = rasterize(picture)
    expect(isPng(drawn.png)).toBe(true)
    expect(drawn.inked).toBeGreaterThan(drawn.width * drawn.height * 0.01)
  })

  it("reports DOT that Graphviz cannot read", async () => {
    await expect(renderSvg("digraph { a -> }")).rejects.toThrow(/Graphviz could not render/)
  })

  it("the renderer refuses what is not SVG, and a blank picture counts no ink", () => {
    expect(() => rasterize("<svg><g></svg>")).toThrow()
    const blank = rasterize(`<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"></svg>`)
    expect([blank.width, blank.height, blank.inked]).toEqual([300, 200, 0])
    const box = rasterize(`<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><rect x="0" y="0" width="30" height="20" fill="black"/></svg>`)
    expect(box.inked).toBe(600)
  })

  it("the XML check itself catches broken documents", () => {
    expect(xmlProblems("<svg><g></svg>")).not.toEqual([])
    expect(xmlProblems("<svg><text>a & b</text></svg>")).not.toEqual([])
    expect(xmlProblems("<svg><text>a &amp; b</text><g/></svg>")).toEqual([])
  })
})

describe("highlighting the current state", () => {
  const graph = machineGraph(workerLifecycle)

  it("marks it in Mermaid with a classDef and a class line", () => {
    const text = mermaid(graph, { current: "stale" })
    expect(text).toMatch(/\n {2}classDef current [^\n]*fill:/)
    expect(text).toContain("\n  class stale current\n")
    expect(mermaid(graph)).not.toContain("classDef")
  })

  it("marks it, and only it, in DOT and SVG", async () => {
    const text = dot(graph, { current: "stale" })
    const nodeLine = (id: string) => text.split("\n").find((line) => line.trimStart().startsWith(`"${id}" [label=`)) ?? ""
    expect(nodeLine("stale")).toContain(`class="state current"`)
    expect(nodeLine("stale")).toContain(`fillcolor="#ffd54f"`)
    for (const other of graph.states.filter((s) => s.id !== "stale")) {
      expect(nodeLine(other.id)).toContain(`class="state"`)
      expect(nodeLine(other.id)).not.toContain("#ffd54f")
    }
    const picture = await diagram(workerLifecycle, { format: "svg", current: "stale" })
    expect(picture.match(/class="node state current"/g)).toHaveLength(1)
    expect(picture).toMatch(/class="node state current">\s*<title>stale<\/title>/)
  })

  it("marks nested states and refuses states the machine does not have", () => {
    const nested = machineGraph(guarded)
    expect(mermaid(nested, { current: activeStateIds({ open: "swinging" }) })).toContain("class open_swinging current")
    expect(() => mermaid(graph, { current: "sleeping" })).toThrow(/No state "sleeping" in machine "worker"/)
    expect(() => dot(graph, { current: "sleeping" })).toThrow(RangeError)
  })
})

describe("nested machines", () => {
  it("draw as Mermaid composites and DOT clusters", () => {
    const graph = machineGraph(guarded)
    const text = mermaid(graph)
    expect(text).toContain("  state open {\n    [*] --> open_swinging\n")
    expect(text).toContain("    open_still --> [*]\n")
    expect(text).toContain('state "any state" as any_state')
    expect(text).toContain("closed --> open : OPEN [canRetry]")
    expect(mermaid(graph, { descriptions: true })).toContain("  closed : Shut#59; #lt;knock#gt; & #quot;wait#quot;\n")
    const dotText = dot(graph)
    expect(dotText).toContain(`subgraph "cluster_open"`)
    expect(dotText).toContain(`"open.swinging" -> "closed" [label="done", ltail="cluster_open"]`)
    expect(dotText).toContain(`"closed" -> "open.swinging" [label="OPEN [canRetry]\\nFORCE [inline]", lhead="cluster_open"]`)
  })
})

describe("docs/lifecycle.*", () => {
  // The pictures in docs/ are generated; if the machine changed and they did not, they are lying.
  const regenerate = "regenerate them with: npx tsx scripts/writeDocs.ts"
  const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8")

  it("match the machine as it is now", async () => {
    expect(doc("lifecycle.mmd"), `docs/lifecycle.mmd is stale; ${regenerate}`).toBe(await diagram(workerLifecycle, { format: "mermaid" }))
    expect(doc("lifecycle.svg"), `docs/lifecycle.svg is stale; ${regenerate}`).toBe(await diagram(workerLifecycle, { format: "svg" }))
  })
})
