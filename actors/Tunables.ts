/**
 * Every tunable of the actors, in one table: each is an Effect `Context.Reference` with the default below, read
 * by the actor that needs it from its context. A program, a test or the CLI overrides any of them for everything
 * it starts (`withTunables({ heartbeatIntervalMs: 20 })`, `layer(...)`), and one party alone by providing a
 * reference to it only. The defaults follow the original platform: heartbeat every 30 s, stale after 120 s
 * (4 missed), evicted 300 s later. The WebSocket transport's own limits live beside it (transports/limits.ts),
 * below the actors.
 *
 * | tunable | default | read by | what it bounds |
 * |---|---:|---|---|
 * | `heartbeatIntervalMs` | 30 s | controller (told to workers in `Registered`) | how often a worker beats |
 * | `staleAfterMs` | 120 s | controller | silence after which a worker is stale |
 * | `evictAfterMs` | 300 s | controller | how long a stale worker is kept awaiting reconnect |
 * | `drainDeadlineMs` | 30 s | worker, controller, node | how long in-flight work may take when draining |
 * | `requestTimeoutMs` | 30 s | client | a request's deadline when the caller gives none |
 * | `maxInFlightPerWorker` | 1,000 | worker | requests served at once before `OVERLOADED` |
 * | `registerBackoffInitialMs` | 100 ms | worker | first delay between registration attempts |
 * | `registerBackoffMaxMs` | 5 s | worker | cap of that exponential, jittered delay |
 * | `registerTimeoutMs` | 5 s | worker | how long an attempt waits for `Registered` |
 * | `maxControlMessagesPerSecond` | 200 | controller | control messages one connection may send a second |
 * | `transitionHistory` | 20 | controller | transitions kept per worker for the dashboard |
 * | `routeRefreshMs` | 1 s | client | how often the direct-routing table is refreshed |
 * | `maxCapabilitiesPerWorker` | 256 | controller | capabilities one registration may advertise |
 * | `maxIdLength` | 128 | controller | characters in a worker, node or capability id |
 * | `maxTextLength` | 4,096 | controller | characters in a capability's name or description |
 * | `maxDescriptorBytes` | 64 KiB | controller | one capability's whole advertisement as JSON (schemas, errors, tags) |
 * | `registerDeadlineMs` | 10 s | controller | how long a connection may stay silent (no Register, no request) after connecting |
 * | `maxConnectionsPerHost` | 1,000 | controller | connections open at once from one remote host |
 * | `breakerFailures` | 5 | controller, client | consecutive failures (`UNAVAILABLE`, `TIMEOUT`, `INTERNAL`) that open a worker's breaker (0: never) |
 * | `breakerCoolDownMs` | 5 s | controller, client | how long an open breaker waits before one probe goes |
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface Tunables {
  readonly heartbeatIntervalMs: number
  readonly staleAfterMs: number
  readonly evictAfterMs: number
  readonly drainDeadlineMs: number
  readonly requestTimeoutMs: number
  readonly maxInFlightPerWorker: number
  readonly registerBackoffInitialMs: number
  readonly registerBackoffMaxMs: number
  readonly registerTimeoutMs: number
  readonly maxControlMessagesPerSecond: number
  readonly transitionHistory: number
  readonly routeRefreshMs: number
  readonly maxCapabilitiesPerWorker: number
  readonly maxIdLength: number
  readonly maxTextLength: number
  readonly maxDescriptorBytes: number
  readonly registerDeadlineMs: number
  readonly maxConnectionsPerHost: number
  readonly breakerFailures: number
  readonly breakerCoolDownMs: number
}

export const defaults: Tunables = {
  heartbeatIntervalMs: 30_000,
  staleAfterMs: 120_000,
  evictAfterMs: 300_000,
  drainDeadlineMs: 30_000,
  requestTimeoutMs: 30_000,
  maxInFlightPerWorker: 1_000,
  registerBackoffInitialMs: 100,
  registerBackoffMaxMs: 5_000,
  registerTimeoutMs: 5_000,
  maxControlMessagesPerSecond: 200,
  transitionHistory: 20,
  routeRefreshMs: 1_000,
  maxCapabilitiesPerWorker: 256,
  maxIdLength: 128,
  maxTextLength: 4_096,
  maxDescriptorBytes: 65_536,
  registerDeadlineMs: 10_000,
  maxConnectionsPerHost: 1_000,
  breakerFailures: 5,
  breakerCoolDownMs: 5_000,
}

const names = Object.keys(defaults) as ReadonlyArray<keyof Tunables>

/** One `Context.Reference` per tunable, keyed by its name: `yield* Tunable.heartbeatIntervalMs`. */
export const Tunable = Object.fromEntries(
  names.map((name) => [name, Context.Reference<number>(`crank/Tunables/${name}`, { defaultValue: () => defaults[name] })]),
) as { readonly [K in keyof Tunables]: Context.Reference<number> }

/** Every tunable as currently provided (or its default). */
export const current: Effect.Effect<Tunables> = Effect.map(
  Effect.all(names.map((name) => Tunable[name] as Effect.Effect<number>)),
  (values) => Object.fromEntries(names.map((name, i) => [name, values[i]!])) as unknown as Tunables,
)

/** The tunables a controller tells its workers and its status reports: the lifecycle's three windows. */
export type Timings = Pick<Tunables, "heartbeatIntervalMs" | "staleAfterMs" | "evictAfterMs">

const checked = (overrides: Partial<Tunables>): ReadonlyArray<readonly [keyof Tunables, number]> =>
  names.flatMap((name) => {
    const value = overrides[name]
    if (value === undefined) return []
    if (typeof value !== "number" || !(value >= 0)) throw new RangeError(`tunable ${name} must be a number >= 0, got ${String(value)}`)
    return [[name, value] as const]
  })

/**
 * Runs `effect` with `overrides` in place of the defaults (or of what an outer scope provided); names left out
 * keep their value. Throws `RangeError` for a negative or non-numeric value.
 *
 * @example
 * ```ts
 * Mesh.start({ workers }).pipe(withTunables({ heartbeatIntervalMs: 20, staleAfterMs: 100 }))
 * ```
 */
export const withTunables =
  (overrides: Partial<Tunables>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    checked(overrides).reduce((inner, [name, value]) => Effect.provideService(inner, Tunable[name], value), effect)

/** `overrides` as a layer, for a whole program. */
export const layer = (overrides: Partial<Tunables>): Layer.Layer<never> =>
  checked(overrides).reduce<Layer.Layer<never>>((all, [name, value]) => Layer.merge(all, Layer.succeed(Tunable[name], value)), Layer.empty)
