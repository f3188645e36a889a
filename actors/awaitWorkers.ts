/**
 * Waiting for the registry to reach a state (every worker healthy, say), driven by the controller's own
 * lifecycle transitions: the predicate is checked now and after each transition, never by polling.
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import { type CrankError, crankError } from "../capabilities/CrankError.ts"
import type { Controller } from "./Controller.ts"
import type { WorkerView } from "./WorkerView.ts"

/** The workers once `predicate` holds; `TIMEOUT` when it has not within `timeoutMs` (of the `Clock`). */
export const awaitWorkers = (
  controller: Controller,
  predicate: (workers: ReadonlyArray<WorkerView>) => boolean,
  timeoutMs = 5_000,
): Effect.Effect<ReadonlyArray<WorkerView>, CrankError> =>
  Effect.scoped(
    Effect.gen(function* () {
      // Subscribed before the first check: a transition between the check and the wait is not missed.
      const subscription = yield* PubSub.subscribe(controller.transitions)
      for (;;) {
        const workers = controller.workers()
        if (predicate(workers)) return workers
        yield* PubSub.take(subscription)
      }
    }),
  ).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () => Effect.fail(crankError("TIMEOUT", `workers did not reach the expected state within ${timeoutMs} ms`)),
    }),
  )
