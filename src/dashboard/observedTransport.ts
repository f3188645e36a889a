/**
 * A transport that remembers what a worker process says about itself, for that process's probes: the addresses
 * its listeners got (so `crank worker` can print where `/healthz` is when it asked for port 0) and the last
 * `Heartbeat` each worker sent (its per-capability outcome and latency counts, for `/metrics`).
 *
 * Why from the heartbeat: those counts are exactly what the controller is told, so the process's `/metrics` and
 * the controller's agree, and `RunningWorker` need not grow an accessor for them. They are as fresh as the last
 * beat (one heartbeat interval at most); in-flight and completed counts are read live from the workers.
 */
import { Effect } from "effect"
import type { Heartbeat } from "../../transports/Envelope.ts"
import type { Connection, Transport } from "../../transports/Transport.ts"

export interface ObservedTransport {
  readonly transport: Transport
  /** Addresses of the listeners open through it, in order (with real ports). */
  readonly listeners: () => ReadonlyArray<string>
  /** The last heartbeat `workerId` sent through it. */
  readonly lastHeartbeat: (workerId: string) => Heartbeat | undefined
}

export const observe = (inner: Transport): ObservedTransport => {
  const listeners: Array<string> = []
  const heartbeats = new Map<string, Heartbeat>()
  const tapped = (connection: Connection): Connection => ({
    id: connection.id,
    remoteAddress: connection.remoteAddress,
    send: (message) => {
      if (message._tag === "Heartbeat") heartbeats.set(message.workerId, message)
      return connection.send(message)
    },
    call: (invoke) => connection.call(invoke),
    close: (info) => connection.close(info),
    isOpen: () => connection.isOpen(),
  })
  return {
    transport: {
      schemes: inner.schemes,
      listen: (address, accept) =>
        Effect.tap(inner.listen(address, accept), (listener) =>
          Effect.acquireRelease(
            Effect.sync(() => listeners.push(listener.address)),
            () =>
              Effect.sync(() => {
                const index = listeners.indexOf(listener.address)
                if (index !== -1) listeners.splice(index, 1)
              }),
          ),
        ),
      connect: (address, handlers) => Effect.map(inner.connect(address, handlers), tapped),
    },
    listeners: () => listeners,
    lastHeartbeat: (workerId) => heartbeats.get(workerId),
  }
}
