/**
 * A node: one process's share of the mesh, under one root supervisor.
 *
 * The root supervisor owns the node's controller (if it runs one) and its workers, started in that order and
 * stopped in reverse, one-for-one: a crashed worker actor is restarted and registers again; a worker that
 * drained and stopped on purpose is not (workers are `transient` children). The transport is the only thing
 * that differs between `crank dev` (everything here, in memory) and a deployment (a controller node and
 * worker nodes over WebSocket).
 */
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Client from "../actors/Client.ts"
import * as Controller from "../actors/Controller.ts"
import { workerDataDir } from "../actors/dataDirectory.ts"
import type { Federation } from "../actors/Federation.ts"
import type { Implementation } from "../actors/Implementation.ts"
import { Tunable } from "../actors/Tunables.ts"
import * as Worker from "../actors/Worker.ts"
import type { WorkerDefinition } from "../actors/WorkerDefinition.ts"
import type { CrankError } from "../capabilities/CrankError.ts"
import { type HttpHandler, Transport } from "../transports/Transport.ts"
import { logTransitions } from "./logTransitions.ts"
import * as Supervisor from "./supervisor/Supervisor.ts"

export interface WorkerPlacement {
  readonly definition: WorkerDefinition
  /** Instances of this worker on the node. Default 1. */
  readonly replicas?: number
}

export interface NodeOptions {
  readonly nodeId?: string
  /** Run a controller on this node, listening at these addresses (the first is the one workers here dial). */
  readonly controller?: {
    readonly addresses: ReadonlyArray<string>
    readonly token?: string
    /** Who may do what, and the CA it signs with (actors/authorization.ts, `certificate.sign_csr`). */
    readonly access?: Controller.ControllerOptions["access"]
    readonly signer?: Controller.ControllerOptions["signer"]
    /** Joins this federation of controllers over NATS (actors/Federation.ts): requests no local worker serves go to its peers. */
    readonly federation?: Federation
    readonly implementations?: ReadonlyArray<Implementation>
    /** Log every lifecycle transition through Effect's Logger (default true). */
    readonly logTransitions?: boolean
    /** Plain HTTP on the controller's ports (the dashboard), made for each controller instance. */
    readonly http?: (controller: Controller.Controller) => Effect.Effect<HttpHandler, never, Scope.Scope>
  }
  /** The controller this node's workers register with; defaults to the node's own. */
  readonly controllerAddress?: string
  readonly workers?: ReadonlyArray<WorkerDefinition | WorkerPlacement>
  /** Where workers accept direct requests: `memory://` or `ws://127.0.0.1:0` give each a fresh address. */
  readonly workerListen?: string
  /** `controllers`: more controllers its workers turn to, in order, when the one they dial fails (a federation). */
  readonly workerOptions?: Pick<Worker.WorkerOptions, "token" | "advertise" | "controllers" | "certificates">
  /** Plain HTTP on the workers' listener ports (the process's probes), given the node's running workers. */
  readonly workerHttp?: (workers: () => ReadonlyArray<Worker.RunningWorker>) => HttpHandler
  /** The data root: each worker keeps its files in `<dataDir>/workers/<name>` (actors/dataDirectory.ts). */
  readonly dataDir?: string
  /** The root supervisor's flags. Default: one-for-one, 5 restarts in 10 s, backoff 100 ms to 5 s. */
  readonly supervision?: Supervisor.SupervisorFlags
}

export interface CrankNode {
  readonly id: string
  /** The controller, when this node runs one (the current instance, after restarts). */
  readonly controller: () => Controller.Controller | undefined
  /** The controller address workers here dial. */
  readonly controllerAddress: string
  /** The live worker instances, by supervisor child id. */
  readonly workers: () => ReadonlyArray<Worker.RunningWorker>
  readonly supervisor: Supervisor.SupervisorHandle
  /** A client of this node's controller, on the node's transport. */
  readonly client: (options?: { readonly timeoutMs?: number }) => Effect.Effect<Client.Client, CrankError, Scope.Scope>
}

const placementOf = (entry: WorkerDefinition | WorkerPlacement): WorkerPlacement => ("definition" in entry ? entry : { definition: entry })

/**
 * Starts a node. Returns once the controller is listening and every worker has started (registration goes on
 * in the background); everything stops, workers draining first, when the scope closes.
 */
export const start = (options: NodeOptions): Effect.Effect<CrankNode, Supervisor.SupervisorError, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const drainDeadlineMs = yield* Tunable.drainDeadlineMs
    const nodeId = options.nodeId ?? `node-${process.pid}`
    const controllerAddress = options.controllerAddress ?? options.controller?.addresses[0]
    if (controllerAddress === undefined) {
      return yield* Effect.die(new Error("a node needs a controller of its own or a controllerAddress"))
    }
    const controllerRef = yield* Ref.make<Controller.Controller | undefined>(undefined)
    const running = new Map<string, Worker.RunningWorker>()
    const runningWorkers = () => [...running.values()]
    // One handler for the whole process: every worker's listener answers for all of them.
    const http = options.workerHttp?.(runningWorkers)
    const children: Array<Supervisor.ChildSpec<Transport>> = []

    if (options.controller !== undefined) {
      const settings = options.controller
      children.push({
        id: "controller",
        start: Effect.gen(function* () {
          // Opened before the controller, so it closes after it: transitions published while the controller
          // shuts down (the workers' last Deregister) are still logged.
          const loggingScope = yield* Scope.fork(yield* Effect.scope)
          const controller = yield* Controller.make({
            addresses: settings.addresses,
            ...(settings.token === undefined ? {} : { token: settings.token }),
            ...(settings.access === undefined ? {} : { access: settings.access }),
            ...(settings.signer === undefined ? {} : { signer: settings.signer }),
            ...(settings.implementations === undefined ? {} : { implementations: settings.implementations }),
            ...(settings.http === undefined ? {} : { http: settings.http }),
            ...(settings.federation === undefined ? {} : { elsewhere: settings.federation.elsewhere }),
          })
          if (settings.federation !== undefined) yield* Effect.orDie(settings.federation.join(controller))
          if (settings.logTransitions ?? true) yield* logTransitions(controller).pipe(Scope.provide(loggingScope))
          yield* Ref.set(controllerRef, controller)
          yield* Supervisor.signalReady
          return yield* Effect.never
        }),
        // Started means listening: the node's workers and callers dial it right after.
        readiness: "signal",
      })
    }

    for (const entry of (options.workers ?? []).map(placementOf)) {
      for (let replica = 1; replica <= (entry.replicas ?? 1); replica++) {
        const childId = `${entry.definition.name}-${replica}`
        children.push({
          id: childId,
          restart: "transient",
          // The supervisor must wait out the worker's drain, not cut it off at its default 5 s.
          shutdown: drainDeadlineMs + 5_000,
          start: Effect.gen(function* () {
            const worker = yield* Worker.start(entry.definition, {
              controller: controllerAddress,
              nodeId,
              workerId: `${nodeId}/${childId}`,
              ...(options.dataDir === undefined ? {} : { dataDir: workerDataDir(options.dataDir, entry.definition.name) }),
              ...(options.workerListen === undefined ? {} : { listen: options.workerListen }),
              ...(http === undefined ? {} : { http }),
              ...options.workerOptions,
            })
            running.set(childId, worker)
            yield* Effect.addFinalizer(() => Effect.sync(() => running.get(childId) === worker && running.delete(childId)))
            yield* Supervisor.signalReady
            return yield* worker.stopped
          }),
          readiness: "signal",
        })
      }
    }

    const supervisor = yield* Supervisor.start(
      {
        name: `node ${nodeId}`,
        strategy: "one-for-one",
        intensity: 5,
        periodMs: 10_000,
        backoff: { initialMs: 100, maxMs: 5_000 },
        onEvent: Supervisor.logEvent,
        ...options.supervision,
      },
      children,
    )
    return {
      id: nodeId,
      controller: () => Ref.getUnsafe(controllerRef),
      controllerAddress,
      workers: runningWorkers,
      supervisor,
      client: (clientOptions) =>
        Client.make({
          controller: controllerAddress,
          ...(clientOptions?.timeoutMs === undefined ? {} : { timeoutMs: clientOptions.timeoutMs }),
        }).pipe(Effect.provideService(Transport, transport)),
    } satisfies CrankNode
  })
