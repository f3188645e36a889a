/**
 * What the controller knows of its workers, as plain data: the shape `crank status`, the dashboard and
 * `/metrics` read. Kept apart from the controller so readers need not depend on the actor itself.
 */
import type { CapabilityStats } from "../transports/Envelope.ts"
import type { LifecycleEvent, LifecycleState } from "./workerLifecycle.ts"

/** A lifecycle change as the controller saw it: what the dashboard's timeline and `crank watch` show. */
export interface LifecycleTransition {
  readonly workerId: string
  readonly from: LifecycleState
  readonly to: LifecycleState
  readonly event: LifecycleEvent["type"]
  readonly at: number
}

/** What the controller knows of one worker, as plain data. */
export interface WorkerView {
  readonly id: string
  readonly nodeId: string
  readonly state: LifecycleState
  readonly address: string | undefined
  readonly capabilities: ReadonlyArray<{ readonly id: string; readonly version: string }>
  readonly maxInFlight: number
  readonly inFlight: number
  readonly completed: number
  /** What the worker reported in its last heartbeat: outcomes and latencies per capability version. */
  readonly stats: ReadonlyArray<CapabilityStats>
  readonly registeredAt: number
  readonly lastHeartbeatAt: number
  readonly transitions: ReadonlyArray<LifecycleTransition>
}
