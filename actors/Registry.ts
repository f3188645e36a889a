/**
 * The controller's registry of workers and their lifecycle, as plain data and plain functions: no fibers, no
 * clock, no I/O. Each step takes the registry, what happened and the time it happened, updates the registry and
 * returns the commands the controller's shell must carry out (send a message, close a link, publish a
 * transition). So every rule of registration, heartbeats, staleness, drain and eviction can be tested by calling
 * a function, and the shell (Controller.ts) is only wiring.
 *
 * Each worker's lifecycle is a snapshot of `workerLifecycle`, moved with xstate's pure `transition` only by events
 * that can change it; a heartbeat from a healthy worker just refreshes a timestamp (see "Lifecycle" in
 * docs/architecture.md for the measurement behind this).
 *
 * `C` is whatever identifies a connection to the shell (a transport `Connection`); the registry only compares it
 * and asks whether it is still open when routing.
 */

import { type Catalog, catalogOf } from "../capabilities/Catalog.ts"
import { crankError } from "../capabilities/CrankError.ts"
import type { Offer } from "../capabilities/noWorkerMessage.ts"
import { type ControlMessage, complaintOf, type Register, type Reply } from "../transports/Envelope.ts"
import { CloseCodes, type CloseInfo } from "../transports/Transport.ts"
import type { Identity } from "../trust/identity.ts"
import { type AccessMode, registrationRefusalOf, sameSecret } from "./authorization.ts"
import { type BreakerOptions, outcomeOf } from "./breaker.ts"
import { DescriptorPool } from "./descriptorPool.ts"
import { Router } from "./Router.ts"
import { type LimitReason, type RegistrationLimits, refusalOf } from "./registrationLimits.ts"
import type { Choice } from "./routing/strategy.ts"
import { defaults, type Timings } from "./Tunables.ts"
import { type Route, type RoutedView, routeOf, viewOf, WorkerRecord } from "./WorkerRecord.ts"
import type { LifecycleTransition, WorkerView } from "./WorkerView.ts"

export { type Route, WorkerRecord } from "./WorkerRecord.ts"

import { type LifecycleEvent, nextSnapshot, stateOf } from "./workerLifecycle.ts"

/** What the shell must do after a step, in order. */
export type Command<C> =
  | { readonly _tag: "Send"; readonly connection: C; readonly message: ControlMessage }
  /** Close without waiting for the peer: those closed here (replaced, evicted, refused) are the least likely to answer. */
  | { readonly _tag: "Close"; readonly connection: C; readonly info: CloseInfo }
  | { readonly _tag: "Published"; readonly transition: LifecycleTransition }

/** What the controller hears, in its mailbox's order. */
export type Occurrence<C> =
  | { readonly _tag: "Message"; readonly connection: C; readonly message: ControlMessage }
  | { readonly _tag: "Closed"; readonly connection: C }
  | { readonly _tag: "DrainRequested"; readonly workerId: string; readonly deadlineMs: number }
  | { readonly _tag: "Sweep" }

export interface RegistryOptions extends Timings, RegistrationLimits {
  /** When set, `Register` must carry this token (compared in constant time). */
  readonly token?: string | undefined
  /**
   * Who may register (actors/authorization.ts): anyone (`open`, the default), or only a peer whose certificate
   * allows it, as a worker of the node it names (`certificates`).
   */
  readonly access?: AccessMode | undefined
  /** Transitions kept per worker. */
  readonly transitionHistory: number
  /** Consecutive counted failures that open a worker's breaker in the relay; default the tunable's. */
  readonly breakerFailures?: number | undefined
  /** How long an open breaker waits before one probe; default the tunable's. */
  readonly breakerCoolDownMs?: number | undefined
}

/**
 * Why the controller refused a peer: the label of `crank_refusals_total` in /metrics. `unauthorized`: no or
 * invalid credentials (a join token, a certificate); `forbidden`: a valid identity whose role may not do it;
 * `revoked`: a certificate an operator revoked (`crank.revoke`); `id-taken`: a registration under the id of a worker
 * live on another connection; `origin`: a browser page from
 * an origin not allowed; `tls`: a TLS handshake refused (no certificate, another CA's, plain ws:// to wss://).
 */
export type RefusalReason = "unauthorized" | "forbidden" | "revoked" | "id-taken" | "origin" | "tls" | "bad-frame" | "rate" | "silent" | "host" | LimitReason

const refusal = <C>(connection: C, code: "UNAUTHORIZED" | "FORBIDDEN" | "BAD_FRAME" | "LIMIT_EXCEEDED", message: string): ReadonlyArray<Command<C>> => [
  { _tag: "Send", connection, message: complaintOf(crankError(code, message)) },
  { _tag: "Close", connection, info: { code: CloseCodes.policyViolation, reason: message } },
]

/** A worker whose link may still be its own: registered, healthy or draining (stale ones have gone silent). */
const isLive = (state: string): boolean => state === "registered" || state === "healthy" || state === "draining"

export class Registry<C extends { readonly isOpen: () => boolean; readonly peer?: Identity | undefined }> {
  private readonly byId = new Map<string, WorkerRecord<C>>()
  private readonly byConnection = new Map<C, WorkerRecord<C>>()
  private readonly router = new Router<WorkerRecord<C>>()
  /** Each new registration's breaker in the relay (the controller sets it from the tunables). */
  breakerOptions: BreakerOptions

  private readonly refused = new Map<RefusalReason, number>()
  /** One copy of each distinct advertisement, however many workers send it: most of a record's memory otherwise. */
  private readonly descriptors = new DescriptorPool()

  constructor(readonly options: RegistryOptions) {
    this.breakerOptions = {
      failures: options.breakerFailures ?? defaults.breakerFailures,
      coolDownMs: options.breakerCoolDownMs ?? defaults.breakerCoolDownMs,
    }
  }

  /** Counts a refusal by its reason, and passes its commands through. */
  refuse<A>(reason: RefusalReason, commands: A): A {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1)
    return commands
  }

  /** Refusals so far, by reason: for /metrics. */
  refusals(): ReadonlyMap<RefusalReason, number> {
    return this.refused
  }

  /** How often the shell should sweep: staleness is noticed within a quarter of the stale window. */
  get sweepEveryMs(): number {
    return Math.max(1, Math.min(this.options.heartbeatIntervalMs, Math.floor(this.options.staleAfterMs / 4)))
  }

  /** One step: `occurrence` happened at `now`. */
  step(occurrence: Occurrence<C>, now: number): ReadonlyArray<Command<C>> {
    switch (occurrence._tag) {
      case "Message":
        return this.onMessage(occurrence.connection, occurrence.message, now)
      case "Closed":
        return this.onClosed(occurrence.connection, now)
      case "DrainRequested":
        return this.onDrainRequested(occurrence.workerId, occurrence.deadlineMs, now)
      case "Sweep":
        return this.sweep(now)
    }
  }

  /** A link closed: stop routing to its worker at once, before the mailbox records the lifecycle change. */
  unroute(connection: C): void {
    const record = this.byConnection.get(connection)
    if (record !== undefined) record.routable = false
  }

  has(workerId: string): boolean {
    return this.byId.has(workerId)
  }

  workers(): ReadonlyArray<RoutedView> {
    return [...this.byId.values()].map(viewOf)
  }

  worker(id: string): WorkerView | undefined {
    const record = this.byId.get(id)
    return record === undefined ? undefined : viewOf(record)
  }

  catalog(): Catalog {
    return catalogOf([...this.byId.values()].map((r) => ({ workerId: r.id, capabilities: r.descriptors })))
  }

  routes(): Array<Route> {
    const table: Array<Route> = []
    for (const record of this.byId.values()) {
      if (!record.routable || record.address === undefined) continue
      table.push(routeOf(record as WorkerRecord<C> & { readonly address: string }))
    }
    return table
  }

  /**
   * A routable worker for `capability@range` whose link is still open and whose breaker allows it at `now`,
   * other than `except` (the worker a retry leaves), chosen by `choice` or the capability's strategy; a worker
   * whose link just closed stops being routable here, before the mailbox has heard of it.
   */
  pick(capability: string, range: string, except?: WorkerRecord<C>, now = 0, choice?: Choice): WorkerRecord<C> | undefined {
    for (let tries = 0; tries < 4; tries++) {
      const worker = this.router.pick(capability, range, now, choice, except)
      if (worker === undefined || worker.connection.isOpen()) return worker
      worker.routable = false
    }
    return undefined
  }

  /**
   * What an attempt relayed to `worker` came to at `now`, after `latencyMs`: feeds its breaker and its latency
   * average. Called before any retry, so the retry already skips a worker whose breaker this failure opened.
   */
  record(worker: WorkerRecord<C>, reply: Reply, latencyMs: number, now: number): void {
    worker.breaker.record(outcomeOf(reply), now)
    worker.latency.observe(latencyMs)
  }

  /** Every live worker's offers as the router sees them: read only to explain a `NO_WORKER`. */
  *offers(): Generator<Offer> {
    for (const record of this.byId.values()) {
      // Healthy but not routable: its link closed and the mailbox has not yet recorded the disconnect.
      const state = record.state === "healthy" && !record.routable ? "unreachable" : record.state
      for (const { id, version } of record.capabilities) yield { workerId: record.id, id, version, state }
    }
  }

  private onMessage(connection: C, message: ControlMessage, now: number): ReadonlyArray<Command<C>> {
    if (message._tag === "Register") return this.onRegister(connection, message, now)
    const record = this.byConnection.get(connection)
    if (record === undefined)
      return message._tag === "Failure" ? [] : this.refuse("bad-frame", refusal(connection, "BAD_FRAME", `${message._tag} before Register`))
    switch (message._tag) {
      case "Heartbeat": {
        record.lastHeartbeatAt = now
        record.inFlight = message.inFlight
        record.completed = message.completed
        if (message.stats !== undefined) record.stats = message.stats
        const changes = record.state === "healthy" ? [] : this.apply(record, { type: "HEARTBEAT" }, now)
        return [...changes, { _tag: "Send", connection, message: { _tag: "HeartbeatAck", workerId: record.id, seq: message.seq } }]
      }
      case "Drain":
        // The worker announces it is draining (e.g. on SIGTERM): stop routing to it at once.
        if (record.state !== "draining") record.drainUntil = now + message.deadlineMs
        return this.apply(record, { type: "DRAIN" }, now)
      case "Deregister":
        return this.apply(record, { type: record.state === "draining" ? "DRAINED" : "DEREGISTERED" }, now)
      default:
        return []
    }
  }

  private onRegister(connection: C, message: Register, now: number): ReadonlyArray<Command<C>> {
    const { token } = this.options
    if (token !== undefined && !sameSecret(message.token, token)) {
      return this.refuse("unauthorized", refusal(connection, "UNAUTHORIZED", `worker ${message.workerId}: missing or wrong join token`))
    }
    const denied = registrationRefusalOf(this.options.access ?? "open", connection.peer, message)
    if (denied !== undefined) {
      const code = denied.code === "FORBIDDEN" ? "FORBIDDEN" : "UNAUTHORIZED"
      return this.refuse(code === "FORBIDDEN" ? "forbidden" : "unauthorized", refusal(connection, code, denied.message))
    }
    const tooMuch = refusalOf(message, this.options)
    if (tooMuch !== undefined) {
      return this.refuse(tooMuch.reason, refusal(connection, "LIMIT_EXCEEDED", tooMuch.message))
    }
    const already = this.byConnection.get(connection)
    if (already !== undefined && already.id !== message.workerId) {
      // One connection, one worker: otherwise a single peer could fill the registry with records that no
      // disconnect would ever clean up.
      return this.refuse(
        "bad-frame",
        refusal(connection, "BAD_FRAME", `this connection already registered worker ${already.id}; register ${message.workerId} on a connection of its own`),
      )
    }
    const commands: Array<Command<C>> = []
    let previous = this.byId.get(message.workerId)
    if (previous !== undefined && previous.connection !== connection && previous.connection.isOpen() && isLive(previous.state)) {
      // A live worker's id is never taken by another connection, in any mode: whoever asks may be an impostor, and
      // a worker that really reconnected is let in once its old link is seen to close (or goes stale).
      return this.refuse(
        "id-taken",
        refusal(
          connection,
          "FORBIDDEN",
          `worker ${message.workerId} is ${previous.state} on another connection; a second connection cannot take its id (it may register once that connection has closed)`,
        ),
      )
    }
    if (previous !== undefined && previous.connection !== connection) {
      // The same worker on a new connection: it reconnected. The old link is dead, or silent for a stale window; drop it.
      this.byConnection.delete(previous.connection)
      commands.push({ _tag: "Close", connection: previous.connection, info: { code: CloseCodes.normal, reason: "replaced by a newer connection" } })
      if (previous.state === "draining") {
        // The draining instance is gone (a new process took its id): what registers now is a new life.
        commands.push(...this.apply(previous, { type: "EVICTED" }, now))
        previous = undefined
      }
    }
    const fresh = previous === undefined || previous.state === "stopped"
    const record = new WorkerRecord(
      message.workerId,
      message.nodeId,
      connection,
      message.capabilities.map((descriptor) => this.descriptors.intern(descriptor)),
      message.address,
      message.maxInFlight,
      fresh ? now : previous!.registeredAt,
      message.placement ?? {},
      this.breakerOptions,
    )
    if (!fresh) {
      // Capabilities may change across restarts: re-index under the new advertisement, keeping its life so far.
      this.router.remove(previous!)
      record.snapshot = previous!.snapshot
      record.transitions = previous!.transitions
    }
    this.byId.set(record.id, record)
    this.byConnection.set(connection, record)
    this.router.add(record)
    commands.push(...this.apply(record, { type: "REGISTERED" }, now))
    // On a fresh, open link a healthy worker is routable again, even if its old link's close unset the flag.
    record.routable = record.state === "healthy"
    const { heartbeatIntervalMs, staleAfterMs } = this.options
    commands.push({ _tag: "Send", connection, message: { _tag: "Registered", workerId: record.id, heartbeatIntervalMs, staleAfterMs } })
    return commands
  }

  private onClosed(connection: C, now: number): ReadonlyArray<Command<C>> {
    const record = this.byConnection.get(connection)
    if (record === undefined) return []
    this.byConnection.delete(connection)
    // A draining worker that hangs up cannot finish deregistering: it is gone.
    return this.apply(record, { type: record.state === "draining" ? "EVICTED" : "DISCONNECTED" }, now)
  }

  private onDrainRequested(workerId: string, deadlineMs: number, now: number): ReadonlyArray<Command<C>> {
    const record = this.byId.get(workerId)
    if (record === undefined) return []
    if (record.state !== "draining") record.drainUntil = now + deadlineMs
    return [...this.apply(record, { type: "DRAIN" }, now), { _tag: "Send", connection: record.connection, message: { _tag: "Drain", workerId, deadlineMs } }]
  }

  private sweep(now: number): ReadonlyArray<Command<C>> {
    const { staleAfterMs, evictAfterMs } = this.options
    const commands: Array<Command<C>> = []
    for (const record of [...this.byId.values()]) {
      const state = record.state
      if ((state === "healthy" || state === "registered") && now - record.lastHeartbeatAt >= staleAfterMs) {
        commands.push(...this.apply(record, { type: "HEARTBEAT_TIMEOUT" }, now))
      } else if (
        (state === "stale" && now - record.staleSince >= evictAfterMs) ||
        // A draining worker that neither deregisters nor hangs up by its deadline (and a grace window).
        (state === "draining" && now >= record.drainUntil + staleAfterMs)
      ) {
        commands.push(...this.apply(record, { type: "EVICTED" }, now))
        if (record.connection.isOpen()) commands.push({ _tag: "Close", connection: record.connection, info: { code: CloseCodes.goingAway, reason: "evicted" } })
      }
    }
    return commands
  }

  /** Moves a worker's lifecycle; returns the transition to publish, if the event changed its state. */
  private apply(record: WorkerRecord<C>, event: LifecycleEvent, now: number): ReadonlyArray<Command<C>> {
    const before = record.snapshot
    const after = nextSnapshot(before, event)
    if (after === before) return []
    record.snapshot = after
    const to = stateOf(after)
    record.routable = to === "healthy"
    if (to === "stale") record.staleSince = now
    const transition: LifecycleTransition = { workerId: record.id, from: stateOf(before), to, event: event.type, at: now }
    record.transitions.push(transition)
    if (record.transitions.length > this.options.transitionHistory) record.transitions.shift()
    if (to === "stopped") this.forget(record)
    return [{ _tag: "Published", transition }]
  }

  private forget(record: WorkerRecord<C>): void {
    if (this.byId.get(record.id) === record) this.byId.delete(record.id)
    if (this.byConnection.get(record.connection) === record) this.byConnection.delete(record.connection)
    this.router.remove(record)
  }
}
