import { Effect } from "effect"
import * as Client from "../../../actors/Client.ts"
import { CrankDrain } from "../../../capabilities/crank.ts"
import { crankError } from "../../../capabilities/CrankError.ts"
import type { Command } from "../Command.ts"
import { controllerUrl, parse, pickNumber, UsageError } from "../options.ts"
import { printJson, printLine } from "../output.ts"
import { cliTransport } from "../transport.ts"

export const drain: Command = {
  name: "drain",
  summary: "drain a worker: no new work, in-flight finishes, then it deregisters",
  usage: `crank drain <worker-id> [--deadline MS] [--controller URL] [--json]

  --deadline MS     how long in-flight requests may take before the worker deregisters anyway (default 30000)
  --controller URL  env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070`,
  run: (argv) =>
    Effect.gen(function* () {
      const { values, positionals } = parse(argv, { controller: { type: "string" }, deadline: { type: "string" }, json: { type: "boolean" } })
      const workerId = positionals[0]
      if (workerId === undefined) throw new UsageError("missing <worker-id> (see crank status)")
      const deadline = values.deadline === undefined ? undefined : Number(values.deadline)
      if (deadline !== undefined && !(deadline >= 0)) throw new UsageError("--deadline must be a non-negative number of milliseconds")
      const client = yield* Client.make({ transport: cliTransport(), controller: controllerUrl(values.controller), timeoutMs: pickNumber(undefined, "timeout", 10_000)! }).pipe(
        Effect.mapError((e) => crankError("UNAVAILABLE", e.message)),
      )
      const answer = yield* client.invoke(CrankDrain, deadline === undefined ? { workerId } : { workerId, deadlineMs: deadline })
      if (values.json) printJson(answer)
      else printLine(`draining ${answer.workerId}`)
    }),
}
