/**
 * The NATS transport's defensive limits, in one table: the ones every message transport shares
 * (`connectionLimits.ts`, with the same defaults as the WebSocket transport's in `limits.ts`), as they work here.
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
import { type ConnectionLimits, defaultConnectionLimits, limitsOf } from "./connectionLimits.ts"

/**
 * `connectTimeoutMs` covers dialling the NATS server and the connect request; `pingIntervalMs` 0 disables the pings
 * on the pair (the NATS disconnect still closes); `closeTimeoutMs` bounds the wait for the server to acknowledge the
 * Close frame.
 */
export type NatsLimits = ConnectionLimits

export const defaultNatsLimits: NatsLimits = defaultConnectionLimits

/** The defaults with `overrides` applied; `undefined` entries keep the default. */
export const natsLimitsWith = (overrides: Partial<NatsLimits> | undefined): NatsLimits => limitsOf("NATS", defaultNatsLimits, overrides)
