/**
 * Every tunable of the actors in one table, with the original platform's values (heartbeat every 30 s,
 * stale after 120 s = 4 missed). Tests pass milliseconds; deployments set the `CRANK_*` environment twins
 * read by the CLI.
 */
export const defaults = {
  /** How often a worker sends a heartbeat. */
  heartbeatIntervalMs: 30_000,
  /** Silence after which the controller marks a worker stale. */
  staleAfterMs: 120_000,
  /** How long a stale worker is kept (awaiting reconnect) before the controller evicts it. */
  evictAfterMs: 300_000,
  /** How long a draining worker waits for in-flight requests before it deregisters anyway. */
  drainDeadlineMs: 30_000,
  /** Default deadline of a request when the caller gives none. */
  requestTimeoutMs: 30_000,
  /** Requests a worker serves at once; more get `OVERLOADED`. */
  maxInFlightPerWorker: 1_000,
  /** Registration retry backoff: exponential from `initial`, capped at `max`, with jitter. */
  registerBackoffInitialMs: 100,
  registerBackoffMaxMs: 5_000,
  /** Control messages (heartbeats, drains...) one connection may send the controller per second before it is cut off. */
  maxControlMessagesPerSecond: 200,
  /** Transitions kept per worker for the dashboard's timeline. */
  transitionHistory: 20,
} as const

export type Timings = {
  readonly heartbeatIntervalMs: number
  readonly staleAfterMs: number
  readonly evictAfterMs: number
}
