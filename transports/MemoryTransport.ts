/**
 * The in-memory transport: connections between actors in one process, passing envelopes as values
 * (no serialisation, no copies).
 *
 * Each `make()` is an isolated network, so tests never see each other's listeners. Addresses are
 * `memory://<name>`. A request starts the serving side's handler at once, from the caller's fiber and with its
 * services, with no mailbox or scheduler hop between them: that is the data path's floor in one process (see
 * docs/architecture.md). The handler gets a fiber of its own only so that it can be cut off on its own:
 * interrupting the caller interrupts the handler and waits for it (what `Cancel` means on a real wire), and a
 * closing link answers waiting callers `UNAVAILABLE` and interrupts their handlers, as the WebSocket transport
 * does. A handler that dies answers `INTERNAL` for its request only.
 *
 * A streaming request is the serving side's `Stream` itself, pulled by the caller: backpressure with no buffer of
 * the transport's own (the stages on the way, a deadline, decoding, each pull at most one item ahead)
 * (the producer runs only as the consumer pulls), cancellation by the consumer stopping, and a closing link fails
 * it `UNAVAILABLE`, as over a wire.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { type CrankError, crankError } from "../capabilities/CrankError.ts"
import { type ControlMessage, failureOf, type Invoke, type Reply } from "./Envelope.ts"
import { defectReply, replyOfExit } from "./handlerReply.ts"
import { CloseCodes, type CloseInfo, type Connection, type Handlers, type Listener, Transport, TransportError } from "./Transport.ts"

let nextConnectionId = 0

/** One end of an in-memory link; `other` is the other end. */
class MemoryEnd implements Connection {
  readonly id = `mem-${++nextConnectionId}`
  other!: MemoryEnd
  handlers!: Handlers
  open = true
  readonly inProcess = true

  constructor(readonly remoteAddress: string) {}

  readonly send = (message: ControlMessage): Effect.Effect<void, CrankError> =>
    Effect.suspend(() => {
      if (!this.open) return Effect.fail(crankError("UNAVAILABLE", `connection ${this.id} is closed`))
      this.other.handlers.onMessage(message)
      return Effect.void
    })

  /** Completed when the link closes: ends the streams running over it. */
  readonly closed = Deferred.makeUnsafe<void>()

  readonly stream = (invoke: Invoke): Stream.Stream<unknown, CrankError> =>
    Stream.suspend(() => {
      if (!this.open) return Stream.fail(crankError("UNAVAILABLE", `connection to ${this.remoteAddress} is closed`))
      const serveStream = this.other.handlers.serveStream
      if (serveStream === undefined) return Stream.fail(crankError("NO_WORKER", `${this.remoteAddress} serves no streaming requests`))
      const dropped = Effect.andThen(
        Deferred.await(this.closed),
        Effect.fail(crankError("UNAVAILABLE", `connection to ${this.remoteAddress} closed during stream ${invoke.id}`)),
      )
      return Stream.interruptWhen(serveStream(invoke), dropped)
    })

  /** Calls in flight from this end: the handler fiber, and how to answer its caller if the link drops first. */
  readonly inflight = new Map<Fiber.Fiber<Reply>, { readonly id: string; readonly resume: (reply: Effect.Effect<Reply>) => void }>()

  readonly call = (invoke: Invoke): Effect.Effect<Reply> =>
    Effect.suspend(() => {
      const reply = this.callNow(invoke)
      return Effect.isEffect(reply) ? reply : Effect.succeed(reply)
    })

  /**
   * Serves `invoke` now: the reply itself when the serving side answered without waiting (a plain-value handler:
   * no fiber, no effect at all), otherwise the effect that waits for it.
   */
  readonly callNow = (invoke: Invoke): Reply | Effect.Effect<Reply> => {
    if (!this.open) return failureOf(invoke.id, crankError("UNAVAILABLE", `connection to ${this.remoteAddress} is closed`))
    let effect: Effect.Effect<Reply>
    try {
      effect = this.other.handlers.serve(invoke)
    } catch (error) {
      return defectReply(invoke.id, error)
    }
    // An answer already made (`Effect.succeed`, `Effect.die` are `Exit`s) needs no fiber at all.
    if (Exit.isExit(effect)) return replyOfExit(invoke.id, effect as Exit.Exit<Reply>)
    // Otherwise the handler runs at once, with the caller's services, in a fiber of its own: a handler that
    // needs no I/O has answered before runFork returns, and one that waits can still be cut off when the
    // link drops.
    return Effect.withFiber((caller) => {
      const handler = Effect.runForkWith(caller.context)(effect)
      const exit = handler.pollUnsafe()
      return exit !== undefined ? Effect.succeed(replyOfExit(invoke.id, exit)) : this.awaitHandler(handler, invoke.id)
    })
  }

  private awaitHandler(handler: Fiber.Fiber<Reply>, id: string): Effect.Effect<Reply> {
    return Effect.callback<Reply>((resume) => {
      this.inflight.set(handler, { id, resume })
      handler.addObserver((exit) => {
        if (this.inflight.delete(handler)) resume(Effect.succeed(replyOfExit(id, exit)))
      })
      // The caller was interrupted: so is the handler, and the caller resumes once it has finished (as `Cancel`).
      return Effect.suspend(() => {
        this.inflight.delete(handler)
        return Fiber.interrupt(handler)
      })
    })
  }

  readonly close = (info: CloseInfo = { code: CloseCodes.normal, reason: "closed" }): Effect.Effect<void> => Effect.sync(() => this.closeUnsafe(info))

  readonly isOpen = (): boolean => this.open

  /** The link dropped: callers waiting on handlers get `UNAVAILABLE`, and the handlers are interrupted. */
  private dropInflight(info: CloseInfo): void {
    if (this.inflight.size === 0) return
    const message = `connection to ${this.remoteAddress} closed (${info.code} ${info.reason})`
    for (const [handler, { id, resume }] of this.inflight) {
      resume(Effect.succeed(failureOf(id, crankError("UNAVAILABLE", message))))
      handler.interruptUnsafe()
    }
    this.inflight.clear()
  }

  closeUnsafe(info: CloseInfo): void {
    if (!this.open) return
    this.open = false
    this.other.open = false
    Deferred.doneUnsafe(this.closed, Exit.void)
    Deferred.doneUnsafe(this.other.closed, Exit.void)
    this.dropInflight(info)
    this.other.dropInflight(info)
    this.handlers.onClose(info)
    this.other.handlers.onClose(info)
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
        client.other = server
        server.other = client
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

/** A fresh in-memory network as the `Transport` service: everything in one process (tests, `crank dev`). */
export const layer: Layer.Layer<Transport> = Layer.sync(Transport, make)
