import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import { workerLifecycle } from "../../../actors/workerLifecycle.ts"
import { diagram as render, diagramFormats, type DiagramFormat } from "../../diagram/index.ts"
import type { Command } from "../Command.ts"
import { parse, UsageError } from "../options.ts"

export const diagram: Command = {
  name: "diagram",
  summary: "draw the worker lifecycle machine (mermaid, dot or svg)",
  usage: `crank diagram [--format mermaid|dot|svg] [--out FILE] [--current STATE]

  Generates the diagram from the exported xstate machine itself: states, events, guards, the
  initial and final states. SVG is rendered in-process (Graphviz compiled to WebAssembly).
  --format F      mermaid (default), dot or svg
  --out FILE      write to FILE instead of stdout
  --current STATE light one state (e.g. healthy)`,
  run: (argv) =>
    Effect.gen(function* () {
      const { values } = parse(argv, { format: { type: "string" }, out: { type: "string" }, current: { type: "string" } })
      const format = (values.format ?? "mermaid") as DiagramFormat
      if (!diagramFormats.includes(format)) throw new UsageError(`--format must be one of ${diagramFormats.join(", ")}`)
      const text = yield* Effect.tryPromise({
        try: () => render(workerLifecycle, { format, ...(values.current === undefined ? {} : { current: values.current }) }),
        catch: (e) => new UsageError(e instanceof Error ? e.message : String(e)),
      }).pipe(Effect.orDie)
      if (values.out === undefined) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`)
      else writeFileSync(values.out, text)
    }),
}
