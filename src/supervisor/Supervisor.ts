/**
 * An in-process supervisor: it starts child effects, watches them, and restarts them by Erlang/OTP's rules,
 * on Effect fibers and scopes.
 *
 * A supervisor is started with a list of child specs and a set of flags (`start`, or `run` to use it as a child
 * of another supervisor). The children are started in list order, each one started before the next, and are
 * stopped in reverse order. Everything below is validated before any child starts; a broken rule fails with a
 * `SupervisorError` whose `reason` names it.
 *
 * ## Child spec
 * | key | meaning | default |
 * |---|---|---|
 * | `id` | required; a non-empty string, unique within the supervisor (`InvalidChildId`, `DuplicateChildId`) | |
 * | `start` | required; the `Effect` that runs the child: the child is running while it runs. It gets a `Scope` of its own, closed when the child stops or is restarted (`InvalidStart`) | |
 * | `restart` | `"permanent"`: always restarted; `"transient"`: restarted only if it failed or died, not if it completed or was interrupted; `"temporary"`: never restarted, and forgotten once it stops (`InvalidRestart`) | `"permanent"` |
 * | `shutdown` | ms a stopping child's finalizers may take: the child's fiber is interrupted, and if it has not finished within `shutdown` ms the supervisor stops waiting and abandons it; `0` waits only for finalizers that finish synchronously (OTP's `brutal_kill`); `"infinity"` waits as long as it takes (`InvalidShutdown`) | 5000 for a worker, `"infinity"` for a supervisor |
 * | `type` | `"worker"` or `"supervisor"`; informational, apart from choosing the defaults of `shutdown` and `readiness` (`InvalidChildType`) | `"worker"` |
 * | `readiness` | when the child counts as started: `"spawn"` once its fiber has run to its first suspension without failing; `"signal"` when it calls `Supervisor.signalReady` (`InvalidReadiness`) | `"spawn"` for a worker, `"signal"` for a supervisor |
 *
 * ## Flags
 * | key | meaning | default |
 * |---|---|---|
 * | `name` | names the supervisor in errors and events (`InvalidName`) | `"supervisor"` |
 * | `strategy` | what is restarted when a child dies (below) (`InvalidStrategy`) | `"one-for-one"` |
 * | `intensity` | maximum restarts within `periodMs`, an integer ≥ 0 (`InvalidIntensity`) | 1 |
 * | `periodMs` | the restart window in ms, an integer > 0 (`InvalidPeriod`) | 5000 |
 * | `backoff` | `{ initialMs, maxMs }`: the n-th restart within the window waits `min(maxMs, initialMs·2^(n-1))` ms, on Effect's `Clock` (`InvalidBackoff`) | `{ initialMs: 0, maxMs: 0 }` |
 * | `onEvent` | receives every `SupervisorEvent` (started, exited, terminated, restart scheduled, stopped); `Supervisor.logEvent` logs them | none |
 *
 * ## Strategies
 * - `one-for-one`: only the dead child is restarted.
 * - `one-for-all`: every other child is stopped (in reverse order) and then all are started again (in order).
 * - `rest-for-one`: the children started after the dead one are stopped (in reverse order), then the dead child
 *   and those after it are started again (in order).
 * In the last two, as in OTP, the restarted group includes children that had stopped (terminated, or transient and
 * completed), and `temporary` members are stopped but not restarted: they are forgotten.
 *
 * ## Restart intensity
 * If more than `intensity` restarts happen within `periodMs` milliseconds, the supervisor stops all its children
 * in reverse start order and fails upward with `SupervisorError` reason `"MaxRestartIntensity"`, carrying the last
 * child's id and cause; a supervisor running as a child (`run`, `asChild`) is thereby a failed child of its parent.
 *
 * ## Starting and failures
 * If a child fails before it is started, the children already started are stopped in reverse order and `start`
 * fails with `"StartFailure"`. If a child fails to start while being restarted, that counts as another restart
 * and the restart is tried again (OTP's `try_again_restart`), so the intensity bounds it.
 *
 * ## Gotchas
 * - A fiber cannot be killed: a child whose finalizers outlive `shutdown` is abandoned, still running, and reported
 *   as `ChildTerminated` with `timedOut: true`.
 * - All decisions run in one fiber, one message at a time, like an OTP supervisor process: a restart's backoff and
 *   a child's readiness wait delay the handling of other exits and of `restartChild`/`startChild` calls. So a child
 *   must not wait on a call to its own supervisor before it signals readiness: as in OTP, that deadlocks.
 *
 * @example
 * ```ts
 * const node = Effect.scoped(Effect.gen(function* () {
 *   const sup = yield* Supervisor.start({ name: "node", strategy: "rest-for-one", onEvent: Supervisor.logEvent }, [
 *     { id: "listener", start: listen },
 *     { id: "controller", start: controller },
 *     Supervisor.asChild({ id: "workers", flags: { intensity: 5, periodMs: 10_000 }, children: workers }),
 *   ])
 *   return yield* sup.await
 * }))
 * ```
 */

import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { type ChildSpec, type ChildType, type RestartType, resolveChildSpecs, resolveFlags, type SupervisorFlags } from "./ChildSpec.ts"
import { Engine, type Message, ReadySignal } from "./Engine.ts"
import type { SupervisorError } from "./SupervisorError.ts"

export * from "./ChildSpec.ts"
export type { ChildStatus } from "./Engine.ts"
export * from "./SupervisorError.ts"
export * from "./SupervisorEvent.ts"

import type { ChildStatus } from "./Engine.ts"

/** One row of `children`, like OTP's `which_children`. */
export interface ChildInfo {
  readonly id: string
  readonly type: ChildType
  readonly restart: RestartType
  readonly status: ChildStatus
  /** How many times the supervisor has started this child after its first start (failed attempts included). */
  readonly restarts: number
}

/** A started supervisor. Every change goes through the supervisor's own fiber, one at a time; `children` reads a snapshot. */
export interface SupervisorHandle<R = never> {
  readonly name: string
  /** The children in start order, with status and restart count. */
  readonly children: Effect.Effect<ReadonlyArray<ChildInfo>>
  /** Adds a child at the end and starts it (OTP's `start_child`); a child that fails to start is not kept. */
  readonly startChild: (spec: ChildSpec<R>) => Effect.Effect<void, SupervisorError>
  /** Stops a child; it stays listed as stopped and is not restarted (a temporary child is forgotten). */
  readonly terminateChild: (id: string) => Effect.Effect<void, SupervisorError>
  /** Starts a stopped child again; fails with `ChildRunning` if it is running, as OTP's `restart_child`. */
  readonly restartChild: (id: string) => Effect.Effect<void, SupervisorError>
  /** Forgets a stopped child; fails with `ChildRunning` if it is running. */
  readonly deleteChild: (id: string) => Effect.Effect<void, SupervisorError>
  /** Succeeds when the supervisor is shut down by its scope; fails when it gives up and fails upward. */
  readonly await: Effect.Effect<void, SupervisorError>
}

/**
 * Tells the supervisor that the calling child (with `readiness: "signal"`) has started, like OTP's
 * `proc_lib:init_ack`. Idempotent; a no-op outside a supervised child.
 *
 * @example
 * ```ts
 * const listener = { id: "listener", readiness: "signal", start: Effect.gen(function* () {
 *   yield* transport.listen(address) // a bind failure here fails the supervisor's start
 *   yield* Supervisor.signalReady
 *   return yield* Effect.never
 * }) } satisfies ChildSpec
 * ```
 */
export const signalReady: Effect.Effect<void> = Effect.flatMap(Effect.service(ReadySignal), (signal) => signal)

/** The public face of a running engine: every change goes through its own fiber. */
const handleOf = <R>(self: Engine<R>): SupervisorHandle<R> => {
  return {
    name: self.flags.name,
    children: Effect.sync(() =>
      self.children.map(
        (c): ChildInfo => ({
          id: c.spec.id,
          type: c.spec.type,
          restart: c.spec.restart,
          status: c.status,
          restarts: Math.max(0, c.starts - 1),
        }),
      ),
    ),
    startChild: (spec) =>
      self.call(
        Effect.gen(function* () {
          const ids = self.children.map((c) => c.spec.id)
          const [resolved] = yield* resolveChildSpecs(self.flags.name, [spec], ids)
          const child = self.add(resolved!)
          const failure = yield* self.startChild(child)
          if (failure !== undefined) {
            self.remove(child)
            return yield* self.startFailure(child, failure)
          }
        }),
      ),
    terminateChild: (id) =>
      self.call(
        Effect.flatMap(self.require(id), (child) =>
          Effect.andThen(
            self.stopChild(child, "stopped"),
            Effect.sync(() => {
              if (child.spec.restart === "temporary") self.remove(child)
            }),
          ),
        ),
      ),
    restartChild: (id) =>
      self.call(
        Effect.flatMap(self.requireStopped(id), (child) =>
          Effect.flatMap(self.startChild(child), (failure) => (failure === undefined ? Effect.void : Effect.fail(self.startFailure(child, failure)))),
        ),
      ),
    deleteChild: (id) => self.call(Effect.map(self.requireStopped(id), (child) => self.remove(child))),
    await: Deferred.await(self.done),
  }
}

/**
 * Validates the flags and specs, starts the children in order, and returns once all have started; the
 * supervisor then supervises in a fiber of its own until the scope closes (children stopped in reverse order)
 * or it gives up (see `await`).
 *
 * @example
 * ```ts
 * const sup = yield* Supervisor.start({ strategy: "one-for-all", intensity: 3, periodMs: 10_000 }, [
 *   { id: "a", start: workerA },
 *   { id: "b", start: workerB, restart: "transient", shutdown: 1000 },
 * ])
 * yield* sup.children // [{ id: "a", status: "running", restarts: 0, ... }, ...]
 * ```
 */
export const start = <R = never>(
  flags: SupervisorFlags,
  children: ReadonlyArray<ChildSpec<R>>,
): Effect.Effect<SupervisorHandle<R>, SupervisorError, R | Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = yield* resolveFlags(flags)
    const specs = yield* resolveChildSpecs(resolved.name, children)
    const engine = new Engine<R>(resolved, yield* Effect.context<R>(), yield* Queue.unbounded<Message<R>>(), Deferred.makeUnsafe())
    // Registered before the first child starts, so an interrupted start still stops what it started.
    yield* Effect.addFinalizer(() => engine.shutdown())
    for (const spec of specs) {
      const child = engine.add(spec)
      const failure = yield* engine.startChild(child)
      if (failure !== undefined) {
        const error = engine.startFailure(child, failure)
        yield* engine.giveUp(error)
        return yield* error
      }
    }
    engine.loopFiber = yield* Effect.forkDetach(engine.loop())
    return handleOf(engine)
  })

/**
 * Runs a supervisor as an effect that only ever fails: with its `SupervisorError` when it gives up. It signals
 * readiness once its children have started, so it can be a child (`readiness: "signal"`) of another supervisor,
 * whose start then waits for the whole subtree.
 */
export const run = <R = never>(flags: SupervisorFlags, children: ReadonlyArray<ChildSpec<R>>): Effect.Effect<never, SupervisorError, R | Scope.Scope> =>
  Effect.flatMap(start(flags, children), (handle) => Effect.andThen(signalReady, Effect.andThen(handle.await, Effect.never)))

/**
 * A child spec that runs a nested supervisor (`type: "supervisor"`): when the nested supervisor gives up, it is a
 * failed child of its parent, restarted by the parent's strategy and counted in the parent's intensity.
 *
 * @example
 * ```ts
 * Supervisor.asChild({ id: "workers", flags: { strategy: "one-for-one", intensity: 5 }, children: workers })
 * ```
 */
export const asChild = <R = never>(options: {
  readonly id: string
  readonly flags: SupervisorFlags
  readonly children: ReadonlyArray<ChildSpec<R>>
  readonly restart?: RestartType | undefined
  readonly shutdown?: ChildSpec["shutdown"]
}): ChildSpec<R> => ({
  id: options.id,
  type: "supervisor",
  restart: options.restart,
  shutdown: options.shutdown,
  start: run({ name: options.id, ...options.flags }, options.children),
})
