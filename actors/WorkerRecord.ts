/**
 * What the controller keeps per worker: who it is, what it serves and where, its lifecycle snapshot, its last
 * heartbeat's counts; and the plain views of it that status, routes and the dashboard read.
 */
import * as Effect from "effect/Effect"
import { getInitialSnapshot } from "xstate"
import type { CapabilityDescriptor, Placement, StrategyName } from "../capabilities/Capability.ts"
import type { CapabilityStats } from "../transports/Envelope.ts"
import { Breaker, type BreakerOptions, type BreakerStateName } from "./breaker.ts"
import type { Routable } from "./Router.ts"
import { Ewma } from "./routing/ewma.ts"
import { meets } from "./routing/placement.ts"
import type { LifecycleTransition, WorkerView } from "./WorkerView.ts"
import { type LifecycleSnapshot, type LifecycleState, stateOf, workerLifecycle } from "./workerLifecycle.ts"

export class WorkerRecord<C> implements Routable {
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
  /** Requests the controller's relay sent to it and has not had answered (least-in-flight adds `inFlight`). */
  pending = 0
  /** Made once per worker, not per request: the relay's `ensuring` after each attempt. */
  readonly settle: Effect.Effect<void> = Effect.sync(() => {
    this.pending--
  })
  /** The relay's breaker for this worker; a new registration starts closed. */
  readonly breaker: Breaker
  /** Latencies the relay observed (latency-aware routing). */
  readonly latency = new Ewma()
  readonly capabilities: ReadonlyArray<{
    readonly id: string
    readonly version: string
    readonly strategy?: StrategyName | undefined
    readonly placement?: Placement | undefined
  }>

  constructor(
    readonly id: string,
    readonly nodeId: string,
    readonly connection: C,
    readonly descriptors: ReadonlyArray<CapabilityDescriptor>,
    readonly address: string | undefined,
    readonly maxInFlight: number,
    readonly registeredAt: number,
    /** What the worker offers, from its `Register`. */
    readonly placement: Placement = {},
    breaker: BreakerOptions = { failures: 5, coolDownMs: 5_000 },
  ) {
    this.lastHeartbeatAt = registeredAt
    this.breaker = new Breaker(breaker)
    this.capabilities = descriptors.map((d) => ({ id: d.id, version: d.version, strategy: d.routing?.strategy, placement: d.placement }))
  }

  /** What the worker reported serving in its last heartbeat. */
  get reportedInFlight(): number {
    return this.inFlight
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
  readonly nodeId?: string
  /** What the worker offers, when anything. */
  readonly placement?: Placement
  readonly capabilities: ReadonlyArray<{
    readonly id: string
    readonly version: string
    readonly idempotent: boolean
    readonly strategy?: StrategyName
    /** What the capability requires, when anything. */
    readonly placement?: Placement
  }>
}

/** The routing-table entry of a routable worker with an address: only the capabilities whose placement it meets. */
export const routeOf = <C>(record: WorkerRecord<C> & { readonly address: string }): Route => ({
  id: record.id,
  address: record.address,
  nodeId: record.nodeId,
  ...(isEmpty(record.placement) ? {} : { placement: record.placement }),
  capabilities: record.descriptors
    .filter((d) => meets(d.placement, record.placement))
    .map((d) => ({
      id: d.id,
      version: d.version,
      idempotent: d.idempotent,
      ...(d.routing === undefined ? {} : { strategy: d.routing.strategy }),
      ...(isEmpty(d.placement) ? {} : { placement: d.placement }),
    })),
})

/** A placement that asks or offers nothing: left out of routing-table entries, which most workers do not need. */
const isEmpty = (placement: Placement | undefined): boolean =>
  placement === undefined || (placement.gpu === undefined && (placement.labels === undefined || Object.keys(placement.labels).length === 0))

/** What status and /metrics read of a worker: its view, and the state of the relay's breaker for it. */
export type RoutedView = WorkerView & { readonly breaker: BreakerStateName }

export const viewOf = <C>(record: WorkerRecord<C>): RoutedView => ({
  id: record.id,
  nodeId: record.nodeId,
  state: record.state,
  address: record.address,
  capabilities: record.capabilities.map(({ id, version }) => ({ id, version })),
  maxInFlight: record.maxInFlight,
  inFlight: record.inFlight,
  completed: record.completed,
  stats: record.stats,
  registeredAt: record.registeredAt,
  lastHeartbeatAt: record.lastHeartbeatAt,
  transitions: [...record.transitions],
  breaker: record.breaker.name,
})
