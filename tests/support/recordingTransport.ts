/**
 * Wraps a `Transport` to observe what the actors under test do with it: when each address was dialled
 * (connection attempts, failed ones included, timed by the effect `Clock`, so virtual under `TestClock`), the
 * connections that opened, and which control messages each dialled connection received. Behaviour is
 * otherwise unchanged.
 */
import { Clock, Effect } from "effect"
import type { ControlMessage } from "../../transports/Envelope.ts"
import type { Connection, Transport } from "../../transports/Transport.ts"

export interface RecordingTransport extends Transport {
  /** Connection attempts per address, successful or not. */
  readonly attempts: (address: string) => number
  /** When each attempt was made (`Clock.currentTimeMillis`), per address. */
  readonly attemptTimes: (address: string) => ReadonlyArray<number>
  /** Connections the dialling side opened, per address, oldest first. */
  readonly connections: (address: string) => ReadonlyArray<Connection>
  /** Control messages received by the dialling side, per address, in order. */
  readonly received: (address: string) => ReadonlyArray<ControlMessage>
}

const push = <A>(map: Map<string, Array<A>>, key: string, value: A): void => {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

export const recording = (inner: Transport): RecordingTransport => {
  const attemptTimes = new Map<string, Array<number>>()
  const connections = new Map<string, Array<Connection>>()
  const received = new Map<string, Array<ControlMessage>>()
  return {
    schemes: inner.schemes,
    listen: inner.listen,
    connect: (address, handlers) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        push(attemptTimes, address, now)
        return inner
          .connect(address, (connection) => {
            const own = handlers(connection)
            return {
              ...own,
              onMessage: (message) => {
                push(received, address, message)
                own.onMessage(message)
              },
            }
          })
          .pipe(Effect.tap((connection) => Effect.sync(() => push(connections, address, connection))))
      }),
    attempts: (address) => attemptTimes.get(address)?.length ?? 0,
    attemptTimes: (address) => attemptTimes.get(address) ?? [],
    connections: (address) => connections.get(address) ?? [],
    received: (address) => received.get(address) ?? [],
  }
}
