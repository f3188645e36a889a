import { describe, expect, it } from "vitest"
import { createActor, getInitialSnapshot } from "xstate"
import { type LifecycleEvent, type LifecycleState, lifecycleStates, nextSnapshot, stateOf, workerLifecycle } from "../../actors/workerLifecycle.ts"

const events = ["REGISTERED", "HEARTBEAT", "HEARTBEAT_TIMEOUT", "DISCONNECTED", "DRAIN", "DRAINED", "DEREGISTERED", "EVICTED"] as const satisfies ReadonlyArray<
  LifecycleEvent["type"]
>
type EventType = (typeof events)[number]

/**
 * The specification: for every state, where each event leads. `null` means the event does not apply there and
 * must be ignored (the snapshot is returned unchanged). Every cell is spelled out, so adding a transition to
 * the machine without updating this table fails the test.
 */
const spec: Record<LifecycleState, Record<EventType, LifecycleState | null>> = {
  starting: {
    REGISTERED: "registered",
    HEARTBEAT: null,
    HEARTBEAT_TIMEOUT: null,
    DISCONNECTED: null,
    DRAIN: "stopped",
    DRAINED: null,
    DEREGISTERED: "stopped",
    EVICTED: null,
  },
  registered: {
    REGISTERED: null,
    HEARTBEAT: "healthy",
    HEARTBEAT_TIMEOUT: "stale",
    DISCONNECTED: "stale",
    DRAIN: "draining",
    DRAINED: null,
    DEREGISTERED: "stopped",
    EVICTED: null,
  },
  healthy: {
    REGISTERED: null,
    HEARTBEAT: null,
    HEARTBEAT_TIMEOUT: "stale",
    DISCONNECTED: "stale",
    DRAIN: "draining",
    DRAINED: null,
    DEREGISTERED: "stopped",
    EVICTED: null,
  },
  stale: {
    REGISTERED: "registered",
    HEARTBEAT: "healthy",
    HEARTBEAT_TIMEOUT: null,
    DISCONNECTED: null,
    DRAIN: "draining",
    DRAINED: null,
    DEREGISTERED: "stopped",
    EVICTED: "stopped",
  },
  draining: {
    REGISTERED: null,
    HEARTBEAT: null,
    HEARTBEAT_TIMEOUT: null,
    DISCONNECTED: null,
    DRAIN: null,
    DRAINED: "stopped",
    DEREGISTERED: "stopped",
    EVICTED: "stopped",
  },
  stopped: {
    REGISTERED: null,
    HEARTBEAT: null,
    HEARTBEAT_TIMEOUT: null,
    DISCONNECTED: null,
    DRAIN: null,
    DRAINED: null,
    DEREGISTERED: null,
    EVICTED: null,
  },
}

const snapshotIn = (state: LifecycleState) => workerLifecycle.resolveState({ value: state })

const cells = lifecycleStates.flatMap((state) => events.map((event) => ({ state, event, expected: spec[state][event] })))

describe("workerLifecycle", () => {
  it("declares exactly the states and events of the spec", () => {
    expect([...lifecycleStates].sort()).toEqual(Object.keys(spec).sort())
    expect(Object.keys(workerLifecycle.config.states ?? {}).sort()).toEqual([...lifecycleStates].sort())
    // Every event the machine reacts to anywhere is one the spec covers.
    const handled = new Set(Object.values(workerLifecycle.config.states ?? {}).flatMap((node) => Object.keys(node.on ?? {})))
    for (const event of handled) expect(events).toContain(event)
  })

  it("starts in `starting`", () => {
    const initial = getInitialSnapshot(workerLifecycle)
    expect(stateOf(initial)).toBe("starting")
    expect(initial.status).toBe("active")
  })

  it("has `stopped` as its only final state", () => {
    const finals = Object.entries(workerLifecycle.config.states ?? {})
      .filter(([, node]) => node.type === "final")
      .map(([name]) => name)
    expect(finals).toEqual(["stopped"])
    expect(snapshotIn("stopped").status).toBe("done")
  })

  describe("transition table (nextSnapshot)", () => {
    it.each(cells)("$state --$event--> $expected", ({ state, event, expected }) => {
      const before = snapshotIn(state)
      expect(stateOf(before)).toBe(state)
      const after = nextSnapshot(before, { type: event })
      if (expected === null) {
        // Ignored: the very same object, which is what lets the controller skip unchanged workers cheaply.
        expect(after).toBe(before)
        expect(stateOf(after)).toBe(state)
      } else {
        expect(after).not.toBe(before)
        expect(stateOf(after)).toBe(expected)
        expect(after.status).toBe(expected === "stopped" ? "done" : "active")
      }
    })

    it("covers all states × all events", () => {
      expect(cells).toHaveLength(lifecycleStates.length * events.length)
      expect(cells).toHaveLength(48)
    })
  })

  it("does not mutate the snapshot it is given", () => {
    const healthy = snapshotIn("healthy")
    nextSnapshot(healthy, { type: "DRAIN" })
    expect(stateOf(healthy)).toBe("healthy")
  })

  it("walks a full happy path as a started actor, ignoring out-of-place events on the way", () => {
    const actor = createActor(workerLifecycle).start()
    const seen: Array<LifecycleState> = [stateOf(actor.getSnapshot())]
    actor.subscribe((snapshot) => {
      const state = stateOf(snapshot)
      if (seen[seen.length - 1] !== state) seen.push(state)
    })
    const send = (type: EventType) => actor.send({ type })
    send("HEARTBEAT") // ignored: not registered yet
    send("REGISTERED")
    send("HEARTBEAT")
    send("HEARTBEAT") // healthy stays healthy
    send("HEARTBEAT_TIMEOUT")
    send("REGISTERED") // reconnect + re-register
    send("HEARTBEAT")
    send("DISCONNECTED")
    send("HEARTBEAT")
    send("DRAIN")
    send("HEARTBEAT") // a late heartbeat cannot revive a draining worker
    send("DRAINED")
    expect(seen).toEqual(["starting", "registered", "healthy", "stale", "registered", "healthy", "stale", "healthy", "draining", "stopped"])
    expect(actor.getSnapshot().status).toBe("done")
    expect(stateOf(actor.getSnapshot())).toBe("stopped")
  })

  it("a started actor agrees with nextSnapshot on every cell it can receive", () => {
    // A started actor in its final state is done and takes no events (xstate warns), hence `stopped` is left
    // to the nextSnapshot table above.
    for (const { state, event, expected } of cells.filter((c) => c.state !== "stopped")) {
      const actor = createActor(workerLifecycle, { snapshot: snapshotIn(state) }).start()
      actor.send({ type: event })
      expect(stateOf(actor.getSnapshot()), `${state} --${event}-->`).toBe(expected ?? state)
      actor.stop()
    }
  })
})
