/**
 * Wraps a `Transport` to observe what the actors under test do with it: how many times each address was
 * dialled (connection attempts, failed ones included) and which control messages each dialled connection
 * received. Behaviour is otherwise unchanged.
 */
import { Effect } from "effect"
import type { ControlMessage } from "../../transports/Envelope.ts"
import type { Transport } from "../../transports/Transport.ts"

export interface RecordingTransport extends Transport {
  /** Connection attempts per address, successful or not. */
  readonly attempts: (address: string) => number
  /** Control messages received by the dialling side, per address, in order. */
  readonly received: (address: string) => ReadonlyArray<ControlMessage>
}

export const recording = (inner: Transport): RecordingTransport => {
  const attempts = new Map<string, number>()
  const received = new Map<string, Array<ControlMessage>>()
  return {
    schemes: inner.schemes,
    listen: inner.listen,
    connect: (address, handlers) =>
      Effect.suspend(() => {
        attempts.set(address, (attempts.get(address) ?? 0) + 1)
        return inner.connect(address, (connection) => {
          const own = handlers(connection)
          return {
            ...own,
            onMessage: (message) => {
              const list = received.get(address) ?? []
              list.push(message)
              received.set(address, list)
              own.onMessage(message)
            },
          }
        })
      }),
    attempts: (address) => attempts.get(address) ?? 0,
    received: (address) => received.get(address) ?? [],
  }
}
