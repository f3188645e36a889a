/** `crank diagram`: draw the worker lifecycle machine (mermaid, dot or svg). Its usage text lives in the command table (../commands.ts). */
import { writeFileSync } from "node:fs"
import * as Effect from "effect/Effect"
import { workerLifecycle } from "../../../actors/workerLifecycle.ts"
import { messageOf } from "../../../capabilities/CrankError.ts"
import { type DiagramFormat, diagramFormats, diagram as render } from "../../diagram/index.ts"
import type { CommandRun } from "../Command.ts"
import { parse, UsageError } from "../options.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values } = parse(argv, { format: { type: "string" }, out: { type: "string" }, current: { type: "string" } })
    const format = (values.format ?? "mermaid") as DiagramFormat
    if (!diagramFormats.includes(format)) throw new UsageError(`--format must be one of ${diagramFormats.join(", ")}`)
    const text = yield* Effect.tryPromise({
      try: () => render(workerLifecycle, { format, ...(values.current === undefined ? {} : { current: values.current }) }),
      catch: (e) => new UsageError(messageOf(e)),
    }).pipe(Effect.orDie)
    if (values.out === undefined) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`)
    else writeFileSync(values.out, text)
  })
