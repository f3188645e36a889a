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
import { defaults, type Timings } from "../actors/defaults.ts"
import type { Implementation } from "../actors/Implementation.ts"
import * as Worker from "../actors/Worker.ts"
import type { Transport, TransportError } from "../transports/Transport.ts"
import { logTransitions } from "./logTransitions.ts"
import * as Supervisor from "./supervisor/Supervisor.ts"

export interface WorkerPlacement {
  readonly definition: Worker.WorkerDefinition
  /** Instances of this worker on the node. Default 1. */
  readonly replicas?: number
}

export interface NodeOptions {
  readonly transport: Transport
  readonly nodeId?: string
  /** Run a controller on this node, listening at these addresses (the first is the one workers here dial). */
  readonly controller?: {
    readonly addresses: ReadonlyArray<string>
    readonly timings?: Partial<Timings>
    readonly token?: string
    readonly implementations?: ReadonlyArray<Implementation>
    /** Log every lifecycle transition through Effect's Logger (default true). */
    readonly logTransitions?: boolean
  }
  /** The controller this node's workers register with; defaults to the node's own. */
  readonly controllerAddress?: string
  readonly workers?: ReadonlyArray<Worker.WorkerDefinition | WorkerPlacement>
  /** Where workers accept direct requests: `memory://` or `ws://127.0.0.1:0` give each a fresh address. */
  readonly workerListen?: string
  readonly workerOptions?: Pick<Worker.WorkerOptions, "token" | "drainDeadlineMs" | "backoff" | "advertise">
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
  /** A client of this node's controller. */
  readonly client: (options?: { readonly timeoutMs?: number }) => Effect.Effect<Client.Client, TransportError, Scope.Scope>
}

const placementOf = (entry: Worker.WorkerDefinition | WorkerPlacement): WorkerPlacement =>
  "definition" in entry ? entry : { definition: entry }

/**
 * Starts a node. Returns once the controller is listening and every worker has started (registration goes on
 * in the background); everything stops, workers draining first, when the scope closes.
 */
export const start = (options: NodeOptions): Effect.Effect<CrankNode, Supervisor.SupervisorError, Scope.Scope> =>
  Effect.gen(function* () {
    const nodeId = options.nodeId ?? `node-${process.pid}`
    const controllerAddress = options.controllerAddress ?? options.controller?.addresses[0]
    if (controllerAddress === undefined) {
      return yield* Effect.die(new Error("a node needs a controller of its own or a controllerAddress"))
    }
    const controllerRef = yield* Ref.make<Controller.Controller | undefined>(undefined)
    const running = new Map<string, Worker.RunningWorker>()
    const children: Array<Supervisor.ChildSpec> = []

    if (options.controller !== undefined) {
      const settings = options.controller
      children.push({
        id: "controller",
        start: Effect.gen(function* () {
          // Opened before the controller, so it closes after it: transitions published while the controller
          // shuts down (the workers' last Deregister) are still logged.
          const loggingScope = yield* Scope.fork(yield* Effect.scope)
          const [first, ...rest] = settings.addresses
          const controller = yield* Controller.make({
            transport: options.transport,
            address: first!,
            extraAddresses: rest,
            ...(settings.timings === undefined ? {} : { timings: settings.timings }),
            ...(settings.token === undefined ? {} : { token: settings.token }),
            ...(settings.implementations === undefined ? {} : { implementations: settings.implementations }),
          })
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
          shutdown: (options.workerOptions?.drainDeadlineMs ?? defaults.drainDeadlineMs) + 5_000,
          start: Effect.gen(function* () {
            const worker = yield* Worker.start(entry.definition, {
              transport: options.transport,
              controller: controllerAddress,
              nodeId,
              workerId: `${nodeId}/${childId}`,
              ...(options.workerListen === undefined ? {} : { listen: options.workerListen }),
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
      workers: () => [...running.values()],
      supervisor,
      client: (clientOptions) =>
        Client.make({
          transport: options.transport,
          controller: controllerAddress,
          ...(clientOptions?.timeoutMs === undefined ? {} : { timeoutMs: clientOptions.timeoutMs }),
        }),
    } satisfies CrankNode
  })
