import { Clock, Effect } from "effect"
import * as Client from "../../../actors/Client.ts"
import { CrankStatus } from "../../../capabilities/crank.ts"
import { crankError } from "../../../capabilities/CrankError.ts"
import type { Command } from "../Command.ts"
import { controllerUrl, parse, pickNumber } from "../options.ts"
import { age, printJson, printLine, table } from "../output.ts"
import { cliTransport } from "../transport.ts"

export const status: Command = {
  name: "status",
  summary: "show nodes, workers, their lifecycle state and capabilities",
  usage: `crank status [--controller URL] [--json] [--timeout MS]

  Asks the controller (crank.status) for what it knows: each worker's node, lifecycle state,
  capabilities, in-flight and completed requests and last heartbeat, and the capability catalog.
  --controller URL  env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070
  --json            print the whole status as JSON (for scripts)`,
  run: (argv) =>
    Effect.gen(function* () {
      const { values } = parse(argv, { controller: { type: "string" }, json: { type: "boolean" }, timeout: { type: "string" } })
      const client = yield* Client.make({
        transport: cliTransport(),
        controller: controllerUrl(values.controller),
        timeoutMs: pickNumber(values.timeout, "timeout", 10_000)!,
      }).pipe(Effect.mapError((e) => crankError("UNAVAILABLE", e.message)))
      const mesh = yield* client.invoke(CrankStatus, {})
      if (values.json) return printJson(mesh)
      const now = yield* Clock.currentTimeMillis
      printLine(`controller ${mesh.controller.address}  up ${age(now - mesh.controller.startedAt)}`)
      printLine()
      printLine(
        table(
          ["WORKER", "NODE", "STATE", "CAPABILITIES", "IN-FLIGHT", "DONE", "HEARTBEAT"],
          mesh.workers.map((w) => [
            w.id,
            w.nodeId,
            w.state,
            w.capabilities.map((c) => `${c.id}@${c.version}`).join(","),
            String(w.inFlight),
            String(w.completed),
            `${age(now - w.lastHeartbeatAt)} ago`,
          ]),
        ),
      )
      printLine()
      printLine(table(["CAPABILITY", "VERSION", "WORKERS", "DESCRIPTION"], mesh.capabilities.map((c) => [c.id, c.version, String(c.workers.length), c.description])))
    }),
}
