/**
 * The worker runtime: turns a `WorkerDefinition` (plain handlers, WorkerDefinition.ts) into a live mesh member.
 *
 * It registers with the controller (retrying forever with capped exponential backoff and jitter, never
 * blocking the caller), heartbeats, serves requests (through `RequestServer`), reconnects and re-registers
 * after a dropped link, and drains on request or when its scope closes: stop taking work, let in-flight
 * requests finish within the drain deadline, deregister, stop.
 *
 * Its own view of its life is an xstate actor of `workerLifecycle`, driven by what its connection does, started
 * and stopped with its scope. Its transport, tunables, clock and randomness come from its context; every fiber
 * it starts lives in its scope.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Actor, createActor } from "xstate"
import { descriptorOf } from "../capabilities/Capability.ts"
import { crankError, messageOf } from "../capabilities/CrankError.ts"
import { type CapabilityStats, type ControlMessage, failureOf, protocolVersion, type Registered } from "../transports/Envelope.ts"
import { CloseCodes, type CloseInfo, type Connection, type HttpHandler, Transport, type TransportError } from "../transports/Transport.ts"
import { refusalOf } from "./authorization.ts"
import { defaultDataRoot, ensureDir, workerDataDir } from "./dataDirectory.ts"
import * as RequestServer from "./RequestServer.ts"
import { Tunable } from "./Tunables.ts"
import type { WorkerDefinition, WorkerEnvironment } from "./WorkerDefinition.ts"
import { type LifecycleState, stateOf, workerLifecycle } from "./workerLifecycle.ts"

export interface WorkerOptions {
  /** The controller's address. */
  readonly controller: string
  /**
   * More controllers (a federation, actors/Federation.ts): when a dial or a registration fails, the next attempt
   * goes to the next address in turn, `controller` first.
   */
  readonly controllers?: ReadonlyArray<string>
  /**
   * Mutual TLS: a direct link must prove a role that may invoke. Its listener admits TLS clients without a certificate
   * (probes: `/healthz`, `/readyz`, `/metrics` over https), and refuses their requests `UNAUTHORIZED`.
   */
  readonly certificates?: boolean
  /** Where clients may dial this worker directly (`memory://`, `ws://127.0.0.1:0`); omit to be reached via the controller only. */
  readonly listen?: string
  /** The address to advertise, when it differs from the bound one (behind NAT, in a container). */
  readonly advertise?: string
  readonly workerId?: string
  readonly nodeId?: string
  readonly token?: string
  /** Plain HTTP on its listener's port, where the transport has one (a process's probes). */
  readonly http?: HttpHandler
  /** Its data directory (actors/dataDirectory.ts); default `<CRANK_DATA_DIR or .crank>/workers/<name>`. */
  readonly dataDir?: string
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

/** A worker id nobody else picked: its name and random letters from Effect's `Random` (seeded in tests). */
const freshId = (name: string): Effect.Effect<string> => Effect.map(Random.nextIntBetween(0, 2 ** 31), (n) => `${name}-${n.toString(36)}`)

/** Runs a lifecycle hook with the worker's directory made; a throw or rejection dies, naming the worker and hook. */
const runHook = (definition: WorkerDefinition, hook: "started" | "stopped", environment: WorkerEnvironment): Effect.Effect<void> => {
  const run = definition[hook]
  if (run === undefined) return Effect.void
  return Effect.tryPromise({
    try: async () => {
      ensureDir(environment.dataDir)
      await run(environment)
    },
    catch: (error) => new Error(`worker ${environment.workerId}: its ${hook} hook failed: ${messageOf(error)}`, { cause: error }),
  }).pipe(Effect.orDie)
}

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
export const start = (definition: WorkerDefinition, options: WorkerOptions): Effect.Effect<RunningWorker, TransportError, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const workerId = options.workerId ?? (yield* freshId(definition.name))
    const nodeId = options.nodeId ?? "local"
    const drainDeadlineMs = yield* Tunable.drainDeadlineMs
    const initialMs = yield* Tunable.registerBackoffInitialMs
    const maxMs = yield* Tunable.registerBackoffMaxMs
    const registerTimeoutMs = yield* Tunable.registerTimeoutMs
    const maxInFlight = definition.maxInFlight ?? (yield* Tunable.maxInFlightPerWorker)
    // Effects started from plain callbacks (a drain the controller asks for, logs) run here, in the worker's scope.
    const runFork = yield* FiberSet.makeRuntime<never>()

    const dataDir = options.dataDir ?? workerDataDir(defaultDataRoot(), definition.name)
    const server = RequestServer.make({ workerId, implementations: definition.implementations, maxInFlight, clock: yield* Clock.Clock, dataDir })
    const lifecycle = yield* Effect.acquireRelease(
      Effect.sync(() => createActor(workerLifecycle, { id: workerId }).start()),
      (actor) => Effect.sync(() => actor.stop()),
    )
    let previous = stateOf(lifecycle.getSnapshot())
    lifecycle.subscribe((snapshot) => {
      const next = stateOf(snapshot)
      if (next === previous) return
      runFork(Effect.logDebug(`worker ${workerId}: ${previous} → ${next}`).pipe(Effect.annotateLogs({ workerId })))
      previous = next
    })
    const stopped = yield* Deferred.make<void>()
    let connection: Connection | undefined
    /** Set before the drain starts: the drain itself may end the worker's scope, whose finalizer drains again. */
    let draining: Deferred.Deferred<void> | undefined

    const address =
      options.listen === undefined
        ? undefined
        : (yield* transport.listen(
            options.listen,
            // Over mutual TLS a peer proves a role: only one that may invoke is served here (a worker's certificate may
            // not, and a probe without a certificate may only read the HTTP handler's pages).
            (link) => {
              const denied =
                link.peer !== undefined
                  ? refusalOf("certificates", link.peer, "invoke")
                  : options.certificates === true
                    ? crankError("UNAUTHORIZED", `worker ${workerId} serves only peers with a certificate from the mesh's CA`)
                    : undefined
              return denied === undefined
                ? { onMessage: () => {}, onClose: () => {}, serve: server.answer, serveStream: server.serveStream }
                : {
                    onMessage: () => {},
                    onClose: () => {},
                    serve: (invoke) => Effect.succeed(failureOf(invoke.id, denied)),
                    serveStream: () => Stream.fail(denied),
                  }
            },
            options.http === undefined ? {} : { http: options.http },
          )).address

    const capabilities = definition.implementations.map((i) => descriptorOf(i.capability))
    const controllers = [options.controller, ...(options.controllers ?? []).filter((address) => address !== options.controller)]
    /** The controller the next attempt dials: the one the worker is with stays first, a failed attempt moves on. */
    let controllerIndex = 0
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
            Deferred.doneUnsafe(
              registered,
              Exit.fail(crankError(message.code === "UNAUTHORIZED" || message.code === "FORBIDDEN" ? message.code : "UNAVAILABLE", message.message)),
            )
            return
        }
      }
      const link = yield* transport.connect(controllers[controllerIndex]!, () => ({
        onMessage,
        serve: server.answer,
        serveStream: server.serveStream,
        onClose: (info) => Deferred.doneUnsafe(closed, Exit.succeed(info)),
      }))
      yield* link.send({
        _tag: "Register",
        protocolVersion,
        workerId,
        nodeId,
        capabilities,
        ...(advertised === undefined ? {} : { address: advertised }),
        maxInFlight,
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(definition.placement === undefined ? {} : { placement: definition.placement }),
      })
      const answer = yield* Deferred.await(registered).pipe(
        Effect.raceFirst(Effect.flatMap(Deferred.await(closed), (info) => Effect.fail(new Disconnected(info)))),
        Effect.timeoutOrElse({
          duration: registerTimeoutMs,
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
        return link
          .send({ _tag: "Heartbeat", workerId, seq: ++seq, inFlight: server.inFlight(), completed: server.completed(), stats: server.stats() })
          .pipe(Effect.ignore)
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
    // first step (at once), so a worker that has reconnected a few times in its life does not
    // wait the capped maximum to rejoin a restarted controller.
    const untilDropped = Effect.scoped(session).pipe(
      Effect.tapError((error) => {
        const failedAt = controllers[controllerIndex]!
        if (!(error._tag === "Disconnected" && error.registered)) controllerIndex = (controllerIndex + 1) % controllers.length
        return error._tag === "Disconnected"
          ? Effect.logInfo(`worker ${workerId}: connection closed (${error.info.code} ${error.info.reason}); reconnecting`)
          : error._tag === "CrankError" && (error.code === "UNAUTHORIZED" || error.code === "FORBIDDEN")
            ? Effect.logWarning(`worker ${workerId}: the controller refused it (${error.message}); retrying`)
            : // The first failure and every tenth after it are worth a line: a worker waiting for its controller says so.
              (++failedAttempts % 10 === 1 ? Effect.logInfo : Effect.logDebug)(
                `worker ${workerId}: cannot register with ${failedAt} yet (${error.message}); retrying with backoff`,
              )
      }),
      Effect.retry({ schedule: backoff, while: (error) => !(error._tag === "Disconnected" && error.registered) }),
    )
    // A registered link that dropped is redialled at once (a restarted controller is back as soon as it listens),
    // and only failed attempts back off.
    const connectForever = untilDropped.pipe(
      Effect.catch(() => Effect.void),
      Effect.forever,
      // Only a registered link that dropped gets past the retry, and it is caught: this only fails by dying.
      Effect.orDie,
    )

    const drainThenStop = (deadlineMs: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        lifecycle.send({ type: "DRAIN" })
        server.stopAccepting()
        if (connection !== undefined) yield* connection.send({ _tag: "Drain", workerId, deadlineMs }).pipe(Effect.ignore)
        yield* server.idle.pipe(Effect.timeoutOption(deadlineMs))
        const left = server.inFlight()
        if (connection !== undefined) {
          yield* connection
            .send({ _tag: "Deregister", workerId, reason: left === 0 ? "drained" : `drain deadline passed with ${left} in flight` })
            .pipe(Effect.ignore)
        }
        // A worker drained before it ever registered went straight from starting to stopped (final): xstate warns
        // about events sent to a finished actor, so only a worker still draining is told it has drained.
        if (lifecycle.getSnapshot().status === "active") lifecycle.send({ type: "DRAINED" })
        // Stopping the connection loop closes the link, after the Deregister above went out on it.
        yield* Deferred.succeed(stopped, undefined)
      })

    const drain = (deadlineMs: number = drainDeadlineMs): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (draining === undefined) {
          const done = (draining = Deferred.makeUnsafe<void>())
          runFork(drainThenStop(deadlineMs).pipe(Effect.onExit((exit) => Deferred.done(done, exit))))
        }
        return Deferred.await(draining)
      })

    // The author's hooks: `started` runs in the worker's own fiber before its first registration, so a slow one
    // (a model to train) holds back only this worker, not its supervisor's other children (OTP's handle_continue,
    // not a long init); nothing is routed here until it is done, and a failure is this worker's crash. `stopped`
    // runs after the drain, whose finalizer below runs first, and only if `started` finished.
    const abort = new AbortController()
    const environment: WorkerEnvironment = { workerId, name: definition.name, dataDir, signal: abort.signal }
    let startedDone = definition.started === undefined
    const started = runHook(definition, "started", environment).pipe(
      Effect.tap(() => Effect.sync(() => (startedDone = true))),
      Effect.onInterrupt(() => Effect.sync(() => abort.abort(new Error(`worker ${workerId} stopped before its started hook finished`)))),
    )
    yield* Effect.addFinalizer(() =>
      startedDone ? runHook(definition, "stopped", environment).pipe(Effect.catchCause((cause) => Effect.logError(cause))) : Effect.void,
    )

    const loop = yield* Effect.forkScoped(Effect.raceFirst(Effect.andThen(started, connectForever), Deferred.await(stopped)))
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
