import { Effect } from "effect"
import { crankError } from "../../../capabilities/CrankError.ts"
import { makeControllerHttp } from "../../dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../dashboard/httpUrl.ts"
import { lateBound } from "../../dashboard/lateBound.ts"
import * as Node from "../../Node.ts"
import type { Command } from "../Command.ts"
import { printLine } from "../output.ts"
import { defaultHost, defaultPort, hostForUrl, parse, pick, pickNumber } from "../options.ts"
import { timingOptions, timingsFrom, timingsUsage } from "../timings.ts"
import { cliTransport } from "../transport.ts"

export const controller: Command = {
  name: "controller",
  summary: "run a controller that workers on other nodes join over WebSocket",
  usage: `crank controller [--host 127.0.0.1] [--port 7070] [--token T]

  Listens for workers and clients on ws://HOST:PORT, keeps the registry, routes requests.
  Serves the dashboard, /metrics, /healthz and /readyz on http://HOST:PORT (docs/dashboard.md).
  SIGTERM or SIGINT closes every connection cleanly (workers reconnect to its successor).
  --host HOST   interface to bind (env CRANK_HOST; default 127.0.0.1; use :: or 0.0.0.0 deliberately)
  --port PORT   env CRANK_PORT; default 7070; 0 picks a free port
  --token T     require workers to join with this token (env CRANK_TOKEN)
${timingsUsage}`,
  run: (argv) =>
    Effect.gen(function* () {
      const { values } = parse(argv, { host: { type: "string" }, port: { type: "string" }, token: { type: "string" }, ...timingOptions })
      const host = pick(values.host, "host", defaultHost)!
      const port = pickNumber(values.port, "port", defaultPort)!
      const token = pick(values.token, "token")
      const http = lateBound()
      const node = yield* Node.start({
        transport: cliTransport({ httpHandler: http.handle }),
        nodeId: pick(undefined, "node", `controller-${process.pid}`)!,
        controller: {
          addresses: [`ws://${hostForUrl(host)}:${port}`],
          timings: timingsFrom(values),
          ...(token === undefined ? {} : { token }),
        },
      }).pipe(Effect.mapError((e) => crankError("UNAVAILABLE", e.message)))
      const running = node.controller()!
      http.set(yield* makeControllerHttp(() => node.controller()))
      yield* Effect.logInfo(`controller listening on ${running.address}`)
      printLine(`dashboard: ${httpUrlOf(running.address)}`)
      return yield* Effect.never
    }),
}
