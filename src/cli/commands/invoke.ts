import { Effect } from "effect"
import * as Client from "../../../actors/Client.ts"
import { CrankError, crankError } from "../../../capabilities/CrankError.ts"
import type { Command } from "../Command.ts"
import { controllerUrl, parse, parseJsonInput, pickNumber, UsageError } from "../options.ts"
import { printJson, printLine } from "../output.ts"
import { cliTransport } from "../transport.ts"

export const invoke: Command = {
  name: "invoke",
  summary: "call a capability and print its result",
  usage: `crank invoke <capability[@range]> ['<json input>'] [--controller URL] [--timeout MS] [--json]

  Sends one request through the mesh and prints the output as JSON.
  <capability[@range]>  e.g. hello.greet or hello.greet@^1 (semver range; default: any version)
  <json input>          the input, as JSON (default {})
  --controller URL      controller to ask (env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070)
  --timeout MS          the request's deadline (env CRANK_TIMEOUT_MS; default 30000)
  --json                print the output compactly on one line

  Exit status 0 on success; on failure the typed code is printed (error NO_WORKER: ...) and the
  status is non-zero (see docs/errors.md).

  Example: crank invoke hello.greet '{"message":"hi"}'`,
  run: (argv) =>
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
      const client = yield* Client.make({ transport: cliTransport(), controller: controllerUrl(values.controller), timeoutMs }).pipe(
        Effect.mapError((e) => crankError("UNAVAILABLE", e.message)),
      )
      const output = yield* client.invoke(ref, input)
      if (values.json) printLine(JSON.stringify(output))
      else printJson(output)
    }),
}
