/**
 * The controller actor: the registry of workers, their lifecycle as the controller sees it, and routing.
 *
 * Control traffic (register, heartbeat, drain, deregister, disconnects) goes through one mailbox and is
 * handled by one fiber, so the registry has a single writer. Requests do not: `serve` picks a worker and
 * relays in the caller's fiber (the data path never queues behind heartbeats).
 *
 * Each worker's lifecycle is a snapshot of `workerLifecycle`, moved with xstate's pure `transition` only by
 * events that can change it; a heartbeat from a healthy worker just refreshes a timestamp (see "Lifecycle" in
 * docs/architecture.md for the measurement behind this).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Iterable from "effect/Iterable"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { getInitialSnapshot } from "xstate"
import type { CapabilityDescriptor } from "../capabilities/Capability.ts"
import { type Catalog, catalogOf } from "../capabilities/Catalog.ts"
import { crankError, mayRetryElsewhere, type CrankError } from "../capabilities/CrankError.ts"
import { noWorkerMessage, type Offer } from "../capabilities/noWorkerMessage.ts"
import {
  type CapabilityStats,
  complaintOf,
  failureOf,
  type ControlMessage,
  type Invoke,
  type Register,
  type Reply,
} from "../transports/Envelope.ts"
import { CloseCodes, type CloseInfo, type Connection, type Handlers, type Transport, type TransportError } from "../transports/Transport.ts"
import { callWithin, remainingOf } from "./callWithin.ts"
import { defaults, type Timings } from "./defaults.ts"
import type { Implementation } from "./Implementation.ts"
import * as RequestServer from "./RequestServer.ts"
import { Router } from "./Router.ts"
import { systemImplementations } from "./systemCapabilities.ts"
import type { LifecycleTransition, WorkerView } from "./WorkerView.ts"
import {
  type LifecycleEvent,
  type LifecycleSnapshot,
  type LifecycleState,
  nextSnapshot,
  stateOf,
  workerLifecycle,
} from "./workerLifecycle.ts"

export type { LifecycleTransition, WorkerView } from "./WorkerView.ts"

class WorkerRecord {
  routable = false
  snapshot: LifecycleSnapshot = getInitialSnapshot(workerLifecycle)
  lastHeartbeatAt: number
  staleSince = 0
  /** When a draining worker must have deregistered by (its drain deadline): past it plus a stale window, it is evicted. */
  drainUntil = 0
  inFlight = 0
  completed = 0
  stats: ReadonlyArray<CapabilityStats> = []
  readonly transitions: Array<LifecycleTransition> = []
  readonly capabilities: ReadonlyArray<{ readonly id: string; readonly version: string }>

  constructor(
    readonly id: string,
    readonly nodeId: string,
    public connection: Connection,
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
}

type MailItem =
  | { readonly kind: "message"; readonly connection: Connection; readonly message: ControlMessage }
  | { readonly kind: "closed"; readonly connection: Connection; readonly info: CloseInfo }
  | { readonly kind: "drain"; readonly workerId: string; readonly deadlineMs: number }
  | { readonly kind: "sweep" }

export interface ControllerOptions {
  readonly transport: Transport
  /** Where to listen, e.g. `memory://controller` or `ws://127.0.0.1:7070`. */
  readonly address: string
  /** More addresses to accept connections on (e.g. in-process workers on `memory://` beside `ws://` nodes). */
  readonly extraAddresses?: ReadonlyArray<string>
  readonly timings?: Partial<Timings>
  /** When set, `Register` must carry this token or is refused with `UNAUTHORIZED`. */
  readonly token?: string
  /** More capabilities the controller serves itself, beside `crank.status`, `crank.drain` and `crank.routes`. */
  readonly implementations?: ReadonlyArray<Implementation>
}

export interface Controller {
  /** The address workers and clients dial. */
  readonly address: string
  readonly timings: Timings
  readonly workers: () => ReadonlyArray<WorkerView>
  readonly worker: (id: string) => WorkerView | undefined
  /** Every capability advertised by a live worker, with its workers. */
  readonly descriptors: () => Catalog
  /** Asks a worker to drain: no new work is routed to it, in-flight finishes, then it deregisters. */
  readonly drain: (workerId: string, deadlineMs?: number) => Effect.Effect<void, CrankError>
  /** Lifecycle transitions as they happen; a slow subscriber loses the oldest, never blocks the controller. */
  readonly transitions: PubSub.PubSub<LifecycleTransition>
  /** Healthy workers that can be dialled, with what they serve: the table clients route with. */
  readonly routes: () => Array<{ id: string; address: string; capabilities: Array<{ id: string; version: string; idempotent: boolean }> }>
  /** Picks a worker and relays `invoke` to it: the data path for callers that cannot dial workers. */
  readonly serve: (invoke: Invoke) => Effect.Effect<Reply>
}

const viewOf = (record: WorkerRecord): WorkerView => ({
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

/**
 * Starts a controller listening at `options.address`. It stops, closing every connection, when the scope closes.
 *
 * @example
 * ```ts
 * const controller = yield* Controller.make({ transport, address: "memory://controller" })
 * ```
 */
export const make = (options: ControllerOptions): Effect.Effect<Controller, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const timings: Timings = {
      heartbeatIntervalMs: options.timings?.heartbeatIntervalMs ?? defaults.heartbeatIntervalMs,
      staleAfterMs: options.timings?.staleAfterMs ?? defaults.staleAfterMs,
      evictAfterMs: options.timings?.evictAfterMs ?? defaults.evictAfterMs,
    }
    const registry = new Map<string, WorkerRecord>()
    const byConnection = new Map<Connection, WorkerRecord>()
    const router = new Router<WorkerRecord>()
    const mailbox = yield* Queue.unbounded<MailItem>()
    const transitions = yield* PubSub.sliding<LifecycleTransition>(4_096)

    const apply = (record: WorkerRecord, event: LifecycleEvent, at: number): void => {
      const before = record.snapshot
      const after = nextSnapshot(before, event)
      if (after === before) return
      record.snapshot = after
      const from = stateOf(before)
      const to = stateOf(after)
      record.routable = to === "healthy"
      if (to === "stale") record.staleSince = at
      const change: LifecycleTransition = { workerId: record.id, from, to, event: event.type, at }
      record.transitions.push(change)
      if (record.transitions.length > defaults.transitionHistory) record.transitions.shift()
      PubSub.publishUnsafe(transitions, change)
      if (to === "stopped") forget(record)
    }

    const forget = (record: WorkerRecord): void => {
      if (registry.get(record.id) === record) registry.delete(record.id)
      if (byConnection.get(record.connection) === record) byConnection.delete(record.connection)
      router.remove(record)
    }

    /**
     * Closes a connection without waiting for its closing handshake: the peers closed here (replaced, evicted,
     * refused) are the ones least likely to answer, and the mailbox must not wait seconds on them.
     */
    const closeLater = (connection: Connection, info: CloseInfo): Effect.Effect<void> =>
      Effect.sync(() => void Effect.runFork(connection.close(info)))

    const refuse = (connection: Connection, code: "UNAUTHORIZED" | "BAD_FRAME", message: string) =>
      connection.send(complaintOf(crankError(code, message))).pipe(
        Effect.ignore,
        Effect.andThen(closeLater(connection, { code: CloseCodes.policyViolation, reason: message })),
      )

    const onRegister = (connection: Connection, message: Register, now: number) =>
      Effect.gen(function* () {
        if (options.token !== undefined && message.token !== options.token) {
          return yield* refuse(connection, "UNAUTHORIZED", `worker ${message.workerId}: missing or wrong join token`)
        }
        const already = byConnection.get(connection)
        if (already !== undefined && already.id !== message.workerId) {
          // One connection, one worker: otherwise a single peer could fill the registry with records that no
          // disconnect would ever clean up.
          return yield* refuse(connection, "BAD_FRAME", `this connection already registered worker ${already.id}; register ${message.workerId} on a connection of its own`)
        }
        let previous = registry.get(message.workerId)
        if (previous !== undefined && previous.connection !== connection) {
          // The same worker on a new connection: it reconnected. The old link is dead or dying; drop it.
          byConnection.delete(previous.connection)
          yield* closeLater(previous.connection, { code: CloseCodes.normal, reason: "replaced by a newer connection" })
          if (previous.state === "draining") {
            // The draining instance is gone (a new process took its id): what registers now is a new life.
            apply(previous, { type: "EVICTED" }, now)
            previous = undefined
          }
        }
        let record = previous
        if (record === undefined || record.state === "stopped") {
          record = new WorkerRecord(message.workerId, message.nodeId, connection, message.capabilities, message.address, message.maxInFlight, now)
          registry.set(record.id, record)
        } else {
          // Capabilities may change across restarts: re-index under the new advertisement.
          router.remove(record)
          const fresh = new WorkerRecord(message.workerId, message.nodeId, connection, message.capabilities, message.address, message.maxInFlight, record.registeredAt)
          fresh.snapshot = record.snapshot
          fresh.transitions.push(...record.transitions)
          record = fresh
          registry.set(record.id, record)
        }
        record.lastHeartbeatAt = now
        byConnection.set(connection, record)
        router.add(record)
        apply(record, { type: "REGISTERED" }, now)
        // On a fresh, open link a healthy worker is routable again, even if its old link's close unset the flag.
        record.routable = record.state === "healthy"
        yield* connection
          .send({ _tag: "Registered", workerId: record.id, heartbeatIntervalMs: timings.heartbeatIntervalMs, staleAfterMs: timings.staleAfterMs })
          .pipe(Effect.ignore)
      })

    const handle = (item: MailItem): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        switch (item.kind) {
          case "message": {
            const { connection, message } = item
            if (message._tag === "Register") return onRegister(connection, message, now)
            const record = byConnection.get(connection)
            if (record === undefined) {
              if (message._tag === "Failure") return Effect.void
              return refuse(connection, "BAD_FRAME", `${message._tag} before Register`)
            }
            switch (message._tag) {
              case "Heartbeat":
                record.lastHeartbeatAt = now
                record.inFlight = message.inFlight
                record.completed = message.completed
                if (message.stats !== undefined) record.stats = message.stats
                if (record.state !== "healthy") apply(record, { type: "HEARTBEAT" }, now)
                return connection.send({ _tag: "HeartbeatAck", workerId: record.id, seq: message.seq }).pipe(Effect.ignore)
              case "Drain":
                // The worker announces it is draining (e.g. on SIGTERM): stop routing to it at once.
                if (record.state !== "draining") record.drainUntil = now + message.deadlineMs
                apply(record, { type: "DRAIN" }, now)
                return Effect.void
              case "Deregister":
                apply(record, { type: record.state === "draining" ? "DRAINED" : "DEREGISTERED" }, now)
                return Effect.void
              default:
                return Effect.void
            }
          }
          case "closed": {
            const record = byConnection.get(item.connection)
            if (record === undefined) return Effect.void
            byConnection.delete(item.connection)
            // A draining worker that hangs up cannot finish deregistering: it is gone.
            apply(record, { type: record.state === "draining" ? "EVICTED" : "DISCONNECTED" }, now)
            return Effect.void
          }
          case "drain": {
            const record = registry.get(item.workerId)
            if (record === undefined) return Effect.void
            if (record.state !== "draining") record.drainUntil = now + item.deadlineMs
            apply(record, { type: "DRAIN" }, now)
            return record.connection.send({ _tag: "Drain", workerId: record.id, deadlineMs: item.deadlineMs }).pipe(Effect.ignore)
          }
          case "sweep": {
            // Every record is checked on every sweep: evictions are collected, not returned from inside the loop.
            const evicted: Array<Connection> = []
            for (const record of registry.values()) {
              const state = record.state
              if ((state === "healthy" || state === "registered") && now - record.lastHeartbeatAt >= timings.staleAfterMs) {
                apply(record, { type: "HEARTBEAT_TIMEOUT" }, now)
              } else if (
                (state === "stale" && now - record.staleSince >= timings.evictAfterMs) ||
                // A draining worker that neither deregisters nor hangs up by its deadline (and a grace window).
                (state === "draining" && now >= record.drainUntil + timings.staleAfterMs)
              ) {
                apply(record, { type: "EVICTED" }, now)
                if (record.connection.isOpen()) evicted.push(record.connection)
              }
            }
            return Effect.forEach(evicted, (c) => closeLater(c, { code: CloseCodes.goingAway, reason: "evicted" }), { discard: true })
          }
        }
      })

    // One item that breaks must not stop the control plane: log it and go on with the next.
    const handleSafely = (item: MailItem): Effect.Effect<void> =>
      Effect.catchCause(Effect.suspend(() => handle(item)), (cause) =>
        Effect.logError(`controller: handling ${item.kind === "message" ? item.message._tag : item.kind} failed`, cause),
      )
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(mailbox), handleSafely)))
    // On shutdown, handle what is already in the mailbox (a worker's last Deregister, say) before stopping.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(function flush(): Effect.Effect<void> {
        const next = Queue.takeUnsafe(mailbox)
        return next === undefined || next._tag !== "Success" ? Effect.void : Effect.andThen(handleSafely(next.value), Effect.suspend(flush))
      }),
    )
    // Sweep often enough that staleness is noticed within a quarter of the stale window.
    const sweepEveryMs = Math.max(1, Math.min(timings.heartbeatIntervalMs, Math.floor(timings.staleAfterMs / 4)))
    yield* Effect.forkScoped(
      Effect.repeat(Effect.sync(() => Queue.offerUnsafe(mailbox, { kind: "sweep" })), Schedule.spaced(sweepEveryMs)),
    )

    /** A routable worker whose link is still open; one whose link just closed stops being routable at once. */
    const pickOpen = (capability: string, range: string, except?: WorkerRecord): WorkerRecord | undefined => {
      for (let tries = 0; tries < 4; tries++) {
        let worker = router.pick(capability, range)
        if (worker !== undefined && worker === except) worker = router.candidates(capability, range).find((w) => w.routable && w !== except)
        if (worker === undefined || worker.connection.isOpen()) return worker
        worker.routable = false
      }
      return undefined
    }

    /** Every live worker's offers as the router sees them: read only to explain a `NO_WORKER`. */
    function* offers(): Generator<Offer> {
      for (const record of registry.values()) {
        // Healthy but not routable: its link closed and the mailbox has not yet recorded the disconnect.
        const state = record.state === "healthy" && !record.routable ? "unreachable" : record.state
        for (const { id, version } of record.capabilities) yield { workerId: record.id, id, version, state }
      }
    }

    let system: RequestServer.RequestServer | undefined
    const relay = (invoke: Invoke): Effect.Effect<Reply> => {
      if (system !== undefined && invoke.capability.startsWith("crank.")) return system.serve(invoke)
      const worker = pickOpen(invoke.capability, invoke.range)
      if (worker === undefined) {
        // The failure path only: the message walks the registry, which the routing above never does.
        return Effect.succeed(failureOf(invoke.id, crankError("NO_WORKER", noWorkerMessage(invoke.capability, invoke.range, offers()))))
      }
      const startedAt = performance.now()
      return Effect.flatMap(callWithin(worker.connection, invoke), (reply) => retryElsewhere(invoke, worker, reply, 2, startedAt))
    }

    /**
     * A reply that says the request never ran (`DRAINING`, `OVERLOADED`, `NO_WORKER`), or that the worker vanished
     * while an idempotent request was in flight (`UNAVAILABLE`), is tried on another worker, with what is left of
     * the caller's deadline.
     */
    const retryElsewhere = (invoke: Invoke, tried: WorkerRecord, reply: Reply, attemptsLeft: number, startedAt: number): Effect.Effect<Reply> => {
      if (reply._tag === "Result" || attemptsLeft === 0) return Effect.succeed(reply)
      const idempotent = tried.descriptors.some((d) => d.id === invoke.capability && d.idempotent)
      if (!mayRetryElsewhere(reply.code, idempotent)) return Effect.succeed(reply)
      const again = remainingOf(invoke, startedAt, performance.now())
      if (again === undefined) return Effect.succeed(reply)
      // Round-robin alone may hand back the worker that just failed: skip it explicitly.
      const next = pickOpen(invoke.capability, invoke.range, tried)
      if (next === undefined) return Effect.succeed(reply)
      return Effect.flatMap(callWithin(next.connection, again), (answer) => retryElsewhere(invoke, next, answer, attemptsLeft - 1, startedAt))
    }

    const accept = (connection: Connection): Handlers => {
      // Control traffic is bounded per connection: a peer flooding frames is cut off, not queued without end.
      let windowStart = 0
      let inWindow = 0
      // Ids are the caller's own: two callers may pick the same one, so relayed requests get a prefix that is
      // unique per connection before they share a worker's link, and lose it on the way back.
      const prefix = `${connection.id}/`
      return {
        onMessage: (message) => {
          const now = Date.now()
          if (now - windowStart >= 1_000) {
            windowStart = now
            inWindow = 0
          }
          if (++inWindow > defaults.maxControlMessagesPerSecond) {
            if (inWindow === defaults.maxControlMessagesPerSecond + 1) {
              Effect.runFork(refuse(connection, "BAD_FRAME", `more than ${defaults.maxControlMessagesPerSecond} control messages in a second`))
            }
            return
          }
          Queue.offerUnsafe(mailbox, { kind: "message", connection, message })
        },
        onClose: (info) => {
          // Stop routing to it now; the mailbox records the lifecycle change in turn.
          const record = byConnection.get(connection)
          if (record !== undefined) record.routable = false
          Queue.offerUnsafe(mailbox, { kind: "closed", connection, info })
        },
        serve: (invoke) =>
          invoke.capability.startsWith("crank.")
            ? relay(invoke)
            : Effect.map(relay({ ...invoke, id: prefix + invoke.id }), (reply) => ({ ...reply, id: invoke.id })),
      }
    }
    const serve = relay

    const listener = yield* options.transport.listen(options.address, accept)
    for (const extra of options.extraAddresses ?? []) yield* options.transport.listen(extra, accept)
    const startedAt = yield* Clock.currentTimeMillis

    const controller: Controller = {
      address: listener.address,
      timings,
      workers: () => [...registry.values()].map(viewOf),
      worker: (id) => {
        const record = registry.get(id)
        return record === undefined ? undefined : viewOf(record)
      },
      descriptors: () => catalogOf(Iterable.map(registry.values(), (r) => ({ workerId: r.id, capabilities: r.descriptors }))),
      drain: (workerId, deadlineMs = defaults.drainDeadlineMs) =>
        registry.has(workerId)
          ? Effect.sync(() => void Queue.offerUnsafe(mailbox, { kind: "drain", workerId, deadlineMs }))
          : Effect.fail(crankError("NO_WORKER", `no worker ${workerId}`)),
      routes: () => {
        const table = []
        for (const record of registry.values()) {
          if (!record.routable || record.address === undefined) continue
          table.push({
            id: record.id,
            address: record.address,
            capabilities: record.descriptors.map((d) => ({ id: d.id, version: d.version, idempotent: d.idempotent })),
          })
        }
        return table
      },
      transitions,
      serve,
    }
    system = RequestServer.make({
      workerId: "controller",
      implementations: [...systemImplementations(controller, startedAt), ...(options.implementations ?? [])],
      maxInFlight: defaults.maxInFlightPerWorker,
    })
    return controller
  })

/** Waits (polling the registry, bounded) until `predicate` holds: handy in tests and for readiness. */
export const awaitWorkers = (
  controller: Controller,
  predicate: (workers: ReadonlyArray<WorkerView>) => boolean,
  timeoutMs = 5_000,
): Effect.Effect<ReadonlyArray<WorkerView>, CrankError> =>
  Effect.suspend(() => {
    const workers = controller.workers()
    return predicate(workers) ? Effect.succeed(workers) : Effect.fail(crankError("TIMEOUT", "condition not met"))
  }).pipe(
    Effect.retry(Schedule.spaced(5)),
    Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.fail(crankError("TIMEOUT", `workers did not reach the expected state within ${timeoutMs} ms`)) }),
  )

