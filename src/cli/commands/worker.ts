/** `crank worker`: run the worker a module exports and join a controller. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { withTunables } from "../../../actors/Tunables.ts"
import { schemeOf, Transport } from "../../../transports/Transport.ts"
import { idProblem } from "../../../trust/identity.ts"
import { makeWorkerHttp } from "../../dashboard/workerHttp.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import * as Node from "../../Node.ts"
import { keepRenewed } from "../../trust/keepRenewed.ts"
import { requestCertificate } from "../../trust/requestCertificate.ts"
import type { CommandRun } from "../Command.ts"
import { unavailable } from "../connect.ts"
import { loadWorker } from "../loadWorker.ts"
import { accessFlagsOf, accessOptions, controllerAddressOf, meshAccess, processId } from "../meshAccess.ts"
import { parse, pick, UsageError } from "../options.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, {
      ...accessOptions,
      listen: { type: "string" },
      advertise: { type: "string" },
      replicas: { type: "string" },
      node: { type: "string" },
      "drain-deadline": { type: "string" },
    })
    const specifier = positionals[0]
    if (specifier === undefined) throw new UsageError("missing <module> (e.g. examples/hello)")
    const definition = yield* Effect.promise(() => loadWorker(specifier))
    // Several controllers (a federation, docs/federation.md): the first is dialled first, a failed attempt moves on.
    const controllers = controllerAddressOf(accessFlagsOf(values))
      .split(",")
      .map((address) => address.trim())
      .filter((address) => address !== "")
    if (controllers.length === 0) throw new UsageError("--controller needs at least one URL")
    const flags = { ...accessFlagsOf(values), controller: controllers[0] }
    const secure = schemeOf(controllers[0]!) === "wss"
    if (controllers.some((address) => (schemeOf(address) === "wss") !== secure)) {
      throw new UsageError(`--controller ${controllers.join(",")}: every controller in the list is reached the same way, all wss:// or all ws://`)
    }
    // Over wss:// the process's certificate names its node, and its workers register as <node>/<name>.
    const nodeId = pick(values.node, "node") ?? (secure ? processId("") : undefined)
    if (secure && idProblem(nodeId!) !== undefined) throw new UsageError(`--node: ${idProblem(nodeId!)} (it names this process's certificate)`)
    const listen = pick(values.listen, "listen", secure ? "wss://127.0.0.1:0" : "ws://127.0.0.1:0")!
    if (secure && schemeOf(listen) === "ws") {
      throw new UsageError(`--listen ${listen} is plain text, and the controller is reached over TLS: listen on wss:// (or run everything with --insecure)`)
    }
    const token = secure ? undefined : pick(values.token, "token")
    const advertise = pick(values.advertise, "advertise")
    const drainDeadlineMs = values["drain-deadline"] === undefined ? undefined : Number(values["drain-deadline"])
    const replicas = values.replicas === undefined ? 1 : Number(values.replicas)
    if (!Number.isInteger(replicas) || replicas < 1) throw new UsageError("--replicas must be a positive integer")
    if (drainDeadlineMs !== undefined && !(drainDeadlineMs >= 0)) throw new UsageError("--drain-deadline must be a non-negative number")
    const dataDir = pick(values["data-dir"], "dataDir")
    const access = yield* meshAccess(flags, { hint: "worker", id: nodeId ?? "", local: "worker" })
    const node = yield* Node.start({
      ...(nodeId === undefined ? {} : { nodeId }),
      ...(dataDir === undefined ? {} : { dataDir }),
      controllerAddress: access.controller,
      workers: [{ definition, replicas }],
      workerListen: listen,
      workerOptions: {
        ...(controllers.length > 1 ? { controllers: controllers.slice(1) } : {}),
        ...(secure ? { certificates: true } : {}),
        ...(token === undefined ? {} : { token }),
        ...(advertise === undefined ? {} : { advertise }),
      },
      // Probes share the workers' listener ports.
      workerHttp: (workers) => makeWorkerHttp(workers).handle,
    }).pipe(
      withTunables(drainDeadlineMs === undefined ? {} : { drainDeadlineMs }),
      Effect.provideService(Transport, access.transport),
      Effect.mapError(unavailable),
    )
    if (access.cell !== undefined) {
      // Renewed over its own certificate before it expires; its listeners present the new one to the next handshakes.
      const renewal = requestCertificate({ controller: access.controller, id: nodeId!, hint: "worker" }).pipe(
        Effect.provideService(Transport, access.transport),
      )
      yield* keepRenewed(access.cell, renewal, access.transport.renew())
      const held = access.cell.certificate()!
      yield* Effect.logInfo(
        `certificate ${held.identity.role}/${held.identity.id} until ${new Date(held.notAfter).toISOString()}, renewed at two thirds of its life`,
      )
    }
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
