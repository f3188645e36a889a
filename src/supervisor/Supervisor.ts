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
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import {
  type ChildSpec,
  type ChildType,
  type ResolvedChildSpec,
  type ResolvedFlags,
  type RestartType,
  resolveChildSpecs,
  resolveFlags,
  type SupervisorFlags,
} from "./ChildSpec.ts"
import { addRestart, backoffDelay, exceedsIntensity } from "./restartWindow.ts"
import { SupervisorError, type SupervisorErrorReason } from "./SupervisorError.ts"
import { describeCause, exitReason, type SupervisorEvent } from "./SupervisorEvent.ts"

export * from "./ChildSpec.ts"
export * from "./SupervisorError.ts"
export * from "./SupervisorEvent.ts"

/**
 * starting: forked, not yet started; running; stopping: being shut down; restarting: stopped and about to be
 * started again (backoff); stopped: not running and not about to be (exited, terminated, or given up).
 */
export type ChildStatus = "starting" | "running" | "stopping" | "restarting" | "stopped"

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

interface Child<R> {
  readonly spec: ResolvedChildSpec<R>
  status: ChildStatus
  /** Set from fork until the child's exit has been handled or it has been stopped; unset means not running. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Which life of the child `fiber` is, so an exit from an earlier life is recognised as stale. */
  generation: number
  starts: number
}

type Message<R> =
  | { readonly _tag: "Exited"; readonly child: Child<R>; readonly generation: number; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Call"; readonly run: Effect.Effect<void> }

/** What a child's `signalReady` completes; outside a supervised child it does nothing. */
const ReadySignal = Context.Reference<Effect.Effect<void>>("crank/Supervisor/ReadySignal", {
  defaultValue: () => Effect.void,
})

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

const shouldRestart = (restart: RestartType, exit: Exit.Exit<unknown, unknown>): boolean => {
  switch (restart) {
    case "permanent":
      return true
    case "temporary":
      return false
    case "transient": {
      const reason = exitReason(exit)
      return reason === "failure" || reason === "defect"
    }
  }
}

const nowMs: Effect.Effect<number> = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1_000_000)

class Engine<R> {
  readonly children: Array<Child<R>> = []
  /** Restart timestamps in the window, newest first (see `addRestart`). */
  private restarts: ReadonlyArray<number> = []
  private generation = 0
  stopped = false
  failure: SupervisorError | undefined = undefined
  loopFiber: Fiber.Fiber<void> | undefined = undefined

  constructor(
    readonly flags: ResolvedFlags,
    private readonly context: Context.Context<R>,
    private readonly mailbox: Queue.Queue<Message<R>>,
    readonly done: Deferred.Deferred<void, SupervisorError>,
  ) {}

  error(reason: SupervisorErrorReason, message: string, childId?: string, exit?: Exit.Exit<unknown, unknown>) {
    const cause = exit !== undefined && Exit.isFailure(exit) ? exit.cause : undefined
    return new SupervisorError({ reason, supervisor: this.flags.name, message, childId, cause })
  }

  emit(event: SupervisorEvent): Effect.Effect<void> {
    const onEvent = this.flags.onEvent
    // A broken event handler must not take the supervisor down with it.
    return onEvent === undefined ? Effect.void : Effect.asVoid(Effect.exit(Effect.suspend(() => onEvent(event))))
  }

  add(spec: ResolvedChildSpec<R>): Child<R> {
    const child: Child<R> = { spec, status: "stopped", fiber: undefined, generation: 0, starts: 0 }
    this.children.push(child)
    return child
  }

  remove(child: Child<R>): void {
    const i = this.children.indexOf(child)
    if (i >= 0) this.children.splice(i, 1)
  }

  find(id: string): Child<R> | undefined {
    return this.children.find((c) => c.spec.id === id)
  }

  /** Forks the child and waits until it counts as started; returns its exit if it failed first. */
  startChild(child: Child<R>): Effect.Effect<Exit.Failure<unknown, unknown> | undefined> {
    const self = this
    return Effect.gen(function* () {
      // Completed by `signalReady` (with undefined) or by the child's exit (with the exit), whichever is first.
      const ready = Deferred.makeUnsafe<Exit.Exit<unknown, unknown> | undefined>()
      // Fork and record in one step, so an interrupted supervisor never loses track of a running child.
      const fiber = yield* Effect.uninterruptible(
        Effect.suspend(() => {
          const generation = ++self.generation
          const body = Effect.scoped(child.spec.start).pipe(
            Effect.provideService(ReadySignal, Effect.asVoid(Deferred.succeed(ready, undefined))),
            Effect.onExit((exit) => Effect.andThen(Deferred.succeed(ready, exit), Queue.offer(self.mailbox, { _tag: "Exited", child, generation, exit }))),
            Effect.provideContext(self.context),
          )
          child.generation = generation
          child.starts++
          child.status = "starting"
          return Effect.tap(Effect.forkDetach(body, { startImmediately: true, uninterruptible: false }), (fiber) => Effect.sync(() => (child.fiber = fiber)))
        }),
      )
      // The fiber itself is not done while its onExit runs, so its exit is read from `ready`, not polled.
      const exit = child.spec.readiness === "signal" || Deferred.isDoneUnsafe(ready) ? yield* Deferred.await(ready) : fiber.pollUnsafe()
      if (exit !== undefined && Exit.isFailure(exit)) {
        // Unsetting the fiber makes the exit message it already sent stale: the failure is handled here.
        child.fiber = undefined
        child.status = "stopped"
        yield* self.emit({ _tag: "ChildStartFailed", supervisor: self.flags.name, id: child.spec.id, cause: exit.cause })
        return exit
      }
      child.status = "running"
      yield* self.emit({ _tag: "ChildStarted", supervisor: self.flags.name, id: child.spec.id, restarts: child.starts - 1 })
      return undefined
    })
  }

  /** Interrupts the child and waits up to its `shutdown` for its finalizers. */
  stopChild(child: Child<R>, next: ChildStatus): Effect.Effect<void> {
    return Effect.suspend(() => {
      const fiber = child.fiber
      if (fiber === undefined) {
        child.status = next
        return Effect.void
      }
      child.status = "stopping"
      const shutdown = child.spec.shutdown
      const stop = Fiber.interrupt(fiber) // sends the interrupt at once, then waits for the finalizers
      const timedOut = shutdown === "infinity" ? Effect.as(stop, false) : Effect.map(Effect.timeoutOption(stop, shutdown), Option.isNone)
      return Effect.flatMap(timedOut, (timedOut) => {
        child.fiber = undefined
        child.status = next
        return this.emit({ _tag: "ChildTerminated", supervisor: this.flags.name, id: child.spec.id, timedOut })
      })
    })
  }

  /** Stops every child, last started first. */
  stopAll(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const order = [...this.children].reverse()
      return Effect.forEach(order, (child) => this.stopChild(child, "stopped"), { discard: true })
    })
  }

  onExit(child: Child<R>, generation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, SupervisorError> {
    // Already stopped by the supervisor, handled as a start failure, or an earlier life of the child.
    if (child.fiber === undefined || child.generation !== generation) return Effect.void
    child.fiber = undefined
    child.status = "stopped"
    return Effect.andThen(
      this.emit({ _tag: "ChildExited", supervisor: this.flags.name, id: child.spec.id, reason: exitReason(exit), exit }),
      Effect.suspend(() => {
        if (shouldRestart(child.spec.restart, exit)) return this.restart(child, exit)
        if (child.spec.restart === "temporary") this.remove(child)
        return Effect.void
      }),
    )
  }

  /** The children a death of `dead` restarts, in start order. */
  group(dead: Child<R>): ReadonlyArray<Child<R>> {
    switch (this.flags.strategy) {
      case "one-for-one":
        return [dead]
      case "one-for-all":
        return [...this.children]
      case "rest-for-one":
        return this.children.slice(this.children.indexOf(dead))
    }
  }

  restart(dead: Child<R>, deathExit: Exit.Exit<unknown, unknown>): Effect.Effect<void, SupervisorError> {
    const self = this
    const { name, intensity, periodMs, strategy, backoff } = this.flags
    return Effect.gen(function* () {
      let current = dead
      let exit = deathExit
      for (;;) {
        self.restarts = addRestart(self.restarts, yield* nowMs, periodMs)
        if (exceedsIntensity(self.restarts, intensity)) {
          const how = Exit.isFailure(exit) ? `${exitReason(exit)}: ${describeCause(exit.cause)}` : "exited normally"
          return yield* self.error(
            "MaxRestartIntensity",
            `supervisor "${name}" reached its restart intensity (more than ${intensity} in ${periodMs} ms); ` + `last child "${current.spec.id}" ${how}`,
            current.spec.id,
            exit,
          )
        }
        const group = self.group(current)
        for (let i = group.length - 1; i >= 0; i--) yield* self.stopChild(group[i]!, "restarting")
        const restartable = group.filter((c) => c.spec.restart !== "temporary")
        for (const c of group) if (c.spec.restart === "temporary") self.remove(c)
        const delayMs = backoffDelay(backoff, self.restarts.length)
        yield* self.emit({
          _tag: "RestartScheduled",
          supervisor: name,
          id: current.spec.id,
          strategy,
          restartsInPeriod: self.restarts.length,
          delayMs,
        })
        if (delayMs > 0) yield* Effect.sleep(delayMs)
        let failed: [Child<R>, Exit.Exit<unknown, unknown>] | undefined
        for (const c of restartable) {
          const startFailure = yield* self.startChild(c)
          if (startFailure !== undefined) {
            failed = [c, startFailure]
            break
          }
        }
        if (failed === undefined) return // As OTP's try_again_restart: a failed restart is one more restart, of the child that failed to start.
        ;[current, exit] = failed
      }
    })
  }

  /** The supervisor gives up: children stopped in reverse order, then `await` fails. */
  giveUp(error: SupervisorError): Effect.Effect<void> {
    this.failure = error
    return Effect.andThen(this.stopAll(), this.finish())
  }

  /** Marks the supervisor stopped and completes `await`, once. */
  finish(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.stopped) return Effect.void
      this.stopped = true
      const error = this.failure
      return Effect.andThen(
        this.emit({ _tag: "SupervisorStopped", supervisor: this.flags.name, error }),
        Deferred.done(this.done, error === undefined ? Exit.void : Exit.fail(error)),
      )
    })
  }

  /** The scope's finalizer: stop deciding, stop the children, complete `await`. */
  shutdown(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const loop = this.loopFiber === undefined ? Effect.void : Fiber.interrupt(this.loopFiber)
      return Effect.andThen(loop, Effect.andThen(this.stopAll(), this.finish()))
    })
  }

  loop(): Effect.Effect<void> {
    const step = Effect.flatMap(
      Queue.take(this.mailbox),
      (message): Effect.Effect<void, SupervisorError> => (message._tag === "Call" ? message.run : this.onExit(message.child, message.generation, message.exit)),
    )
    return Effect.catch(Effect.forever(step), (error) => this.giveUp(error))
  }

  /** Runs `op` in the supervisor's fiber, after the messages already queued. */
  call<A>(op: Effect.Effect<A, SupervisorError>): Effect.Effect<A, SupervisorError> {
    return Effect.suspend(() => {
      const notRunning = this.error("NotRunning", `supervisor "${this.flags.name}" is not running`)
      if (this.stopped) return Effect.fail(notRunning)
      const reply = Deferred.makeUnsafe<A, SupervisorError>()
      Queue.offerUnsafe(this.mailbox, {
        _tag: "Call",
        run: Effect.flatMap(Effect.exit(op), (exit) => Deferred.done(reply, exit)),
      })
      // If the supervisor stops first, the queued call will never run.
      return Effect.raceFirst(Deferred.await(reply), Effect.andThen(Effect.exit(Deferred.await(this.done)), Effect.fail(notRunning)))
    })
  }

  require(id: string): Effect.Effect<Child<R>, SupervisorError> {
    return Effect.suspend(() => {
      const child = this.find(id)
      return child === undefined ? Effect.fail(this.error("ChildNotFound", `supervisor "${this.flags.name}" has no child "${id}"`, id)) : Effect.succeed(child)
    })
  }

  requireStopped(id: string): Effect.Effect<Child<R>, SupervisorError> {
    return Effect.flatMap(this.require(id), (child) =>
      child.fiber === undefined
        ? Effect.succeed(child)
        : Effect.fail(this.error("ChildRunning", `child "${id}" of supervisor "${this.flags.name}" is running`, id)),
    )
  }

  startFailure(child: Child<R>, exit: Exit.Exit<unknown, unknown>): SupervisorError {
    const why = Exit.isFailure(exit) ? describeCause(exit.cause) : "unknown"
    return this.error("StartFailure", `child "${child.spec.id}" of supervisor "${this.flags.name}" failed to start: ${why}`, child.spec.id, exit)
  }

  handle(): SupervisorHandle<R> {
    const self = this
    return {
      name: this.flags.name,
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
      await: Deferred.await(this.done),
    }
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
    return engine.handle()
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
