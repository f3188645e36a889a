/** `crank status`: show nodes, workers, their lifecycle state and capabilities. Its usage text lives in the command table (../commands.ts). */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { keyOf } from "../../../capabilities/Capability.ts"
import type { CommandRun } from "../Command.ts"
import { accessFlagsOf, accessOptions, connectMesh } from "../meshAccess.ts"
import { parse, pickNumber } from "../options.ts"
import { age, printJson, printLine, table } from "../output.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values } = parse(argv, { ...accessOptions, json: { type: "boolean" }, timeout: { type: "string" } })
    const client = yield* connectMesh(accessFlagsOf(values), pickNumber(values.timeout, "timeout", 10_000)!)
    const mesh = yield* client.status
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
          w.capabilities.map(keyOf).join(","),
          String(w.inFlight),
          String(w.completed),
          `${age(now - w.lastHeartbeatAt)} ago`,
        ]),
      ),
    )
    if (mesh.workers.length > 0) {
      // Counts travel in heartbeats: say how old they are rather than pass them off as current.
      printLine(`IN-FLIGHT and DONE are as each worker last reported them, HEARTBEAT ago (workers beat every ${age(mesh.controller.heartbeatIntervalMs)})`)
    }
    printLine()
    printLine(
      table(
        ["CAPABILITY", "VERSION", "WORKERS", "DESCRIPTION"],
        mesh.capabilities.map((c) => [c.id, c.version, String(c.workers.length), c.description]),
      ),
    )
    if (mesh.controllers !== undefined) {
      printLine()
      printLine(
        table(
          ["CONTROLLER", "STATE", "HEARD", "ADDRESS", "CAPABILITIES (WORKERS)"],
          mesh.controllers.map((c) => [
            c.id,
            c.self === true ? "this one" : !c.alive ? "silent" : c.synced ? "synced" : "syncing",
            c.self === true ? "-" : `${age(now - c.lastHeardAt)} ago`,
            c.address,
            c.capabilities.map((capability) => `${capability.id}@${capability.version} (${capability.workers})`).join(", "),
          ]),
        ),
      )
    }
  })
