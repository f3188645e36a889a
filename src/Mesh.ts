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
import type { LogLevel } from "effect/LogLevel"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import { awaitWorkers } from "../actors/awaitWorkers.ts"
import * as Client from "../actors/Client.ts"
import { type Tunables, withTunables } from "../actors/Tunables.ts"
import type { WorkerDefinition } from "../actors/WorkerDefinition.ts"
import type { CrankError } from "../capabilities/CrankError.ts"
import * as MemoryTransport from "../transports/MemoryTransport.ts"
import { Transport } from "../transports/Transport.ts"
import * as Node from "./Node.ts"
import type { SupervisorError } from "./supervisor/Supervisor.ts"

export interface MeshOptions {
  readonly workers: ReadonlyArray<WorkerDefinition | Node.WorkerPlacement>
  /** Heartbeats, deadlines, limits (actors/Tunables.ts): what this mesh uses instead of the defaults. */
  readonly tunables?: Partial<Tunables>
  /** The data root of its workers (actors/dataDirectory.ts); default `CRANK_DATA_DIR`, else `.crank`. */
  readonly dataDir?: string
  /** Wait until every worker is healthy before returning (default true). */
  readonly awaitHealthy?: boolean
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

/** Starts a mesh on an in-memory network of its own; it drains and stops when the scope closes. */
export const start = (options: MeshOptions): Effect.Effect<Mesh, SupervisorError | CrankError, Scope.Scope> => {
  const transport = MemoryTransport.make()
  // Fibers forked inside keep the services they were started with: the whole mesh runs on this transport, with
  // these tunables, at this log level.
  return startOn(transport, options).pipe(
    withTunables(options.tunables ?? {}),
    Effect.provideService(Transport, transport),
    Effect.provideService(References.MinimumLogLevel, options.logLevel ?? "Warn"),
  )
}

const startOn = (
  transport: MemoryTransport.MemoryTransport,
  options: MeshOptions,
): Effect.Effect<Mesh, SupervisorError | CrankError, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const node = yield* Node.start({
      nodeId: "mesh",
      controller: { addresses: [controllerAddress] },
      workers: options.workers,
      workerListen: "memory://",
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    })
    const expected = node.workers().length
    if (options.awaitHealthy ?? true) {
      // A worker that keeps crashing (a failing started hook) makes the supervisor give up: that ends the wait too.
      yield* awaitWorkers(node.controller()!, (ws) => ws.filter((w) => w.state === "healthy").length >= expected, 60_000).pipe(
        Effect.raceFirst(Effect.andThen(node.supervisor.await, Effect.die(new Error("the mesh's supervisor stopped before its workers were healthy")))),
      )
    }
    const client = yield* Client.make({ controller: controllerAddress })
    return { node, client, transport }
  })
