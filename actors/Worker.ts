/**
 * The worker runtime: turns a `WorkerDefinition` (plain handlers) into a live mesh member.
 *
 * It registers with the controller (retrying forever with capped exponential backoff and jitter, never
 * blocking the caller), heartbeats, serves requests (through `RequestServer`), reconnects and re-registers
 * after a dropped link, and drains on request or when its scope closes: stop taking work, let in-flight
 * requests finish within the drain deadline, deregister, stop.
 *
 * Its own view of its life is an xstate actor of `workerLifecycle`, driven by what its connection does.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { createActor, type Actor } from "xstate"
import { describe, type Placement } from "../capabilities/Capability.ts"
import { crankError } from "../capabilities/CrankError.ts"
import { type CapabilityStats, protocolVersion, type ControlMessage, type Registered } from "../transports/Envelope.ts"
import { CloseCodes, type CloseInfo, type Connection, type Transport, type TransportError } from "../transports/Transport.ts"
import { defaults } from "./defaults.ts"
import type { Implementation } from "./Implementation.ts"
import * as RequestServer from "./RequestServer.ts"
import { type LifecycleState, stateOf, workerLifecycle } from "./workerLifecycle.ts"

export interface WorkerDefinition {
  /** Used in worker ids and logs. */
  readonly name: string
  readonly implementations: ReadonlyArray<Implementation>
  /** Requests served at once before `OVERLOADED`. */
  readonly maxInFlight?: number
  /** What this worker offers for capabilities with placement requirements. */
  readonly placement?: Placement
}

/** What a capability's placement asks that the worker does not offer, or `undefined` when it can host it. */
const unmetPlacement = (required: Placement, offered: Placement): string | undefined => {
  if (required.gpu === true && offered.gpu !== true) return "a GPU (placement: { gpu: true })"
  for (const [label, value] of Object.entries(required.labels ?? {})) {
    if (offered.labels?.[label] !== value) return `label ${label}=${value}`
  }
  return undefined
}

/**
 * Declares a worker. Checks at definition time that no capability version is implemented twice and that the
 * worker offers what each capability's placement requires (a GPU, labels).
 *
 * @example
 * ```ts
 * export default defineWorker({ name: "hello", implements: [implement(HelloGreet, greet)] })
 * ```
 */
export const defineWorker = (options: {
  readonly name: string
  readonly implements: ReadonlyArray<Implementation>
  readonly maxInFlight?: number
  readonly placement?: Placement
}): WorkerDefinition => {
  const seen = new Set<string>()
  for (const { capability } of options.implements) {
    const key = `${capability.id}@${capability.version}`
    if (seen.has(key)) throw new Error(`worker ${options.name} implements ${key} twice`)
    seen.add(key)
    const unmet = unmetPlacement(capability.placement, options.placement ?? {})
    if (unmet !== undefined) throw new Error(`worker ${options.name} cannot host ${key}: it requires ${unmet}`)
  }
  return {
    name: options.name,
    implementations: options.implements,
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    ...(options.placement === undefined ? {} : { placement: options.placement }),
  }
}

export const isWorkerDefinition = (u: unknown): u is WorkerDefinition =>
  typeof u === "object" && u !== null && typeof (u as WorkerDefinition).name === "string" && Array.isArray((u as WorkerDefinition).implementations)

export interface WorkerOptions {
  readonly transport: Transport
  /** The controller's address. */
  readonly controller: string
  /** Where clients may dial this worker directly (`memory://`, `ws://127.0.0.1:0`); omit to be reached via the controller only. */
  readonly listen?: string
  /** The address to advertise, when it differs from the bound one (behind NAT, in a container). */
  readonly advertise?: string
  readonly workerId?: string
  readonly nodeId?: string
  readonly token?: string
  readonly drainDeadlineMs?: number
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number }
  /** Registration attempts wait this long for the controller's answer. */
  readonly registerTimeoutMs?: number
}

export interface RunningWorker {
  readonly id: string
  readonly state: () => LifecycleState
  /** The worker's own lifecycle actor: subscribe to watch it. */
  readonly lifecycle: Actor<typeof workerLifecycle>
  readonly inFlight: () => number
  readonly completed: () => number
  /** Outcomes and latencies per capability version served so far (what its heartbeats report). */
  readonly stats: () => ReadonlyArray<CapabilityStats>
  /** Where clients dial it directly (the bound listener address), when it listens. */
  readonly address: string | undefined
  /** Drains and stops; completes once stopped. Safe to call more than once. */
  readonly drain: (deadlineMs?: number) => Effect.Effect<void>
  /** Completes when the worker has stopped; dies if the worker actor itself crashed. */
  readonly stopped: Effect.Effect<void>
}

let instance = 0
const randomSuffix = () => `${Date.now().toString(36)}${(++instance).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/** One connection's life ended: reconnect. */
class Disconnected {
  readonly _tag = "Disconnected"
  /** `registered`: the link had been accepted before it dropped, so the next reconnect starts a fresh backoff. */
  constructor(
    readonly info: CloseInfo,
    readonly registered = false,
  ) {}
}

/**
 * Starts a worker. Returns at once (registration goes on in the background); the worker drains and stops
 * when the scope closes.
 */
export const start = (
  definition: WorkerDefinition,
  options: WorkerOptions,
): Effect.Effect<RunningWorker, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const workerId = options.workerId ?? `${definition.name}-${randomSuffix()}`
    const nodeId = options.nodeId ?? "local"
    const drainDeadlineMs = options.drainDeadlineMs ?? defaults.drainDeadlineMs
    const initialMs = options.backoff?.initialMs ?? defaults.registerBackoffInitialMs
    const maxMs = options.backoff?.maxMs ?? defaults.registerBackoffMaxMs
    const services = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(services)

    const server = RequestServer.make({
      workerId,
      implementations: definition.implementations,
      maxInFlight: definition.maxInFlight ?? defaults.maxInFlightPerWorker,
    })
    const lifecycle = createActor(workerLifecycle, { id: workerId }).start()
    let previous = stateOf(lifecycle.getSnapshot())
    lifecycle.subscribe((snapshot) => {
      const next = stateOf(snapshot)
      if (next === previous) return
      runFork(Effect.logDebug(`worker ${workerId}: ${previous} → ${next}`).pipe(Effect.annotateLogs({ workerId })))
      previous = next
    })
    const stopped = yield* Deferred.make<void>()
    let connection: Connection | undefined
    let draining: Fiber.Fiber<void> | undefined

    const address = options.listen === undefined
      ? undefined
      : (yield* options.transport.listen(options.listen, () => ({
          onMessage: () => {},
          onClose: () => {},
          serve: server.serve,
        }))).address

    const capabilities = definition.implementations.map((i) => describe(i.capability))
    const advertised = options.advertise ?? address

    /** One connection: connect, register, heartbeat until the link drops. Fails to be retried or reconnected. */
    const session: Effect.Effect<never, TransportError | Disconnected | ReturnType<typeof crankError>, Scope.Scope> = Effect.gen(function* () {
      const registered = yield* Deferred.make<Registered, ReturnType<typeof crankError>>()
      const closed = yield* Deferred.make<CloseInfo>()
      let acked = 0
      const onMessage = (message: ControlMessage) => {
        switch (message._tag) {
          case "Registered":
            Deferred.doneUnsafe(registered, Exit.succeed(message))
            return
          case "HeartbeatAck":
            acked = message.seq
            lifecycle.send({ type: "HEARTBEAT" })
            return
          case "Drain":
            runFork(drain(message.deadlineMs))
            return
          case "Failure":
            Deferred.doneUnsafe(registered, Exit.fail(crankError(message.code === "UNAUTHORIZED" ? "UNAUTHORIZED" : "UNAVAILABLE", message.message)))
            return
        }
      }
      const link = yield* options.transport.connect(options.controller, () => ({
        onMessage,
        serve: server.serve,
        onClose: (info) => Deferred.doneUnsafe(closed, Exit.succeed(info)),
      }))
      yield* link.send({
        _tag: "Register",
        protocolVersion,
        workerId,
        nodeId,
        capabilities,
        ...(advertised === undefined ? {} : { address: advertised }),
        maxInFlight: definition.maxInFlight ?? defaults.maxInFlightPerWorker,
        ...(options.token === undefined ? {} : { token: options.token }),
      })
      const answer = yield* Deferred.await(registered).pipe(
        Effect.raceFirst(Effect.flatMap(Deferred.await(closed), (info) => Effect.fail(new Disconnected(info)))),
        Effect.timeoutOrElse({
          duration: options.registerTimeoutMs ?? 5_000,
          orElse: () => Effect.fail(crankError("TIMEOUT", "the controller did not answer the registration")),
        }),
      )
      connection = link
      failedAttempts = 0
      lifecycle.send({ type: "REGISTERED" })
      if (draining !== undefined) {
        // A drain began while we were (re)connecting: tell the controller at once.
        yield* link.send({ _tag: "Drain", workerId, deadlineMs: drainDeadlineMs }).pipe(Effect.ignore)
      }
      let seq = 0
      // Counted in beats, not read from a clock, so virtual time in tests drives it like everything else.
      const unansweredLimit = Math.max(2, Math.ceil(answer.staleAfterMs / Math.max(1, answer.heartbeatIntervalMs)))
      const beat = Effect.suspend(() => {
        if (seq - acked > unansweredLimit) {
          // No answer for a whole stale window: the link is half-open. Drop it and reconnect.
          lifecycle.send({ type: "HEARTBEAT_TIMEOUT" })
          return link.close({ code: CloseCodes.goingAway, reason: "heartbeat acknowledgements stopped" })
        }
        return link.send({ _tag: "Heartbeat", workerId, seq: ++seq, inFlight: server.inFlight(), completed: server.completed(), stats: server.stats() }).pipe(Effect.ignore)
      })
      yield* Effect.forkScoped(Effect.repeat(beat, Schedule.spaced(answer.heartbeatIntervalMs)))
      const info = yield* Deferred.await(closed)
      connection = undefined
      lifecycle.send({ type: "DISCONNECTED" })
      return yield* Effect.fail(new Disconnected(info, true))
    })

    let failedAttempts = 0
    const backoff = Schedule.min([Schedule.exponential(initialMs), Schedule.spaced(maxMs)]).pipe(Schedule.jittered)
    // Attempts back off until one registers; when that registered link drops, the loop starts over from the
    // first step (after one initial delay), so a worker that has reconnected a few times in its life does not
    // wait the capped maximum to rejoin a restarted controller.
    const untilDropped = Effect.scoped(session).pipe(
      Effect.tapError((error) =>
        error._tag === "Disconnected"
          ? Effect.logInfo(`worker ${workerId}: connection closed (${error.info.code} ${error.info.reason}); reconnecting`)
          : error._tag === "CrankError" && error.code === "UNAUTHORIZED"
            ? Effect.logWarning(`worker ${workerId}: the controller refused it (${error.message}); retrying`)
            : // The first failure and every tenth after it are worth a line: a worker waiting for its controller says so.
              (++failedAttempts % 10 === 1 ? Effect.logInfo : Effect.logDebug)(
                `worker ${workerId}: cannot register with ${options.controller} yet (${error.message}); retrying with backoff`,
              ),
      ),
      Effect.retry({ schedule: backoff, while: (error) => !(error._tag === "Disconnected" && error.registered) }),
    )
    const connectForever = untilDropped.pipe(
      Effect.catch(() => Effect.sleep(initialMs * (0.8 + 0.4 * Math.random()))),
      Effect.forever,
      // Only a registered link that dropped gets past the retry, and it is caught: this only fails by dying.
      Effect.orDie,
    )

    const drainThenStop = (deadlineMs: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        lifecycle.send({ type: "DRAIN" })
        server.stopAccepting()
        if (connection !== undefined) yield* connection.send({ _tag: "Drain", workerId, deadlineMs }).pipe(Effect.ignore)
        yield* Effect.promise(() => server.idle()).pipe(Effect.timeoutOption(deadlineMs))
        const left = server.inFlight()
        if (connection !== undefined) {
          yield* connection.send({ _tag: "Deregister", workerId, reason: left === 0 ? "drained" : `drain deadline passed with ${left} in flight` }).pipe(Effect.ignore)
        }
        // A worker drained before it ever registered went straight from starting to stopped (final): xstate warns
        // about events sent to a finished actor, so only a worker still draining is told it has drained.
        if (lifecycle.getSnapshot().status === "active") lifecycle.send({ type: "DRAINED" })
        // Stopping the connection loop closes the link, after the Deregister above went out on it.
        yield* Deferred.succeed(stopped, undefined)
      })

    const drain = (deadlineMs: number = drainDeadlineMs): Effect.Effect<void> =>
      Effect.suspend(() => Fiber.join((draining ??= runFork(drainThenStop(deadlineMs)))))

    const loop = yield* Effect.forkScoped(Effect.raceFirst(connectForever, Deferred.await(stopped)))
    // Added after the loop, so it runs first when the scope closes: drain while the link is still up.
    yield* Effect.addFinalizer(() => drain())

    return {
      id: workerId,
      state: () => stateOf(lifecycle.getSnapshot()),
      lifecycle,
      inFlight: server.inFlight,
      completed: server.completed,
      stats: server.stats,
      address,
      drain,
      // The loop ends only when the worker stops, or dies with a defect: then this fails, and a supervisor restarts it.
      stopped: Effect.asVoid(Fiber.join(loop)),
    } satisfies RunningWorker
  })
