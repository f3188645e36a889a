/**
 * A seeded fault injector around a transport, for deterministic simulation (tests/simulation/, as FoundationDB's
 * simulator and TigerBeetle's VOPR do): one network shared by every party of a mesh, of which each party gets its
 * own view (`network.node("w1")`, provided to that party as its `Transport` service), so faults can be aimed at
 * the links between named nodes.
 *
 * Every choice it makes comes from Effect's `Random` and every delay is an Effect `sleep` on Effect's `Clock`, both
 * taken from the context `make` runs in: under `TestClock` with `Random.withSeed(seed)` a run replays exactly.
 *
 * What it does, per link and direction (the sender's view applies them):
 * - one-way control messages: `drop` (lost, the sender sees success), `duplicate` (delivered twice), `delay` (held
 *   up to `maxDelayMs`, order kept: a slow link), `reorder` (held up to `maxDelayMs` while later ones overtake it;
 *   this breaks the ordering a real socket keeps, so it is off unless asked for);
 * - requests: `requestFail` (answered `UNAVAILABLE` without reaching the peer), `replyLost` (served, but the caller
 *   gets `UNAVAILABLE`: the link "dropped" after the handler ran), `requestDelay` (sent up to `maxRequestDelayMs`
 *   late);
 * - and on command: `disconnect(node)` closes every link of a node (abnormal close, 1006), `partition(nodes)` cuts
 *   those nodes off from the others (dials across refused; links across closed, or left half-open with `silent`:
 *   what crosses them is lost, requests unanswered) until `heal()`, and
 *   `crash(node)`/`revive(node)` take a node off the network entirely (the harness also closes its scope).
 *
 * Connections it hands out are not `inProcess`: callers keep their own deadline timers, since a delayed request
 * cannot rely on the serving side's request server to answer in time. It is a wrapper: the inner transport is
 * unchanged, and a mesh that does not use it runs exactly as before. Dials are paired with the connection the
 * listener accepts by the inner transport calling `accept` synchronously inside `connect`, as the in-memory
 * transport does (the only transport this is meant for).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type CrankError, crankError } from "../capabilities/CrankError.ts"
import { type ControlMessage, failureOf, type Invoke, type Reply } from "./Envelope.ts"
import * as MemoryTransport from "./MemoryTransport.ts"
import { CloseCodes, type CloseInfo, type Connection, type Handlers, type Transport, TransportError, Transport as TransportService } from "./Transport.ts"

/** Probabilities (0..1) and bounds of the faults applied to every message and request. */
export interface Faults {
  readonly drop: number
  readonly duplicate: number
  readonly delay: number
  readonly reorder: number
  readonly maxDelayMs: number
  readonly requestFail: number
  readonly replyLost: number
  readonly requestDelay: number
  readonly maxRequestDelayMs: number
  /**
   * Serves a request twice and answers the second reply. No transport may do this (it breaks "a request runs at
   * most once"): it exists to show that a simulation's checks catch a broken mesh.
   */
  readonly requestTwice?: number
}

export const noFaults: Faults = {
  drop: 0,
  duplicate: 0,
  delay: 0,
  reorder: 0,
  maxDelayMs: 0,
  requestFail: 0,
  replyLost: 0,
  requestDelay: 0,
  maxRequestDelayMs: 0,
}

/** What the injector did so far, by kind. */
export interface FaultStats {
  messages: number
  dropped: number
  duplicated: number
  delayed: number
  reordered: number
  requests: number
  requestsFailed: number
  repliesLost: number
  requestsDelayed: number
  linksCut: number
  dialsRefused: number
}

export const noFaultStats: Readonly<FaultStats> = {
  messages: 0,
  dropped: 0,
  duplicated: 0,
  delayed: 0,
  reordered: 0,
  requests: 0,
  requestsFailed: 0,
  repliesLost: 0,
  requestsDelayed: 0,
  linksCut: 0,
  dialsRefused: 0,
}

/** Hooks for a harness to watch traffic; each runs synchronously, before any fault applies. */
export interface Taps {
  /** `from` is about to send `invoke` to `to` (called when the request is made, in the caller's synchronous step). */
  readonly call?: (from: string, to: string, invoke: Invoke) => void
  /** `node` received `invoke`; the returned function, if any, is told the reply `node` gave. */
  readonly serve?: (node: string, invoke: Invoke) => ((reply: Reply) => void) | undefined
}

export interface FaultyNetwork {
  /** The transport as node `name` sees it: provide it as that party's `Transport` service. */
  readonly node: (name: string) => Transport
  readonly faults: () => Faults
  readonly setFaults: (faults: Faults) => void
  /**
   * Cuts `nodes` off from every other node until `heal`: dials across are refused, and open links across are closed
   * (as a reset would), or with `silent` left open with everything crossing them lost (a half-open link: messages
   * vanish, requests go unanswered until their deadline), as a real partition does.
   */
  readonly partition: (nodes: Iterable<string>, options?: { readonly silent?: boolean }) => Effect.Effect<void>
  /** Ends every partition. */
  readonly heal: Effect.Effect<void>
  /** Closes every open link of `node` (abnormal close), once; it may dial again at once. */
  readonly disconnect: (node: string) => Effect.Effect<void>
  /** Takes `node` off the network: its links close, dials to and from it are refused, until `revive`. */
  readonly crash: (node: string) => Effect.Effect<void>
  readonly revive: (node: string) => void
  /** Whether `a` and `b` can talk now (neither crashed, not on opposite sides of a partition). */
  readonly reachable: (a: string, b: string) => boolean
  /** The node listening at `address`, if any. */
  readonly nodeAt: (address: string) => string | undefined
  readonly stats: () => Readonly<FaultStats>
}

interface Link {
  readonly dialer: string
  readonly listener: string
  /** The dialler's inner end: closing it closes both. */
  inner: Connection | undefined
}

/** One direction of a link: messages waiting behind a delayed one, delivered in order. */
class Direction {
  readonly queue: Array<{ readonly at: number; readonly message: ControlMessage }> = []
  pumping = false
}

const cut: CloseInfo = { code: CloseCodes.abnormal, reason: "simulated network fault" }

/**
 * A fault-injecting network over `inner`. Reads `Random` and `Clock` from the context it is made in, and runs
 * delayed deliveries in its scope.
 *
 * @example
 * ```ts
 * const network = yield* FaultyTransport.make(MemoryTransport.make(), { ...noFaults, drop: 0.01 })
 * const worker = yield* Worker.start(hello, options).pipe(Effect.provideService(Transport, network.node("w1")))
 * ```
 */
export const make = (inner: Transport, initial: Faults = noFaults, taps: Taps = {}): Effect.Effect<FaultyNetwork, never, Scope.Scope> =>
  Effect.gen(function* () {
    const random = yield* Random.Random
    const clock = yield* Clock.Clock
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    let faults = initial
    const listeners = new Map<string, string>()
    const links = new Set<Link>()
    const crashed = new Set<string>()
    /** Node → side of the partition (absent: side 0, with everyone not named). */
    let sides = new Map<string, number>()
    /** Which node is dialling now: `inner.connect` calls the listener's `accept` synchronously. */
    let dialing: { readonly from: string; link?: Link } | undefined
    const stats: FaultStats = { ...noFaultStats }

    const chance = (p: number): boolean => p > 0 && random.nextDoubleUnsafe() < p
    const upTo = (ms: number): number => 1 + Math.floor(random.nextDoubleUnsafe() * Math.max(1, ms))

    const reachable = (a: string, b: string): boolean => !crashed.has(a) && !crashed.has(b) && (sides.get(a) ?? 0) === (sides.get(b) ?? 0)

    const closeLinks = (which: (link: Link) => boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        const closing = [...links].filter(which)
        for (const link of closing) links.delete(link)
        stats.linksCut += closing.length
        return Effect.forEach(closing, (link) => (link.inner === undefined ? Effect.void : link.inner.close(cut)), { discard: true })
      })

    const deliver = (connection: Connection, message: ControlMessage): Effect.Effect<void> => Effect.ignore(connection.send(message))

    /** Delivers the queue of one direction in order, each message not before its time. */
    const pump = (connection: Connection, direction: Direction): Effect.Effect<void> =>
      Effect.suspend(function next(): Effect.Effect<void> {
        const head = direction.queue[0]
        if (head === undefined) {
          direction.pumping = false
          return Effect.void
        }
        const wait = head.at - clock.currentTimeMillisUnsafe()
        return Effect.andThen(wait > 0 ? Effect.sleep(wait) : Effect.void, () => {
          direction.queue.shift()
          return Effect.andThen(deliver(connection, head.message), Effect.suspend(next))
        })
      })

    class FaultyEnd implements Connection {
      readonly id: string
      readonly remoteAddress: string
      readonly outbound = new Direction()
      constructor(
        readonly innerEnd: Connection,
        readonly from: string,
        readonly to: string,
      ) {
        this.id = innerEnd.id
        this.remoteAddress = innerEnd.remoteAddress
      }
      get peer() {
        return this.innerEnd.peer
      }

      readonly send = (message: ControlMessage) =>
        Effect.suspend(() => {
          if (!this.innerEnd.isOpen()) return this.innerEnd.send(message)
          stats.messages++
          if (!reachable(this.from, this.to)) {
            // A silent partition: the link looks open, and what crosses it is lost.
            stats.dropped++
            return Effect.void
          }
          if (chance(faults.drop)) {
            stats.dropped++
            return Effect.void
          }
          const copies = chance(faults.duplicate) ? 2 : 1
          if (copies === 2) stats.duplicated++
          if (chance(faults.reorder)) {
            // Held while later messages overtake it.
            stats.reordered++
            const wait = upTo(faults.maxDelayMs)
            for (let i = 0; i < copies; i++) runFork(Effect.andThen(Effect.sleep(wait), deliver(this.innerEnd, message)))
            return Effect.void
          }
          const direction = this.outbound
          const delayed = chance(faults.delay)
          if (!delayed && direction.queue.length === 0) {
            const once = this.innerEnd.send(message)
            return copies === 1 ? once : Effect.andThen(once, this.innerEnd.send(message))
          }
          // A slow link: this message, and every later one until the queue empties, arrives in order, late.
          if (delayed) stats.delayed++
          const last = direction.queue[direction.queue.length - 1]?.at ?? 0
          const at = Math.max(last, clock.currentTimeMillisUnsafe() + (delayed ? upTo(faults.maxDelayMs) : 0))
          for (let i = 0; i < copies; i++) direction.queue.push({ at, message })
          if (!direction.pumping) {
            direction.pumping = true
            runFork(pump(this.innerEnd, direction))
          }
          return Effect.void
        })

      readonly call = (invoke: Invoke): Effect.Effect<Reply> => {
        taps.call?.(this.from, this.to, invoke)
        if (!this.innerEnd.isOpen()) return this.innerEnd.call(invoke)
        stats.requests++
        // Across a silent partition a request is never answered: the caller's deadline ends it.
        if (!reachable(this.from, this.to)) return Effect.never
        if (chance(faults.requestFail)) {
          stats.requestsFailed++
          return Effect.succeed(failureOf(invoke.id, crankError("UNAVAILABLE", `simulated: request to ${this.remoteAddress} lost`)))
        }
        const lost = chance(faults.replyLost)
        const delayMs = chance(faults.requestDelay) ? upTo(faults.maxRequestDelayMs) : 0
        let call = this.innerEnd.call(invoke)
        if (chance(faults.requestTwice ?? 0)) call = Effect.andThen(this.innerEnd.call(invoke), this.innerEnd.call(invoke))
        if (delayMs > 0) {
          stats.requestsDelayed++
          call = Effect.andThen(Effect.sleep(delayMs), call)
        }
        if (lost) {
          stats.repliesLost++
          call = Effect.as(call, failureOf(invoke.id, crankError("UNAVAILABLE", `simulated: reply from ${this.remoteAddress} lost`)))
        }
        return call
      }

      /**
       * Streams cross the link unharmed but for partitions (a silent one never answers) and request failures:
       * the faults above model a lossy wire, and a stream's credit protocol runs over a reliable one.
       */
      readonly stream = (invoke: Invoke): Stream.Stream<unknown, CrankError> => {
        if (!this.innerEnd.isOpen()) return this.innerEnd.stream(invoke)
        stats.requests++
        if (!reachable(this.from, this.to)) return Stream.never
        if (chance(faults.requestFail)) {
          stats.requestsFailed++
          return Stream.fail(crankError("UNAVAILABLE", `simulated: stream request to ${this.remoteAddress} lost`))
        }
        return this.innerEnd.stream(invoke)
      }

      readonly close = (info?: CloseInfo) => this.innerEnd.close(info)
      readonly isOpen = () => this.innerEnd.isOpen()
    }

    const tapServe = (node: string, handlers: Handlers): Handlers => {
      const serve = taps.serve
      if (serve === undefined) return handlers
      return {
        ...handlers,
        serve: (invoke) => {
          const seen = serve(node, invoke)
          const reply = handlers.serve(invoke)
          return seen === undefined ? reply : Effect.tap(reply, (r) => Effect.sync(() => seen(r)))
        },
      }
    }

    const node = (name: string): Transport => ({
      schemes: inner.schemes,
      listen: (address, accept, options) =>
        Effect.gen(function* () {
          const listener = yield* inner.listen(
            address,
            (innerEnd) => {
              const link: Link = { dialer: dialing?.from ?? "?", listener: name, inner: undefined }
              if (dialing !== undefined) dialing.link = link
              // Links that closed on their own are forgotten now and then, so a long run holds only live ones.
              if (links.size > 64) for (const l of links) if (l.inner !== undefined && !l.inner.isOpen()) links.delete(l)
              links.add(link)
              return tapServe(name, accept(new FaultyEnd(innerEnd, name, link.dialer)))
            },
            options,
          )
          yield* Effect.acquireRelease(
            Effect.sync(() => listeners.set(listener.address, name)),
            () => Effect.sync(() => listeners.delete(listener.address)),
          )
          return listener
        }),
      connect: (address, handlers) =>
        Effect.suspend(() => {
          const target = listeners.get(address)
          if (target !== undefined && !reachable(name, target)) {
            stats.dialsRefused++
            return Effect.fail(new TransportError({ reason: "ConnectFailed", address, message: `simulated: ${name} cannot reach ${target}` }))
          }
          const dial = { from: name } as { readonly from: string; link?: Link }
          dialing = dial
          let wrapped: FaultyEnd | undefined
          return inner
            .connect(address, (innerEnd) => {
              dialing = undefined
              wrapped = new FaultyEnd(innerEnd, name, target ?? "?")
              return tapServe(name, handlers(wrapped))
            })
            .pipe(
              Effect.ensuring(Effect.sync(() => void (dialing === dial ? (dialing = undefined) : undefined))),
              // The caller gets the end its handlers were given: one outbound queue per end.
              Effect.map((innerEnd): Connection => {
                if (dial.link !== undefined) dial.link.inner = innerEnd
                return wrapped ?? new FaultyEnd(innerEnd, name, target ?? "?")
              }),
            )
        }),
    })

    return {
      node,
      faults: () => faults,
      setFaults: (next) => {
        faults = next
      },
      partition: (nodes, options) =>
        Effect.suspend(() => {
          const side = Math.max(0, ...sides.values()) + 1
          sides = new Map(sides)
          for (const n of nodes) sides.set(n, side)
          return options?.silent === true ? Effect.void : closeLinks((link) => !reachable(link.dialer, link.listener))
        }),
      heal: Effect.sync(() => {
        sides = new Map()
      }),
      disconnect: (n) => closeLinks((link) => link.dialer === n || link.listener === n),
      crash: (n) =>
        Effect.suspend(() => {
          crashed.add(n)
          return closeLinks((link) => link.dialer === n || link.listener === n)
        }),
      revive: (n) => {
        crashed.delete(n)
      },
      reachable,
      nodeAt: (address) => listeners.get(address),
      stats: () => stats,
    } satisfies FaultyNetwork
  })

/**
 * A fresh in-memory network with `faults` on every link, as the `Transport` service: for a test whose parties all
 * share one node (message and request faults only; partitions and crashes need `make` and a view per party).
 */
export const layer = (faults: Faults): Layer.Layer<Transport> =>
  Layer.effect(
    TransportService,
    Effect.map(make(MemoryTransport.make(), faults), (network) => network.node("local")),
  )
