/**
 * The types of model.js, the dashboard page's pure model. The page ships as plain JavaScript (no build step) and
 * the repository's tsconfig does not read JavaScript, so TypeScript sees the module through this file:
 * tests/unit/dashboardModel.test.ts imports `model.js` and is checked against these declarations, and the test
 * checks the behaviour behind them. The shapes are the server's own types (snapshot.ts, machineGraph.ts).
 */
import type { CapabilityStats } from "../../../transports/Envelope.ts"
import type { GraphTransition, MachineGraph } from "../../diagram/machineGraph.ts"
import type { DashboardSnapshot, TransitionEvent, WorkerEntry } from "../snapshot.ts"

type Timeline = NonNullable<WorkerEntry["transitions"]>
type Capability = DashboardSnapshot["capabilities"][number]

/** A live worker as the page holds it: its latest entry, with the timeline the page has gathered. */
export type PageWorker = Omit<WorkerEntry, "transitions"> & { transitions: Array<Timeline[number]> }

export interface GoneWorker {
  readonly entry: PageWorker
  /** When it went, on the controller's clock. */
  readonly at: number
  readonly from: string
  /** The event that stopped it, or `vanished` when a snapshot no longer had it. */
  readonly event: string
}

export type GroupBy = "capability" | "node" | "state" | "none"

export interface Model {
  states: Array<string>
  descriptions: Record<string, string | undefined>
  transitions: ReadonlyArray<GraphTransition>
  workers: Map<string, PageWorker>
  gone: Array<GoneWorker>
  activity: Array<Timeline[number] | TransitionEvent>
  seen: Set<string>
  controller: DashboardSnapshot["controller"] | undefined
  capabilities: DashboardSnapshot["capabilities"]
  nodes: DashboardSnapshot["nodes"]
  requests: ReadonlyArray<CapabilityStats>
  controllers: DashboardSnapshot["controllers"]
  offset: number
  selected: string | undefined
  filter: string
  groupBy: GroupBy | string
  stateFilter: string | undefined
  flashes: Set<string>
}

/** What /api/machine.json serves: the graph, plus the states in the machine's order. */
export type MachineJson = MachineGraph & { readonly order?: ReadonlyArray<string> }

export interface Group {
  readonly key: string
  /** The capability, when grouped by capability. */
  readonly title: { readonly id: string; readonly version: string } | undefined
  readonly workers: Array<PageWorker>
}

export interface CapabilityRow {
  readonly capability: Capability
  readonly stats: CapabilityStats | undefined
  readonly total: number
  readonly errors: number
  readonly healthy: number
  readonly meanMs: number | undefined
}

type FederatedController = NonNullable<DashboardSnapshot["controllers"]>[number]

export type ControllerStatus = "self" | "synced" | "syncing" | "silent"

export interface FederationRow {
  readonly id: string
  readonly version: string
  /** One per controller, in `Federation.controllers`' order: what it announced, or undefined where it serves none. */
  readonly cells: ReadonlyArray<{ readonly workers: number; readonly inFlight: number; readonly maxInFlight: number } | undefined>
  /** Routable workers behind every controller together. */
  readonly workers: number
}

export interface Federation {
  /** This controller first, then the others by id. */
  readonly controllers: ReadonlyArray<FederatedController & { readonly status: ControllerStatus }>
  readonly capabilities: ReadonlyArray<FederationRow>
}

export declare const goneKeepMs: number
export declare const goneMax: number
export declare const activityMax: number
export declare const timelineMax: number

export declare const capKey: (c: { readonly id: string; readonly version: string }) => string
export declare const byId: (a: string, b: string) => number
export declare const makeModel: (groupBy?: GroupBy | string) => Model
export declare const serverNow: (model: Model, localNow: number) => number
export declare const applyMachine: (model: Model, machine: MachineJson) => void
export declare const applySnapshot: (model: Model, snapshot: DashboardSnapshot, localNow: number) => void
export declare const applyTransition: (model: Model, transition: TransitionEvent) => void
export declare const pruneGone: (model: Model, localNow: number) => void
export declare const matches: (model: Model, worker: PageWorker) => boolean
export declare const groupsOf: (model: Model, workers: ReadonlyArray<PageWorker>) => Array<Group>
export declare const visibleWorkers: (model: Model) => {
  readonly all: Array<PageWorker>
  readonly shown: Array<PageWorker>
  readonly groups: Array<Group>
}
export declare const countsOf: (model: Model) => Record<string, number>
export declare const totalRequests: (model: Model) => number
export declare const capabilityRows: (model: Model) => Array<CapabilityRow>
export declare const heartbeatLevel: (model: Model, ms: number) => "" | "late" | "dead"
export declare const selectedWorker: (
  model: Model,
  shown: ReadonlyArray<PageWorker>,
) => { readonly worker: PageWorker | undefined; readonly gone: GoneWorker | undefined }
export declare const nextTransitions: (model: Model, state: string | undefined) => Array<GraphTransition>
export declare const controllerStatus: (controller: FederatedController) => ControllerStatus
export declare const federationOf: (model: Model) => Federation | undefined
