/** `crank invoke`: call a capability and print its result. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { CrankError } from "../../../capabilities/CrankError.ts"
import type { CommandRun } from "../Command.ts"
import { connectClient } from "../connect.ts"
import { controllerUrl, parse, parseJsonInput, pickNumber, UsageError } from "../options.ts"
import { printJson, printLine } from "../output.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, {
      controller: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
    })
    const [ref, text, ...extra] = positionals
    if (ref === undefined) throw new UsageError("missing <capability[@range]>")
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")} (quote the JSON input)`)
    const input = parseJsonInput(text)
    if (input instanceof CrankError) return yield* input
    const timeoutMs = pickNumber(values.timeout, "timeout", 30_000)!
    const client = yield* connectClient(controllerUrl(values.controller), timeoutMs)
    const output = yield* client.invoke(ref, input)
    if (values.json) printLine(JSON.stringify(output))
    else printJson(output)
  })
