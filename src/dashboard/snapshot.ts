/**
 * What the dashboard is sent: the mesh as `crank.status` describes it, plus the server's clock, counts by
 * lifecycle state and per-worker heartbeat ages, so a page can render without doing arithmetic on clocks it
 * does not share with the controller.
 *
 * The status comes from the controller's own `crank.status` capability (through `serve`, as any client would
 * get it), so `/api/status`, the dashboard and `crank status` cannot disagree.
 */
import * as Effect from "effect/Effect"
import type { Controller, LifecycleTransition, WorkerView } from "../../actors/Controller.ts"
import { readAllPages } from "../../actors/paging.ts"
import { type LifecycleState, lifecycleStates } from "../../actors/workerLifecycle.ts"
import type { CrankError } from "../../capabilities/CrankError.ts"
import type { MeshStatus, WorkerStatus } from "../../capabilities/crank.ts"
import { type CapabilityStats, errorOf } from "../../transports/Envelope.ts"

let requests = 0

/** The controller's answer to `crank.status`, as the JSON it sends on the wire, every page of workers read. */
export const meshStatus = (controller: Controller): Effect.Effect<MeshStatus, CrankError> =>
  readAllPages((after) =>
    Effect.flatMap(
      controller.serve({
        _tag: "Invoke",
        id: `dashboard-${++requests}`,
        capability: "crank.status",
        range: "^1",
        input: after === undefined ? {} : { after },
        timeoutMs: 5_000,
      }),
      (reply) => (reply._tag === "Result" ? Effect.succeed(reply.output as MeshStatus) : Effect.fail(errorOf(reply))),
    ),
  )

export type WorkerEntry = Omit<WorkerStatus, "transitions"> & {
  /** Milliseconds since the last heartbeat, at the snapshot's `now`. */
  readonly heartbeatAgeMs: number
  /** Present in full snapshots only: the periodic ones leave the timeline to transition events. */
  readonly transitions?: WorkerStatus["transitions"]
}

export interface DashboardSnapshot {
  /** `full`: the first event of a stream, with every worker's recent transitions; `periodic`: the rest, without. */
  readonly kind: "full" | "periodic"
  /** The controller's clock, ms since the epoch: ages on the page tick from here. */
  readonly now: number
  readonly controller: MeshStatus["controller"]
  readonly counts: Readonly<Record<LifecycleState, number>>
  readonly nodes: MeshStatus["nodes"]
  readonly workers: ReadonlyArray<WorkerEntry>
  readonly capabilities: MeshStatus["capabilities"]
  /** Requests per capability version since the controller started (see `RequestTotals`). */
  readonly requests: ReadonlyArray<CapabilityStats>
  /** The federation's controllers, this one first, exactly as `crank.status` gives them; absent when not federated. */
  readonly controllers?: MeshStatus["controllers"]
}

/** One transition as the dashboard's `transition` event: the worker's entry after it, absent once it is gone. */
export interface TransitionEvent extends LifecycleTransition {
  readonly worker?: WorkerEntry
}

const countsOf = (workers: ReadonlyArray<{ readonly state: string }>): Record<LifecycleState, number> => {
  const counts = Object.fromEntries(lifecycleStates.map((s) => [s, 0])) as Record<LifecycleState, number>
  for (const w of workers) if (w.state in counts) counts[w.state as LifecycleState]++
  return counts
}

export const snapshotOf = (
  status: MeshStatus,
  options: { readonly kind: DashboardSnapshot["kind"]; readonly now: number; readonly requests: ReadonlyArray<CapabilityStats> },
): DashboardSnapshot => ({
  kind: options.kind,
  now: options.now,
  controller: status.controller,
  counts: countsOf(status.workers),
  nodes: status.nodes,
  workers: status.workers.map(({ transitions, ...worker }) => ({
    ...worker,
    heartbeatAgeMs: Math.max(0, options.now - worker.lastHeartbeatAt),
    ...(options.kind === "full" ? { transitions } : {}),
  })),
  capabilities: status.capabilities,
  requests: options.requests,
  ...(status.controllers === undefined ? {} : { controllers: status.controllers }),
})

/** A live worker's entry (without its timeline), from the controller's view of it. */
export const entryOf = (view: WorkerView, now: number): WorkerEntry => {
  const { transitions: _timeline, address, ...rest } = view
  return { ...rest, ...(address === undefined ? {} : { address }), heartbeatAgeMs: Math.max(0, now - view.lastHeartbeatAt) }
}
