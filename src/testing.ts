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
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { codecOf } from "../actors/capabilityCodec.ts"
import { ensureDir } from "../actors/dataDirectory.ts"
import * as RequestServer from "../actors/RequestServer.ts"
import type { WorkerDefinition, WorkerEnvironment, WorkerHook } from "../actors/WorkerDefinition.ts"
import type { Capability, InputOf, OutputOf } from "../capabilities/Capability.ts"
import { type CrankError, crankError, messageOf } from "../capabilities/CrankError.ts"
import type { MeshOptions } from "./Mesh.ts"
import { type PromiseMesh, startMesh } from "./promise.ts"

let requests = 0

export interface CallHandlerOptions {
  readonly timeoutMs?: number
  readonly range?: string
  /** The worker's data directory; default a fresh temporary one, removed after the call. */
  readonly dataDir?: string
}

/** A fresh temporary directory, and how to remove it. */
const temporaryDir = (prefix: string): { readonly path: string; readonly remove: () => void } => {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/**
 * Runs `input` through `worker`'s handler for `capability` as the runtime would: the Effect form, with the
 * worker's `started` hook before and its `stopped` hook after. Fails with the same `CrankError` a caller would get
 * (`INVALID_INPUT`, `INTERNAL`, a declared code...).
 */
export const callHandlerEffect = <C extends Capability>(
  worker: WorkerDefinition,
  capability: C,
  input: InputOf<C>,
  options?: CallHandlerOptions,
): Effect.Effect<OutputOf<C>, CrankError> => {
  // The caller's half of the path is the client's own: input encoded, reply turned into output or CrankError.
  const codec = codecOf(capability)
  const encoded = codec.encodeInput(input)
  if (Exit.isFailure(encoded)) return Effect.fail(crankError("INVALID_INPUT", messageOf(Cause.squash(encoded.cause))))
  const workerId = `test-${worker.name}`
  return Effect.acquireUseRelease(
    Effect.sync(() => (options?.dataDir === undefined ? temporaryDir("crank-handler-") : { path: options.dataDir, remove: () => {} })),
    (dir) => {
      const environment = { workerId, name: worker.name, dataDir: dir.path, signal: new AbortController().signal }
      return Effect.acquireUseRelease(
        hook(worker.started, environment),
        () =>
          Effect.flatMap(Clock.Clock, (clock) =>
            RequestServer.make({ workerId, implementations: worker.implementations, maxInFlight: Number.MAX_SAFE_INTEGER, clock, dataDir: dir.path }).serve({
              _tag: "Invoke",
              id: `test-${++requests}`,
              capability: capability.id,
              range: options?.range ?? capability.version,
              input: encoded.value,
              timeoutMs: options?.timeoutMs ?? 5_000,
            }),
          ).pipe(Effect.flatMap(codec.answer)),
        () => hook(worker.stopped, environment),
      )
    },
    (dir) => Effect.sync(dir.remove),
  ) as Effect.Effect<OutputOf<C>, CrankError>
}

/** A lifecycle hook run as the runtime runs it: its directory made first, a throw a defect. */
const hook = (run: WorkerHook | undefined, environment: WorkerEnvironment): Effect.Effect<void> =>
  run === undefined ? Effect.void : Effect.promise(async () => run({ ...environment, dataDir: ensureDir(environment.dataDir) }))

/** `callHandlerEffect` as a Promise: resolves with the output, rejects with a `CrankError`. */
export const callHandler = <C extends Capability>(
  worker: WorkerDefinition,
  capability: C,
  input: InputOf<C>,
  options?: CallHandlerOptions,
): Promise<OutputOf<C>> => Effect.runPromise(callHandlerEffect(worker, capability, input, options))

/** Test tunables: heartbeats every 20 ms, stale after 100 ms, evicted 200 ms later, a 1 s drain deadline. */
export const testTunables = { heartbeatIntervalMs: 20, staleAfterMs: 100, evictAfterMs: 200, drainDeadlineMs: 1_000 } as const

/**
 * An in-process mesh with test tunables, resolved once every worker is healthy; logs only warnings and errors. Its
 * workers keep their files under `options.dataDir` when given (to start another mesh on them later), otherwise
 * under a fresh temporary directory removed by `stop`.
 */
export const startTestMesh = async (workers: MeshOptions["workers"], options?: Omit<MeshOptions, "workers">): Promise<PromiseMesh> => {
  const dir = options?.dataDir === undefined ? temporaryDir("crank-mesh-") : { path: options.dataDir, remove: () => {} }
  const mesh = await startMesh({ ...options, dataDir: dir.path, tunables: { ...testTunables, ...options?.tunables }, workers }).catch((error) => {
    dir.remove()
    throw error
  })
  return {
    ...mesh,
    stop: async () => {
      await mesh.stop()
      dir.remove()
    },
  }
}
