/**
 * The controller's view of worker lifecycles as Stately inspection events (the protocol of `@statelyai/inspect`,
 * which Stately Inspector and other xstate tools read), for the opt-in `/api/inspect` stream.
 *
 * The controller keeps a snapshot per worker rather than live xstate actors (see "Lifecycle" in DESIGN.md), so
 * these events are synthesised from what it records: each worker is an actor whose session id is the worker id
 * (`@xstate.actor`, with the machine's definition as JSON); each transition is the event that caused it
 * (`@xstate.event`) followed by the new snapshot (`@xstate.snapshot`). A heartbeat that changes nothing is not an
 * event here, as it never reaches the machine in the controller either.
 */
import type { LifecycleTransition } from "../../actors/Controller.ts"
import { workerLifecycle } from "../../actors/workerLifecycle.ts"

/** The protocol revision these events follow (`@statelyai/inspect`'s `_version` field). */
export const inspectProtocolVersion = "0.4.0"

/** The session id of the controller, the source of every event. */
export const controllerSessionId = "crank.controller"

interface BaseEvent {
  readonly type: "@xstate.actor" | "@xstate.event" | "@xstate.snapshot"
  readonly sessionId: string
  readonly rootId: string | undefined
  readonly createdAt: string
  readonly id: string
  readonly _version: string
}

export interface InspectedSnapshot {
  readonly status: "active" | "done"
  readonly value: string
  readonly context: Record<string, never>
}

export interface InspectActorEvent extends BaseEvent {
  readonly type: "@xstate.actor"
  readonly name: string
  readonly definition: string | undefined
  readonly parentId: string | undefined
  readonly snapshot: InspectedSnapshot
}

export interface InspectEventEvent extends BaseEvent {
  readonly type: "@xstate.event"
  readonly event: { readonly type: string }
  readonly sourceId: string | undefined
}

export interface InspectSnapshotEvent extends BaseEvent {
  readonly type: "@xstate.snapshot"
  readonly event: { readonly type: string }
  readonly snapshot: InspectedSnapshot
}

export type InspectEvent = InspectActorEvent | InspectEventEvent | InspectSnapshotEvent

let sequence = 0
const base = (type: BaseEvent["type"], sessionId: string, at: number): BaseEvent => ({
  type,
  sessionId,
  rootId: sessionId,
  createdAt: String(at),
  id: `${sessionId}#${++sequence}`,
  _version: inspectProtocolVersion,
})

/** The machine definition as the inspector wants it: its config as JSON (computed once). */
let definition: string | undefined
const definitionJson = (): string => (definition ??= JSON.stringify(workerLifecycle.config))

const snapshotOf = (state: string): InspectedSnapshot => ({ status: state === "stopped" ? "done" : "active", value: state, context: {} })

/** A worker the controller knows, announced as an actor in `state`. */
export const actorEvent = (workerId: string, state: string, at: number): InspectActorEvent => ({
  ...base("@xstate.actor", workerId, at),
  type: "@xstate.actor",
  name: workerLifecycle.id,
  definition: definitionJson(),
  parentId: undefined,
  snapshot: snapshotOf(state),
})

/**
 * The events for one transition: a worker seen for the first time (it just registered) is announced first, then
 * the event and the resulting snapshot.
 */
export const transitionEvents = (transition: LifecycleTransition): Array<InspectEvent> => {
  const events: Array<InspectEvent> = []
  if (transition.from === "starting") events.push(actorEvent(transition.workerId, transition.from, transition.at))
  const event = { type: transition.event }
  events.push({ ...base("@xstate.event", transition.workerId, transition.at), type: "@xstate.event", event, sourceId: controllerSessionId })
  events.push({ ...base("@xstate.snapshot", transition.workerId, transition.at), type: "@xstate.snapshot", event, snapshot: snapshotOf(transition.to) })
  return events
}
