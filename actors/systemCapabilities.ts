/**
 * The controller's handlers for `crank.status`, `crank.drain` and `crank.routes` (contracts in
 * capabilities/crank.ts). They run through a `RequestServer` like any worker's, so system requests get the
 * same validation and typed errors.
 */
import { Effect } from "effect"
import { CrankDrain, CrankRoutes, CrankStatus, type MeshStatus } from "../capabilities/crank.ts"
import type { Controller } from "./Controller.ts"
import { implement, type Implementation } from "./Implementation.ts"

export const systemImplementations = (controller: Controller, startedAt: number): ReadonlyArray<Implementation> => [
  implement(CrankStatus, (): MeshStatus => {
    const workers = controller.workers()
    const nodes = new Map<string, Array<string>>()
    for (const worker of workers) nodes.set(worker.nodeId, [...(nodes.get(worker.nodeId) ?? []), worker.id])
    return {
      controller: { address: controller.address, startedAt, ...controller.timings },
      nodes: [...nodes].map(([id, ids]) => ({ id, workers: ids })),
      workers: workers.map(({ address, ...rest }) => (address === undefined ? rest : { ...rest, address })),
      capabilities: controller.descriptors().map(({ descriptor, workers: ids }) => ({
        id: descriptor.id,
        version: descriptor.version,
        name: descriptor.name,
        description: descriptor.description,
        workers: [...ids],
      })),
    }
  }),
  implement(CrankDrain, ({ workerId, deadlineMs }) =>
    controller.drain(workerId, deadlineMs).pipe(Effect.as({ workerId, draining: true })),
  ),
  implement(CrankRoutes, () => ({ workers: controller.routes() })),
]
