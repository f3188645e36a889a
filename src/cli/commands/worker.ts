/** `crank worker`: run the worker a module exports and join a controller. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { withTunables } from "../../../actors/Tunables.ts"
import { makeWorkerHttp } from "../../dashboard/workerHttp.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import * as Node from "../../Node.ts"
import type { CommandRun } from "../Command.ts"
import { unavailable } from "../connect.ts"
import { loadWorker } from "../loadWorker.ts"
import { controllerUrl, parse, pick, UsageError } from "../options.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, {
      controller: { type: "string" },
      listen: { type: "string" },
      advertise: { type: "string" },
      replicas: { type: "string" },
      token: { type: "string" },
      node: { type: "string" },
      "drain-deadline": { type: "string" },
      "data-dir": { type: "string" },
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
    const dataDir = pick(values["data-dir"], "dataDir")
    const node = yield* Node.start({
      ...(nodeId === undefined ? {} : { nodeId }),
      ...(dataDir === undefined ? {} : { dataDir }),
      controllerAddress: controllerUrl(values.controller),
      workers: [{ definition, replicas }],
      workerListen: pick(values.listen, "listen", "ws://127.0.0.1:0")!,
      workerOptions: {
        ...(token === undefined ? {} : { token }),
        ...(advertise === undefined ? {} : { advertise }),
      },
      // Probes share the workers' listener ports.
      workerHttp: (workers) => makeWorkerHttp(workers).handle,
    }).pipe(withTunables(drainDeadlineMs === undefined ? {} : { drainDeadlineMs }), Effect.mapError(unavailable))
    yield* Effect.logInfo(
      `worker ${definition.name} (${node
        .workers()
        .map((w) => w.id)
        .join(", ")}) joining ${node.controllerAddress}`,
    )
    const probes = node.workers().flatMap((w) => (w.address === undefined ? [] : (httpUrlOf(w.address, "/readyz") ?? [])))
    if (probes.length > 0) yield* Effect.logInfo(`probes: ${probes.join(" ")} (also /healthz, /metrics)`)
    // Exit once every worker has stopped (drained by the controller); signals interrupt this and drain them.
    yield* Effect.forEach(node.workers(), (w) => w.stopped, { concurrency: "unbounded", discard: true })
  })
