import * as Effect from "effect/Effect"
import { makeControllerHttp } from "../../dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import { lateBound } from "../../http/lateBound.ts"
import * as Node from "../../Node.ts"
import type { CommandRun } from "../Command.ts"
import { unavailable } from "../connect.ts"
import { printLine } from "../output.ts"
import { defaultHost, defaultPort, hostForUrl, parse, pick, pickNumber } from "../options.ts"
import { timingOptions, timingsFrom } from "../timings.ts"
import { cliTransport } from "../transport.ts"

export const run: CommandRun = (argv) =>
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
    }).pipe(Effect.mapError(unavailable))
    const running = node.controller()!
    http.set(yield* makeControllerHttp(() => node.controller()))
    yield* Effect.logInfo(`controller listening on ${running.address}`)
    printLine(`dashboard: ${httpUrlOf(running.address)}`)
    return yield* Effect.never
  })
