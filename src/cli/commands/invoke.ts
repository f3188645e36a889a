/** `crank invoke`: call a capability and print its result. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Placement } from "../../../capabilities/Capability.ts"
import { CrankError } from "../../../capabilities/CrankError.ts"
import type { CommandRun } from "../Command.ts"
import { accessFlagsOf, accessOptions, connectMesh } from "../meshAccess.ts"
import { parse, parseJsonInput, pickNumber, UsageError } from "../options.ts"
import { printJson, printLine } from "../output.ts"

/** `--gpu` and `--label k=v` (repeatable) as the call's placement, or undefined when neither is given. */
const placementOf = (gpu: boolean, labels: ReadonlyArray<string>): Placement | undefined => {
  if (!gpu && labels.length === 0) return undefined
  const pairs = labels.map((label) => {
    const at = label.indexOf("=")
    if (at < 1) throw new UsageError(`--label must be key=value, got "${label}"`)
    return [label.slice(0, at), label.slice(at + 1)] as const
  })
  return { ...(gpu ? { gpu: true } : {}), ...(pairs.length === 0 ? {} : { labels: Object.fromEntries(pairs) }) }
}

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, {
      ...accessOptions,
      timeout: { type: "string" },
      json: { type: "boolean" },
      gpu: { type: "boolean" },
      label: { type: "string", multiple: true },
      stream: { type: "boolean" },
    })
    const [ref, text, ...extra] = positionals
    if (ref === undefined) throw new UsageError("missing <capability[@range]>")
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")} (quote the JSON input)`)
    const input = parseJsonInput(text)
    if (input instanceof CrankError) return yield* input
    const timeoutMs = pickNumber(values.timeout, "timeout", 30_000)!
    const client = yield* connectMesh(accessFlagsOf(values), timeoutMs)
    const placement = placementOf(values.gpu === true, values.label ?? [])
    const options = placement === undefined ? {} : { placement }
    if (values.stream) {
      // One JSON line per item as it arrives: a pipe (`| head`, `| jq`) consumes at its own pace.
      return yield* Stream.runForEach(client.stream(ref, input, options), (item) => Effect.sync(() => printLine(JSON.stringify(item))))
    }
    const output = yield* client.invoke(ref, input, options)
    if (values.json) printLine(JSON.stringify(output))
    else printJson(output)
  })
