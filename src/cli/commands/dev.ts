/** `crank dev`: run the whole mesh in one process: controller, example workers, dashboard. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { awaitWorkers } from "../../../actors/awaitWorkers.ts"
import { withTunables } from "../../../actors/Tunables.ts"
import { makeControllerHttp } from "../../dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import { isLoopbackHost } from "../../http/loopback.ts"
import * as Node from "../../Node.ts"
import type { CommandRun } from "../Command.ts"
import { unavailable } from "../connect.ts"
import { UsageError } from "../errors.ts"
import { exampleModules, loadWorkers } from "../loadWorker.ts"
import { defaultHost, defaultPort, hostForUrl, parse, pick, pickNumber } from "../options.ts"
import { printLine, table } from "../output.ts"
import { timingOptions, tunablesFrom } from "../timings.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, {
      host: { type: "string" },
      port: { type: "string" },
      replicas: { type: "string" },
      "data-dir": { type: "string" },
      inspect: { type: "boolean" },
      "insecure-anywhere": { type: "boolean" },
      ...timingOptions,
    })
    const host = pick(values.host, "host", defaultHost)!
    // One process needs no certificates (its workers are in memory); its ws:// port has no access control, so loopback only.
    if (!isLoopbackHost(host) && values["insecure-anywhere"] !== true) {
      throw new UsageError(
        `crank dev serves plain ws:// with no access control, so only on a loopback host (127.0.0.1, ::1, localhost); ${host} is not one. Pass --insecure-anywhere if you mean it, or run crank controller (mutual TLS) and crank worker`,
      )
    }
    const port = pickNumber(values.port, "port", defaultPort)!
    const replicas = Number(values.replicas ?? 2)
    if (!Number.isInteger(replicas) || replicas < 1) throw new UsageError("--replicas must be a positive integer")
    const modules = positionals.length > 0 ? positionals : exampleModules()
    if (modules.length === 0) throw new UsageError("no worker modules given, and this package ships no examples/")
    // Through the same loader as `crank worker`: what runs here runs the same on its own node.
    const definitions = (yield* Effect.forEach(modules, (module) => Effect.promise(() => loadWorkers(module)))).flat()
    const dataDir = pick(values["data-dir"], "dataDir")
    const node = yield* Node.start({
      nodeId: "dev",
      ...(dataDir === undefined ? {} : { dataDir }),
      controller: {
        addresses: [`ws://${hostForUrl(host)}:${port}`, "memory://controller"],
        // The dashboard, /metrics and the probes share the controller's port.
        http: (controller) =>
          Effect.map(
            makeControllerHttp(() => controller, { inspect: values.inspect === true }),
            (surface) => surface.handle,
          ),
      },
      controllerAddress: "memory://controller",
      workers: definitions.map((definition) => ({ definition, replicas })),
      workerListen: "memory://",
    }).pipe(withTunables(tunablesFrom(values)), Effect.mapError(unavailable))
    const controller = node.controller()!
    const expected = definitions.length * replicas
    // The controller is listening: say where at once, and watch the workers come up on the dashboard. A worker
    // with a slow `started` hook (a model to train on first start) only delays the catalog below.
    printLine()
    printLine(`crank dev: controller on ${controller.address}`)
    printLine(`dashboard: ${httpUrlOf(controller.address)}`)
    const healthy = () => controller.workers().filter((w) => w.state === "healthy").length
    yield* awaitWorkers(controller, (ws) => ws.filter((w) => w.state === "healthy").length >= expected, 10_000).pipe(
      Effect.catch(() =>
        Effect.andThen(
          Effect.sync(() => printLine(`waiting for ${expected - healthy()} of ${expected} workers to be healthy (a started hook may be training a model)...`)),
          awaitWorkers(controller, (ws) => ws.filter((w) => w.state === "healthy").length >= expected, 600_000),
        ),
      ),
    )
    printLine(`crank dev: all ${expected} workers healthy`)
    const catalog = controller.descriptors()
    printLine()
    printLine(
      table(
        ["CAPABILITY", "VERSION", "WORKERS", "DESCRIPTION"],
        catalog.map(({ descriptor, workers }) => [descriptor.id, descriptor.version, String(workers.length), descriptor.description]),
      ),
    )
    printLine()
    const first = catalog[0]?.descriptor.id ?? "<capability>"
    printLine(`try: npx crank invoke ${first} '<json input>' --controller ${controller.address}`)
    printLine("Ctrl-C drains the workers and stops.")
    return yield* Effect.never
  })
