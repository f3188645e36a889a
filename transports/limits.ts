/**
 * The WebSocket transport's defensive limits, in one table.
 *
 * Every limit is on by default at the public edge, as ws's own `maxPayload` is: a peer on the network is
 * untrusted until an actor above says otherwise, so the transport bounds what one connection may cost before
 * anyone has checked who it is. Each value can be overridden per transport through `WebSocketTransport.make`.
 *
 * | limit                | default | what happens when it is exceeded                                            |
 * |----------------------|---------|-----------------------------------------------------------------------------|
 * | `maxPayload`         | 16 MiB  | ws closes the connection with 1009 (message too big)                        |
 * | `handshakeTimeoutMs` | 10 s    | server: a socket that has not finished its HTTP upgrade is dropped; client: the upgrade response must arrive in time |
 * | `connectTimeoutMs`   | 10 s    | `connect` fails with `TransportError` reason `ConnectFailed`                |
 * | `pingIntervalMs`     | 30 s    | a peer that has not answered the previous ping is terminated (1006, "no pong"); 0 turns keepalive off |
 * | `maxBadFrames`       | 10      | more than this many undecodable frames within `badFrameWindowMs`: close 1008 |
 * | `badFrameWindowMs`   | 10 s    | the window the bad frames are counted in                                    |
 * | `closeTimeoutMs`     | 5 s     | a peer that does not finish the closing handshake in time is terminated      |
 * | `maxInFlight`        | 10,000  | requests served at once on one connection; more are answered `OVERLOADED`    |
 */

export interface WebSocketLimits {
  /** Largest frame accepted, in bytes. */
  readonly maxPayload: number
  /** How long an HTTP upgrade may take, in milliseconds, on either side. */
  readonly handshakeTimeoutMs: number
  /** How long `connect` may take in all (TCP, TLS and upgrade), in milliseconds. */
  readonly connectTimeoutMs: number
  /** How often each side pings the other; a peer that misses one pong is dropped. 0 disables keepalive. */
  readonly pingIntervalMs: number
  /** How many undecodable frames one connection may send within `badFrameWindowMs` before it is closed. */
  readonly maxBadFrames: number
  readonly badFrameWindowMs: number
  /** How long a closing handshake may take before the socket is terminated, in milliseconds. */
  readonly closeTimeoutMs: number
  /** How many requests one connection may have in service at once. */
  readonly maxInFlight: number
}

export const defaultLimits: WebSocketLimits = {
  maxPayload: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  maxBadFrames: 10,
  badFrameWindowMs: 10_000,
  closeTimeoutMs: 5_000,
  maxInFlight: 10_000,
}

/** The defaults with `overrides` applied; `undefined` entries keep the default. */
export const limitsWith = (overrides: Partial<WebSocketLimits> | undefined): WebSocketLimits => {
  if (overrides === undefined) return defaultLimits
  const limits = { ...defaultLimits }
  for (const key of Object.keys(defaultLimits) as Array<keyof WebSocketLimits>) {
    const value = overrides[key]
    if (value === undefined) continue
    if (typeof value !== "number" || !(value >= 0)) throw new RangeError(`WebSocket limit ${key} must be a number >= 0, got ${String(value)}`)
    ;(limits as Record<keyof WebSocketLimits, number>)[key] = value
  }
  return limits
}
