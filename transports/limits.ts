/**
 * The WebSocket transport's defensive limits, in one table: the ones every message transport shares
 * (`connectionLimits.ts`, with the same defaults) and two of its own, `maxPayload` and `handshakeTimeoutMs`.
 *
 * Every limit is on by default at the public edge, as ws's own `maxPayload` is: a peer on the network is
 * untrusted until an actor above says otherwise, so the transport bounds what one connection may cost before
 * anyone has checked who it is. Each value can be overridden per transport through `WebSocketTransport.make`.
 *
 * | limit                | default | what happens when it is exceeded                                            |
 * |----------------------|---------|-----------------------------------------------------------------------------|
 * | `maxPayload`         | 16 MiB  | ws closes the connection with 1009 (message too big)                        |
 * | `handshakeTimeoutMs` | 10 s    | server: a socket that has not finished its HTTP upgrade is dropped; client: the upgrade response must arrive in time |
 * | `connectTimeoutMs`   | 10 s    | `connect` (TCP, TLS and upgrade) fails with `TransportError` reason `ConnectFailed` |
 * | `pingIntervalMs`     | 30 s    | a peer that has not answered the previous ping is terminated (1006, "no pong"); 0 turns keepalive off |
 * | `maxBadFrames`       | 10      | more than this many undecodable frames within `badFrameWindowMs`: close 1008 |
 * | `badFrameWindowMs`   | 10 s    | the window the bad frames are counted in                                    |
 * | `closeTimeoutMs`     | 5 s     | a peer that does not finish the closing handshake in time is terminated      |
 * | `maxInFlight`        | 10,000  | requests served at once on one connection; more are answered `OVERLOADED`    |
 */
import { type ConnectionLimits, defaultConnectionLimits, limitsOf } from "./connectionLimits.ts"

export interface WebSocketLimits extends ConnectionLimits {
  /** Largest frame accepted, in bytes. */
  readonly maxPayload: number
  /** How long an HTTP upgrade may take, in milliseconds, on either side. */
  readonly handshakeTimeoutMs: number
}

export const defaultLimits: WebSocketLimits = {
  maxPayload: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  ...defaultConnectionLimits,
}

/** The defaults with `overrides` applied; `undefined` entries keep the default. */
export const limitsWith = (overrides: Partial<WebSocketLimits> | undefined): WebSocketLimits => limitsOf("WebSocket", defaultLimits, overrides)
