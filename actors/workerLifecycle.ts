/**
 * The life of a worker, as one xstate machine: `starting → registered → healthy ⇄ stale → draining → stopped`.
 *
 * The same definition serves three readers:
 * - the worker runs it for itself (an xstate actor, driven by what its connection does);
 * - the controller keeps one snapshot per worker and moves it with xstate's pure `transition`, driven by what
 *   it hears; a heartbeat that changes nothing only refreshes a timestamp and never reaches the machine;
 * - the CLI and the dashboard draw it from this data (`crank diagram`), so the picture cannot drift.
 *
 * Events that do not apply in a state are ignored (xstate's default), so a late heartbeat after a drain
 * cannot revive a worker.
 */
import { type SnapshotFrom, setup, transition } from "xstate"

export type LifecycleEvent =
  | { readonly type: "REGISTERED" }
  | { readonly type: "HEARTBEAT" }
  | { readonly type: "HEARTBEAT_TIMEOUT" }
  | { readonly type: "DISCONNECTED" }
  | { readonly type: "DRAIN" }
  | { readonly type: "DRAINED" }
  | { readonly type: "DEREGISTERED" }
  | { readonly type: "EVICTED" }

export const lifecycleStates = ["starting", "registered", "healthy", "stale", "draining", "stopped"] as const
export type LifecycleState = (typeof lifecycleStates)[number]

export const workerLifecycle = setup({
  types: {
    events: {} as LifecycleEvent,
  },
}).createMachine({
  id: "worker",
  initial: "starting",
  states: {
    starting: {
      description: "Connecting to the controller and registering; retries with capped backoff and jitter.",
      on: {
        REGISTERED: "registered",
        DRAIN: "stopped",
        DEREGISTERED: "stopped",
      },
    },
    registered: {
      description: "The controller accepted the registration; healthy on the first acknowledged heartbeat.",
      on: {
        HEARTBEAT: "healthy",
        HEARTBEAT_TIMEOUT: "stale",
        DISCONNECTED: "stale",
        DRAIN: "draining",
        DEREGISTERED: "stopped",
      },
    },
    healthy: {
      description: "Heartbeats arrive on time; requests are routed here.",
      on: {
        HEARTBEAT_TIMEOUT: "stale",
        DISCONNECTED: "stale",
        DRAIN: "draining",
        DEREGISTERED: "stopped",
      },
    },
    stale: {
      description: "Heartbeats missed or the connection dropped; no requests are routed here.",
      on: {
        HEARTBEAT: "healthy",
        REGISTERED: "registered",
        DRAIN: "draining",
        EVICTED: "stopped",
        DEREGISTERED: "stopped",
      },
    },
    draining: {
      description: "No new work; in-flight requests finish within the drain deadline, then it deregisters.",
      on: {
        DRAINED: "stopped",
        DEREGISTERED: "stopped",
        EVICTED: "stopped",
      },
    },
    stopped: {
      description: "Deregistered or evicted. Final.",
      type: "final",
    },
  },
})

export type LifecycleSnapshot = SnapshotFrom<typeof workerLifecycle>

export const stateOf = (snapshot: LifecycleSnapshot): LifecycleState => snapshot.value as LifecycleState

/**
 * One snapshot per state: the machine has no context, so a snapshot is all in its state, and thousands of workers
 * in the same state can share one (about 0.4 KB each otherwise).
 */
const snapshots = new Map<LifecycleState, LifecycleSnapshot>()

/**
 * The next snapshot for `event`, without starting an actor: how the controller tracks thousands of workers
 * with a shared snapshot per state. Returns the same snapshot object when the event does not apply.
 */
export const nextSnapshot = (snapshot: LifecycleSnapshot, event: LifecycleEvent): LifecycleSnapshot => {
  const next = transition(workerLifecycle, snapshot, event)[0]
  if (next === snapshot) return snapshot
  const state = stateOf(next)
  const shared = snapshots.get(state)
  if (shared !== undefined) return shared
  snapshots.set(state, next)
  return next
}
