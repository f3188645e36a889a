/**
 * The supervisor's engine: one fiber that owns the children and makes every decision (start, stop, restart by
 * strategy, give up past the restart intensity), one message at a time, like an OTP supervisor process.
 * Supervisor.ts holds the contract (its module doc), the handle and the entry points. @internal
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type { ResolvedChildSpec, ResolvedFlags } from "./ChildSpec.ts"
import { addRestart, backoffDelay, exceedsIntensity, nowMs, shouldRestart } from "./restartWindow.ts"
import { SupervisorError, type SupervisorErrorReason } from "./SupervisorError.ts"
import { describeCause, exitReason, type SupervisorEvent } from "./SupervisorEvent.ts"

/**
 * starting: forked, not yet started; running; stopping: being shut down; restarting: stopped and about to be
 * started again (backoff); stopped: not running and not about to be (exited, terminated, or given up).
 */
export type ChildStatus = "starting" | "running" | "stopping" | "restarting" | "stopped"

export interface Child<R> {
  readonly spec: ResolvedChildSpec<R>
  status: ChildStatus
  /** Set from fork until the child's exit has been handled or it has been stopped; unset means not running. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Which life of the child `fiber` is, so an exit from an earlier life is recognised as stale. */
  generation: number
  starts: number
}

export type Message<R> =
  | { readonly _tag: "Exited"; readonly child: Child<R>; readonly generation: number; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Call"; readonly run: Effect.Effect<void> }

/** What a child's `signalReady` completes; outside a supervised child it does nothing. */
export const ReadySignal = Context.Reference<Effect.Effect<void>>("crank/Supervisor/ReadySignal", {
  defaultValue: () => Effect.void,
})

export class Engine<R> {
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
}
