/** Logs every lifecycle transition the controller sees, through Effect's Logger, until the scope closes. */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import type { Controller, LifecycleTransition } from "../actors/Controller.ts"

const log = (t: LifecycleTransition) => Effect.logInfo(`${t.workerId}: ${t.from} → ${t.to} (${t.event})`).pipe(Effect.annotateLogs({ workerId: t.workerId }))

export const logTransitions = (controller: Controller): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const subscription = yield* PubSub.subscribe(controller.transitions)
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(PubSub.take(subscription), log)))
    // At shutdown the last transitions (workers draining and stopping) may not have been taken yet: log them too.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(PubSub.remaining(subscription), (n) =>
        n === 0 ? Effect.void : Effect.flatMap(PubSub.takeUpTo(subscription, n), (rest) => Effect.forEach(rest, log, { discard: true })),
      ),
    )
  })
