/**
 * What the controller keeps per worker: who it is, what it serves and where, its lifecycle snapshot, its last
 * heartbeat's counts; and the plain views of it that status, routes and the dashboard read.
 */
import { getInitialSnapshot } from "xstate"
import type { CapabilityDescriptor } from "../capabilities/Capability.ts"
import type { CapabilityStats } from "../transports/Envelope.ts"
import type { LifecycleTransition, WorkerView } from "./WorkerView.ts"
import { type LifecycleSnapshot, type LifecycleState, stateOf, workerLifecycle } from "./workerLifecycle.ts"

export class WorkerRecord<C> {
  routable = false
  snapshot: LifecycleSnapshot = getInitialSnapshot(workerLifecycle)
  lastHeartbeatAt: number
  staleSince = 0
  /** When a draining worker must have deregistered by: past it plus a stale window, it is evicted. */
  drainUntil = 0
  inFlight = 0
  completed = 0
  stats: ReadonlyArray<CapabilityStats> = []
  transitions: Array<LifecycleTransition> = []
  readonly capabilities: ReadonlyArray<{ readonly id: string; readonly version: string }>

  constructor(
    readonly id: string,
    readonly nodeId: string,
    readonly connection: C,
    readonly descriptors: ReadonlyArray<CapabilityDescriptor>,
    readonly address: string | undefined,
    readonly maxInFlight: number,
    readonly registeredAt: number,
  ) {
    this.lastHeartbeatAt = registeredAt
    this.capabilities = descriptors.map((d) => ({ id: d.id, version: d.version }))
  }

  get state(): LifecycleState {
    return stateOf(this.snapshot)
  }

  idempotent(capability: string): boolean {
    return this.descriptors.some((d) => d.id === capability && d.idempotent)
  }
}

/** A routing-table entry: a healthy worker clients can dial, with what it serves. */
export interface Route {
  readonly id: string
  readonly address: string
  readonly capabilities: ReadonlyArray<{ readonly id: string; readonly version: string; readonly idempotent: boolean }>
}

export const viewOf = <C>(record: WorkerRecord<C>): WorkerView => ({
  id: record.id,
  nodeId: record.nodeId,
  state: record.state,
  address: record.address,
  capabilities: record.capabilities,
  maxInFlight: record.maxInFlight,
  inFlight: record.inFlight,
  completed: record.completed,
  stats: record.stats,
  registeredAt: record.registeredAt,
  lastHeartbeatAt: record.lastHeartbeatAt,
  transitions: [...record.transitions],
})
