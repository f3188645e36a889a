/**
 * The limits every message transport (WebSocket, NATS) puts on one connection, their defaults, and how a
 * transport's table takes overrides. Each transport's own table (`limits.ts`, `natsLimits.ts`) adds what only its
 * wire has and says what each limit means there; the values below are the same on both, so a mesh that moves from
 * one transport to the other keeps the same bounds.
 *
 * | limit              | default | what happens when it is exceeded                                             |
 * |--------------------|---------|------------------------------------------------------------------------------|
 * | `connectTimeoutMs` | 10 s    | `connect` fails with `TransportError` reason `ConnectFailed`                 |
 * | `pingIntervalMs`   | 30 s    | a peer that has not answered the previous ping is dropped (1006); 0 turns it off |
 * | `maxBadFrames`     | 10      | more than this many undecodable frames within `badFrameWindowMs`: close 1008 |
 * | `badFrameWindowMs` | 10 s    | the window the bad frames are counted in                                     |
 * | `closeTimeoutMs`   | 5 s     | how long closing may wait for the wire before it gives up                    |
 * | `maxInFlight`      | 10,000  | requests served at once on one connection; more are answered `OVERLOADED`    |
 */

export interface ConnectionLimits {
  /** How long `connect` may take in all, in milliseconds. */
  readonly connectTimeoutMs: number
  /** How often each side pings the other; a peer that misses one answer is dropped. 0 disables the pings. */
  readonly pingIntervalMs: number
  /** How many undecodable frames one connection may send within `badFrameWindowMs` before it is closed. */
  readonly maxBadFrames: number
  readonly badFrameWindowMs: number
  /** How long closing may wait for the wire, in milliseconds. */
  readonly closeTimeoutMs: number
  /** How many requests one connection may have in service at once. */
  readonly maxInFlight: number
}

export const defaultConnectionLimits: ConnectionLimits = {
  connectTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  maxBadFrames: 10,
  badFrameWindowMs: 10_000,
  closeTimeoutMs: 5_000,
  maxInFlight: 10_000,
}

/**
 * `defaults` with `overrides` applied; `undefined` entries keep the default, anything but a number >= 0 throws a
 * `RangeError` naming the `transport` and the limit.
 */
export const limitsOf = <L extends object>(transport: string, defaults: L, overrides: Partial<L> | undefined): L => {
  if (overrides === undefined) return defaults
  const limits = { ...defaults }
  for (const key of Object.keys(defaults) as Array<keyof L>) {
    const value = overrides[key]
    if (value === undefined) continue
    if (typeof value !== "number" || !(value >= 0)) throw new RangeError(`${transport} limit ${String(key)} must be a number >= 0, got ${String(value)}`)
    ;(limits as Record<keyof L, number>)[key] = value
  }
  return limits
}
