/**
 * The controller's handlers for `crank.status`, `crank.drain` and `crank.routes` (contracts in
 * capabilities/crank.ts). They run through a `RequestServer` like any worker's, so system requests get the
 * same validation and typed errors.
 */
import * as Effect from "effect/Effect"
import type { Catalog } from "../capabilities/Catalog.ts"
import type { CrankError } from "../capabilities/CrankError.ts"
import { CrankDrain, CrankRoutes, CrankStatus, type FederatedController, type MeshStatus } from "../capabilities/crank.ts"
import { type Implementation, implement } from "./Implementation.ts"
import { byId, pageOf } from "./paging.ts"
import type { Route } from "./Registry.ts"
import type { Timings } from "./Tunables.ts"
import type { WorkerView } from "./WorkerView.ts"

/** The part of the controller the system capabilities read and drive. */
export interface SystemView {
  readonly address: string
  readonly timings: Timings
  readonly workers: () => ReadonlyArray<WorkerView>
  readonly descriptors: () => Catalog
  readonly drain: (workerId: string, deadlineMs?: number) => Effect.Effect<void, CrankError>
  readonly routes: () => ReadonlyArray<Route>
  /** Whether the controller is still within its recovery window (workers re-registering after it started). */
  readonly recovering: () => boolean
}

/** Page sizes: well under the 16 MiB frame limit, whatever the mesh holds (each worker is bounded by the limits). */
const statusPage = { maxItems: 1_000, maxBytes: 4 * 1024 * 1024 }
const routesPage = { maxItems: 2_000, maxBytes: 4 * 1024 * 1024 }
const jsonBytes = (value: unknown): number => JSON.stringify(value).length

/** `controllers`: the federation's controllers, when the controller is federated (`Elsewhere.controllers`). */
export const systemImplementations = (
  controller: SystemView,
  startedAt: number,
  controllers?: () => ReadonlyArray<FederatedController>,
): ReadonlyArray<Implementation> => [
  implement(CrankStatus, ({ after }): MeshStatus => {
    const workers = controller.workers()
    const nodes = new Map<string, Array<string>>()
    for (const worker of workers) nodes.set(worker.nodeId, [...(nodes.get(worker.nodeId) ?? []), worker.id])
    const statuses = byId(workers.map(({ address, ...rest }) => (address === undefined ? rest : { ...rest, address })))
    const page = pageOf(statuses, after, statusPage.maxItems, statusPage.maxBytes, jsonBytes)
    return {
      controller: { address: controller.address, startedAt, recovering: controller.recovering(), ...controller.timings },
      nodes: [...nodes].map(([id, ids]) => ({ id, workers: ids })),
      workers: page.items,
      ...(page.next === undefined ? {} : { next: page.next }),
      capabilities: controller.descriptors().map(({ descriptor, workers: ids }) => ({
        id: descriptor.id,
        version: descriptor.version,
        name: descriptor.name,
        description: descriptor.description,
        workers: [...ids],
      })),
      ...(controllers === undefined ? {} : { controllers: controllers() }),
    }
  }),
  implement(CrankDrain, ({ workerId, deadlineMs }) => controller.drain(workerId, deadlineMs).pipe(Effect.as({ workerId, draining: true }))),
  implement(CrankRoutes, ({ after }) => {
    const page = pageOf(byId(controller.routes()), after, routesPage.maxItems, routesPage.maxBytes, jsonBytes)
    return {
      workers: page.items,
      ...(controller.recovering() ? { recovering: true } : {}),
      ...(page.next === undefined ? {} : { next: page.next }),
    }
  }),
]
