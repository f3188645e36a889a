import { Effect } from "effect"
import { awaitWorkers } from "../../../actors/Controller.ts"
import { crankError } from "../../../capabilities/CrankError.ts"
import { HelloGreet } from "../../../examples/hello/capability.ts"
import helloWorker from "../../../examples/hello/index.ts"
import { makeControllerHttp } from "../../dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../dashboard/httpUrl.ts"
import { lateBound } from "../../dashboard/lateBound.ts"
import * as Node from "../../Node.ts"
import type { Command } from "../Command.ts"
import { defaultHost, defaultPort, hostForUrl, parse, pick, pickNumber, UsageError } from "../options.ts"
import { printLine, table } from "../output.ts"
import { timingOptions, timingsFrom, timingsUsage } from "../timings.ts"
import { cliTransport } from "../transport.ts"

export const dev: Command = {
  name: "dev",
  summary: "run the whole mesh in one process: controller, example workers, dashboard",
  usage: `crank dev [--host 127.0.0.1] [--port 7070] [--replicas 2]

  Starts a controller and the example workers in this process, under one supervisor. Workers reach
  the controller in memory; other processes (crank invoke, crank status, crank worker) reach it on
  ws://HOST:PORT. Logs every lifecycle transition; Ctrl-C drains the workers and stops cleanly.
  --host HOST     env CRANK_HOST; default 127.0.0.1
  --port PORT     env CRANK_PORT; default 7070; 0 picks a free port
  --replicas N    hello workers to run (default 2)
${timingsUsage}`,
  run: (argv) =>
    Effect.gen(function* () {
      const { values } = parse(argv, { host: { type: "string" }, port: { type: "string" }, replicas: { type: "string" }, ...timingOptions })
      const host = pick(values.host, "host", defaultHost)!
      const port = pickNumber(values.port, "port", defaultPort)!
      const replicas = Number(values.replicas ?? 2)
      if (!Number.isInteger(replicas) || replicas < 1) throw new UsageError("--replicas must be a positive integer")
      // The dashboard shares the controller's port; it answers 503 until the node is up.
      const http = lateBound()
      const node = yield* Node.start({
        transport: cliTransport({ httpHandler: http.handle }),
        nodeId: "dev",
        controller: { addresses: [`ws://${hostForUrl(host)}:${port}`, "memory://controller"], timings: timingsFrom(values) },
        controllerAddress: "memory://controller",
        workers: [{ definition: helloWorker, replicas }],
        workerListen: "memory://",
      }).pipe(Effect.mapError((e) => crankError("UNAVAILABLE", e.message)))
      const controller = node.controller()!
      http.set(yield* makeControllerHttp(() => node.controller()))
      yield* awaitWorkers(controller, (ws) => ws.filter((w) => w.state === "healthy").length >= replicas, 10_000)
      printLine()
      printLine(`crank dev: controller on ${controller.address}`)
      printLine(`dashboard: ${httpUrlOf(controller.address)}`)
      printLine()
      printLine(
        table(
          ["CAPABILITY", "VERSION", "WORKERS", "DESCRIPTION"],
          controller.descriptors().map(({ descriptor, workers }) => [descriptor.id, descriptor.version, String(workers.length), descriptor.description]),
        ),
      )
      // Show the mesh serving, through the same client path any caller uses.
      const client = yield* node.client().pipe(Effect.mapError((e) => crankError("UNAVAILABLE", e.message)))
      const sample = yield* client.invoke(HelloGreet, { message: "crank dev", options: { exclamations: 1 } })
      printLine()
      printLine(`hello.greet answered: ${JSON.stringify(sample)}`)
      printLine(`try: npx crank invoke hello.greet '{"message":"world"}' --controller ${controller.address}`)
      printLine("Ctrl-C drains the workers and stops.")
      return yield* Effect.never
    }),
}
