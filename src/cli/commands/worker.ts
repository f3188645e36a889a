import { Effect } from "effect"
import { crankError } from "../../../capabilities/CrankError.ts"
import { httpUrlOf } from "../../dashboard/httpUrl.ts"
import { lateBound } from "../../dashboard/lateBound.ts"
import { makeWorkerHttp } from "../../dashboard/workerHttp.ts"
import * as Node from "../../Node.ts"
import type { Command } from "../Command.ts"
import { loadWorker } from "../loadWorker.ts"
import { controllerUrl, parse, pick, UsageError } from "../options.ts"
import { cliTransport } from "../transport.ts"

export const worker: Command = {
  name: "worker",
  summary: "run the worker a module exports and join a controller",
  usage: `crank worker <module> [--controller URL] [--listen URL] [--advertise URL] [--replicas N] [--token T]

  Runs the worker exported by <module> (a file, or a folder with index.ts; e.g. examples/hello).
  It registers (retrying with backoff until the controller is there), heartbeats, serves, and
  reconnects after a dropped link. SIGTERM or SIGINT drains it: in-flight requests finish, new
  work goes elsewhere, then it deregisters and exits 0. Its listener port also answers HTTP probes:
  /healthz, /readyz (200 only while every worker is registered or healthy) and /metrics.
  --controller URL   env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070
  --listen URL       where clients dial it directly (env CRANK_WORKER_LISTEN; default ws://127.0.0.1:0)
  --advertise URL    the address to tell the controller, when it differs (env CRANK_WORKER_ADVERTISE)
  --replicas N       instances in this process (default 1)
  --token T          join token, when the controller requires one (env CRANK_TOKEN)
  --node ID          node id (env CRANK_NODE_ID; default node-<pid>)
  --drain-deadline MS  how long in-flight work may take on shutdown (default 30000)`,
  run: (argv) =>
    Effect.gen(function* () {
      const { values, positionals } = parse(argv, {
        controller: { type: "string" },
        listen: { type: "string" },
        advertise: { type: "string" },
        replicas: { type: "string" },
        token: { type: "string" },
        node: { type: "string" },
        "drain-deadline": { type: "string" },
      })
      const specifier = positionals[0]
      if (specifier === undefined) throw new UsageError("missing <module> (e.g. examples/hello)")
      const definition = yield* Effect.promise(() => loadWorker(specifier))
      const token = pick(values.token, "token")
      const advertise = pick(values.advertise, "advertise")
      const drainDeadlineMs = values["drain-deadline"] === undefined ? undefined : Number(values["drain-deadline"])
      const nodeId = pick(values.node, "node")
      const replicas = values.replicas === undefined ? 1 : Number(values.replicas)
      if (!Number.isInteger(replicas) || replicas < 1) throw new UsageError("--replicas must be a positive integer")
      if (drainDeadlineMs !== undefined && !(drainDeadlineMs >= 0)) throw new UsageError("--drain-deadline must be a non-negative number")
      // Probes share the workers' listener ports; they answer 503 until the node is up.
      const http = lateBound()
      const node = yield* Node.start({
        transport: cliTransport({ httpHandler: http.handle }),
        ...(nodeId === undefined ? {} : { nodeId }),
        controllerAddress: controllerUrl(values.controller),
        workers: [{ definition, replicas }],
        workerListen: pick(values.listen, "listen", "ws://127.0.0.1:0")!,
        workerOptions: {
          ...(token === undefined ? {} : { token }),
          ...(advertise === undefined ? {} : { advertise }),
          ...(drainDeadlineMs === undefined ? {} : { drainDeadlineMs }),
        },
      }).pipe(Effect.mapError((e) => crankError("UNAVAILABLE", e.message)))
      http.set(makeWorkerHttp(node.workers))
      yield* Effect.logInfo(`worker ${definition.name} (${node.workers().map((w) => w.id).join(", ")}) joining ${node.controllerAddress}`)
      const probes = node.workers().flatMap((w) => (w.address === undefined ? [] : (httpUrlOf(w.address, "/readyz") ?? [])))
      if (probes.length > 0) yield* Effect.logInfo(`probes: ${probes.join(" ")} (also /healthz, /metrics)`)
      // Exit once every worker has stopped (drained by the controller); signals interrupt this and drain them.
      yield* Effect.forEach(node.workers(), (w) => w.stopped, { concurrency: "unbounded", discard: true })
    }),
}
