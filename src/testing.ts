/**
 * The test kit: what a worker author needs to test a handler in a few lines, as the original platform's
 * tests had an in-process controller and a mock one.
 *
 * - `callHandler` is the mock: it runs one request through the worker's request path (input validation,
 *   deadline, output encoding, typed errors) with no controller at all.
 * - `startTestMesh` is the real thing in-process: a controller and the workers over the in-memory transport,
 *   with millisecond heartbeats, as a Promise facade.
 *
 * @example
 * ```ts
 * const output = await callHandler(helloWorker, HelloGreet, { message: "hi" })
 * const mesh = await startTestMesh([helloWorker]); await mesh.invoke(HelloGreet, { message: "hi" }); await mesh.stop()
 * ```
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { codecOf } from "../actors/capabilityCodec.ts"
import * as RequestServer from "../actors/RequestServer.ts"
import type { WorkerDefinition } from "../actors/WorkerDefinition.ts"
import type { Capability, InputOf, OutputOf } from "../capabilities/Capability.ts"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import type { MeshOptions } from "./Mesh.ts"
import { type PromiseMesh, startMesh } from "./promise.ts"

let requests = 0

/**
 * Runs `input` through `worker`'s handler for `capability` as the runtime would: the Effect form.
 * Fails with the same `CrankError` a caller would get (`INVALID_INPUT`, `INTERNAL`, a declared code...).
 */
export const callHandlerEffect = <C extends Capability>(
  worker: WorkerDefinition,
  capability: C,
  input: InputOf<C>,
  options?: { readonly timeoutMs?: number; readonly range?: string },
): Effect.Effect<OutputOf<C>, CrankError> => {
  // The caller's half of the path is the client's own: input encoded, reply turned into output or CrankError.
  const codec = codecOf(capability)
  const encoded = codec.encodeInput(input)
  if (Exit.isFailure(encoded)) return Effect.fail(crankError("INVALID_INPUT", messageOf(Cause.squash(encoded.cause))))
  return Effect.flatMap(Clock.Clock, (clock) =>
    RequestServer.make({ workerId: `test-${worker.name}`, implementations: worker.implementations, maxInFlight: Number.MAX_SAFE_INTEGER, clock }).serve({
      _tag: "Invoke",
      id: `test-${++requests}`,
      capability: capability.id,
      range: options?.range ?? capability.version,
      input: encoded.value,
      timeoutMs: options?.timeoutMs ?? 5_000,
    }),
  ).pipe(Effect.flatMap(codec.answer)) as Effect.Effect<OutputOf<C>, CrankError>
}

/** `callHandlerEffect` as a Promise: resolves with the output, rejects with a `CrankError`. */
export const callHandler = <C extends Capability>(
  worker: WorkerDefinition,
  capability: C,
  input: InputOf<C>,
  options?: { readonly timeoutMs?: number; readonly range?: string },
): Promise<OutputOf<C>> => Effect.runPromise(callHandlerEffect(worker, capability, input, options))

/** Test tunables: heartbeats every 20 ms, stale after 100 ms, evicted 200 ms later, a 1 s drain deadline. */
export const testTunables = { heartbeatIntervalMs: 20, staleAfterMs: 100, evictAfterMs: 200, drainDeadlineMs: 1_000 } as const

/** An in-process mesh with test tunables, resolved once every worker is healthy; logs only warnings and errors. */
export const startTestMesh = (workers: MeshOptions["workers"], options?: Omit<MeshOptions, "workers">): Promise<PromiseMesh> =>
  startMesh({ ...options, tunables: { ...testTunables, ...options?.tunables }, workers })
