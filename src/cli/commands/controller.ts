/** `crank controller`: run a controller that workers on other nodes join over WebSocket. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { withTunables } from "../../../actors/Tunables.ts"
import { makeControllerHttp } from "../../dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import * as Node from "../../Node.ts"
import type { CommandRun } from "../Command.ts"
import { unavailable } from "../connect.ts"
import { defaultHost, defaultPort, hostForUrl, parse, pick, pickNumber } from "../options.ts"
import { printLine } from "../output.ts"
import { timingOptions, tunablesFrom } from "../timings.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values } = parse(argv, { host: { type: "string" }, port: { type: "string" }, token: { type: "string" }, ...timingOptions })
    const host = pick(values.host, "host", defaultHost)!
    const port = pickNumber(values.port, "port", defaultPort)!
    const token = pick(values.token, "token")
    const node = yield* Node.start({
      nodeId: pick(undefined, "node", `controller-${process.pid}`)!,
      controller: {
        addresses: [`ws://${hostForUrl(host)}:${port}`],
        ...(token === undefined ? {} : { token }),
        // The dashboard, /metrics and the probes share the controller's port.
        http: (controller) =>
          Effect.map(
            makeControllerHttp(() => controller),
            (surface) => surface.handle,
          ),
      },
    }).pipe(withTunables(tunablesFrom(values)), Effect.mapError(unavailable))
    const running = node.controller()!
    yield* Effect.logInfo(`controller listening on ${running.address}`)
    printLine(`dashboard: ${httpUrlOf(running.address)}`)
    return yield* Effect.never
  })
