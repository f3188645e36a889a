/**
 * The NATS transport's defensive limits, in one table (the WebSocket transport's are in `limits.ts`).
 *
 * The largest frame is not here: it is the NATS server's `max_payload` (1 MiB by default), read from the server's
 * INFO when the transport connects to it. A frame over it fails the one request, stream or send it belongs to with
 * `LIMIT_EXCEEDED`; the connection keeps serving (a NATS server would drop the whole client connection for it).
 *
 * | limit               | default | what happens when it is exceeded                                                      |
 * |---------------------|---------|---------------------------------------------------------------------------------------|
 * | `connectTimeoutMs`  | 10 s    | `connect`/`listen` fail with `TransportError` (`ConnectFailed`/`ListenFailed`)          |
 * | `pingIntervalMs`    | 30 s    | each side pings the other's subject: no responders (its NATS connection is gone) closes 1006 at once; no answer by the next tick closes 1006 ("no pong"); 0 turns it off |
 * | `maxBadFrames`      | 10      | more than this many undecodable frames within `badFrameWindowMs`: close 1008           |
 * | `badFrameWindowMs`  | 10 s    | the window the bad frames are counted in                                              |
 * | `closeTimeoutMs`    | 5 s     | how long `close` waits for the NATS server to take the Close frame                    |
 * | `maxInFlight`       | 10,000  | requests served at once on one connection; more are answered `OVERLOADED`             |
 */

export interface NatsLimits {
  /** How long dialling the NATS server and the connect request may take, in milliseconds. */
  readonly connectTimeoutMs: number
  /** How often each side pings the other; see the table. 0 disables pings (the NATS disconnect still closes). */
  readonly pingIntervalMs: number
  /** How many undecodable frames one connection may send within `badFrameWindowMs` before it is closed. */
  readonly maxBadFrames: number
  readonly badFrameWindowMs: number
  /** How long `close` waits for the server to acknowledge the Close frame, in milliseconds. */
  readonly closeTimeoutMs: number
  /** How many requests one connection may have in service at once. */
  readonly maxInFlight: number
}

export const defaultNatsLimits: NatsLimits = {
  connectTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  maxBadFrames: 10,
  badFrameWindowMs: 10_000,
  closeTimeoutMs: 5_000,
  maxInFlight: 10_000,
}

/** The defaults with `overrides` applied; `undefined` entries keep the default. */
export const natsLimitsWith = (overrides: Partial<NatsLimits> | undefined): NatsLimits => {
  if (overrides === undefined) return defaultNatsLimits
  const limits = { ...defaultNatsLimits }
  for (const key of Object.keys(defaultNatsLimits) as Array<keyof NatsLimits>) {
    const value = overrides[key]
    if (value === undefined) continue
    if (typeof value !== "number" || !(value >= 0)) throw new RangeError(`NATS limit ${key} must be a number >= 0, got ${String(value)}`)
    ;(limits as Record<keyof NatsLimits, number>)[key] = value
  }
  return limits
}
