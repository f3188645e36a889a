/**
 * The whole mesh in one process: a controller and workers over the in-memory transport, under one
 * supervisor, with a client. What `crank dev` and the test kit stand on; a deployment swaps the transport.
 *
 * @example
 * ```ts
 * const mesh = yield* Mesh.start({ workers: [helloWorker] })
 * const { greeting } = yield* mesh.client.invoke(HelloGreet, { message: "hi" })
 * ```
 */
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import type { LogLevel } from "effect/LogLevel"
import * as Client from "../actors/Client.ts"
import { awaitWorkers } from "../actors/Controller.ts"
import type { Timings } from "../actors/defaults.ts"
import type { WorkerDefinition } from "../actors/Worker.ts"
import type { CrankError } from "../capabilities/CrankError.ts"
import * as MemoryTransport from "../transports/MemoryTransport.ts"
import * as Node from "./Node.ts"
import type { SupervisorError } from "./supervisor/Supervisor.ts"

export interface MeshOptions {
  readonly workers: ReadonlyArray<WorkerDefinition | Node.WorkerPlacement>
  readonly timings?: Partial<Timings>
  /** Default request deadline of the mesh's client. */
  readonly timeoutMs?: number
  /** Wait until every worker is healthy before returning (default true). */
  readonly awaitHealthy?: boolean
  readonly drainDeadlineMs?: number
  /**
   * The least severe log level the mesh writes through Effect's Logger. Default `"Warn"`: a library is quiet
   * unless asked (`"Info"` logs every lifecycle transition, as `crank dev` does).
   */
  readonly logLevel?: LogLevel
}

export interface Mesh {
  readonly node: Node.CrankNode
  readonly client: Client.Client
  readonly transport: MemoryTransport.MemoryTransport
}

export const controllerAddress = "memory://controller"

export const start = (options: MeshOptions): Effect.Effect<Mesh, SupervisorError | CrankError, Scope.Scope> =>
  // Fibers forked inside keep the level they were started with, so the whole mesh logs at it.
  Effect.provideService(startAtLevel(options), References.MinimumLogLevel, options.logLevel ?? "Warn")

const startAtLevel = (options: MeshOptions): Effect.Effect<Mesh, SupervisorError | CrankError, Scope.Scope> =>
  Effect.gen(function* () {
    const transport = MemoryTransport.make()
    const node = yield* Node.start({
      transport,
      nodeId: "mesh",
      controller: { addresses: [controllerAddress], ...(options.timings === undefined ? {} : { timings: options.timings }) },
      workers: options.workers,
      workerListen: "memory://",
      ...(options.drainDeadlineMs === undefined ? {} : { workerOptions: { drainDeadlineMs: options.drainDeadlineMs } }),
    })
    const expected = node.workers().length
    if (options.awaitHealthy ?? true) {
      yield* awaitWorkers(node.controller()!, (ws) => ws.filter((w) => w.state === "healthy").length >= expected, 10_000)
    }
    const client = yield* Client.make({
      transport,
      controller: controllerAddress,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    }).pipe(Effect.orDie)
    return { node, client, transport }
  })
