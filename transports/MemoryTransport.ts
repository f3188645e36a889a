/**
 * The in-memory transport: connections between actors in one process, passing envelopes as values
 * (no serialisation, no copies).
 *
 * Each `make()` is an isolated network, so tests never see each other's listeners. Addresses are
 * `memory://<name>`. A request runs the serving side's handler in the caller's fiber: that is the data
 * path's floor in one process (see docs/architecture.md), and interrupting the caller interrupts the handler
 * directly, which is what `Cancel` means on a real wire.
 */
import { Effect } from "effect"
import { crankError, type CrankError } from "../capabilities/CrankError.ts"
import { failureOf, type ControlMessage, type Invoke, type Reply } from "./Envelope.ts"
import {
  CloseCodes,
  type CloseInfo,
  type Connection,
  type Handlers,
  type Listener,
  type Transport,
  TransportError,
} from "./Transport.ts"

let nextConnectionId = 0

/** One end of an in-memory link; `peer` is the other end. */
class MemoryEnd implements Connection {
  readonly id = `mem-${++nextConnectionId}`
  peer!: MemoryEnd
  handlers!: Handlers
  open = true

  constructor(readonly remoteAddress: string) {}

  readonly send = (message: ControlMessage): Effect.Effect<void, CrankError> =>
    Effect.suspend(() => {
      if (!this.open) return Effect.fail(crankError("UNAVAILABLE", `connection ${this.id} is closed`))
      this.peer.handlers.onMessage(message)
      return Effect.void
    })

  readonly call = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.suspend(() =>
      this.open
        ? this.peer.handlers.serve(invoke)
        : Effect.succeed(failureOf(invoke.id, crankError("UNAVAILABLE", `connection to ${this.remoteAddress} is closed`))),
    )

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> =>
    Effect.sync(() => this.closeUnsafe(info))

  readonly isOpen = (): boolean => this.open

  closeUnsafe(info: CloseInfo): void {
    if (!this.open) return
    this.open = false
    this.peer.open = false
    this.handlers.onClose(info)
    this.peer.handlers.onClose(info)
  }
}

export interface MemoryTransport extends Transport {
  /** Addresses currently listening: for tests and `crank status`. */
  readonly addresses: () => ReadonlyArray<string>
}

/**
 * Creates an isolated in-memory network.
 *
 * @example
 * ```ts
 * const transport = MemoryTransport.make()
 * const listener = yield* transport.listen("memory://controller", (conn) => handlers)
 * ```
 */
export const make = (): MemoryTransport => {
  const listeners = new Map<string, (connection: Connection) => Handlers>()
  const live = new Set<MemoryEnd>()
  let anonymous = 0

  const listen: Transport["listen"] = (address, accept) =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        if (!address.startsWith("memory://")) {
          return Effect.fail(new TransportError({ reason: "UnsupportedAddress", address, message: `not a memory:// address: ${address}` }))
        }
        // `memory://` alone asks for a fresh name, as port 0 does for sockets.
        const bound = address === "memory://" ? `memory://anonymous-${++anonymous}` : address
        if (listeners.has(bound)) {
          return Effect.fail(new TransportError({ reason: "ListenFailed", address: bound, message: `address in use: ${bound}` }))
        }
        listeners.set(bound, accept)
        return Effect.succeed<Listener>({ address: bound })
      }),
      (listener) =>
        Effect.sync(() => {
          listeners.delete(listener.address)
          // Closing a listener drops its connections, as a process exit would.
          for (const end of live) {
            if (end.remoteAddress === listener.address) end.closeUnsafe({ code: CloseCodes.goingAway, reason: "listener closed" })
          }
        }),
    )

  const connect: Transport["connect"] = (address, handlers) =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        const accept = listeners.get(address)
        if (accept === undefined) {
          return Effect.fail(new TransportError({ reason: "ConnectFailed", address, message: `nothing listens at ${address}` }))
        }
        const client = new MemoryEnd(address)
        const server = new MemoryEnd(`memory://client/${client.id}`)
        client.peer = server
        server.peer = client
        server.handlers = accept(server)
        client.handlers = handlers(client)
        live.add(client)
        const forget = client.handlers.onClose
        client.handlers = { ...client.handlers, onClose: (info) => (live.delete(client), forget(info)) }
        return Effect.succeed<Connection>(client)
      }),
      (connection) => connection.close({ code: CloseCodes.normal, reason: "client scope closed" }),
    )

  return { schemes: ["memory"], listen, connect, addresses: () => [...listeners.keys()] }
}
