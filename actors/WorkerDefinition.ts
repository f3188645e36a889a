/**
 * What a worker author declares: a name and the capabilities it implements (`defineWorker`). The runtime
 * (Worker.ts) turns it into a live mesh member; the CLI's loader finds it as a module's default export.
 */
import { keyOf, type Placement } from "../capabilities/Capability.ts"
import type { Implementation } from "./Implementation.ts"

/** What a worker's lifecycle hooks are told of the worker. */
export interface WorkerEnvironment {
  readonly workerId: string
  readonly name: string
  /** Its data directory (actors/dataDirectory.ts); it exists when a hook runs. */
  readonly dataDir: string
  /** Aborted when the worker stops while `started` is still running: a long hook (training a model) should stop. */
  readonly signal: AbortSignal
}

/**
 * Runs at a point of the worker's life (Moleculer's `started`/`stopped`, OTP's `init`/`terminate`): load a model,
 * open a database, close it. `started` runs in the worker's own fiber before it registers, so a slow one delays
 * only that worker; a throw or rejection there is the worker's crash (its supervisor restarts it, with backoff).
 * `stopped` runs after the drain, only if `started` finished.
 */
export type WorkerHook = (worker: WorkerEnvironment) => void | PromiseLike<void>

export interface WorkerDefinition {
  /** Used in worker ids and logs. */
  readonly name: string
  readonly implementations: ReadonlyArray<Implementation>
  /** Requests served at once before `OVERLOADED`. */
  readonly maxInFlight?: number
  /** What this worker offers for capabilities with placement requirements. */
  readonly placement?: Placement
  /** Runs before the worker registers: nothing is routed to it until this has finished. */
  readonly started?: WorkerHook
  /** Runs after the worker drained and deregistered, when it stops. */
  readonly stopped?: WorkerHook
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
  readonly started?: WorkerHook
  readonly stopped?: WorkerHook
}): WorkerDefinition => {
  const seen = new Set<string>()
  for (const { capability } of options.implements) {
    const key = keyOf(capability)
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
    ...(options.started === undefined ? {} : { started: options.started }),
    ...(options.stopped === undefined ? {} : { stopped: options.stopped }),
  }
}

export const isWorkerDefinition = (u: unknown): u is WorkerDefinition =>
  typeof u === "object" && u !== null && typeof (u as WorkerDefinition).name === "string" && Array.isArray((u as WorkerDefinition).implementations)
