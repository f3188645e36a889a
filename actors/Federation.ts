/**
 * A federation of controllers over NATS: each controller serves its own workers and, for a request none of them
 * can take, forwards it to the least-loaded other controller that has a worker for it (the controller's
 * `elsewhere` seam, local workers always first).
 *
 * What travels (actors/federation/federationProtocol.ts): every `heartbeatIntervalMs` one `Alive` per controller;
 * every `deltaIntervalMs`, only if its summary changed, one `Delta` with the capability versions that changed
 * (workers, in flight, capacity: never a worker, never a worker's heartbeat); a snapshot by request/reply, asked
 * once of a peer first heard of, again only after a gap in its sequence numbers. What stays in the controllers: the
 * peer table (actors/federation/PeerTable.ts), dropped peer by peer when their `Alive`s stop for `staleAfterMs`.
 *
 * Forwarded requests go over the NATS transport to the peer's own listener, `nats://host:port/controller-<id>`,
 * with what is left of their deadline. That listener serves only the controller's local workers: a forwarded
 * request is marked (its id starts with `forwardedMark`) and `elsewhere` never forwards a marked one, so no request
 * travels more than one hop. docs/federation.md has the design and the figures.
 *
 * The NATS server is trusted, as for the NATS transport: whoever may publish on the federation's subjects may
 * announce routes and send requests to the listeners (use NATS's users and permissions on a shared server).
 */
import { connect, type Msg, type NatsConnection, nuid, type Subscription } from "@nats-io/transport-node"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { messageOf } from "../capabilities/CrankError.ts"
import type { FederatedController } from "../capabilities/crank.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import * as NatsTransport from "../transports/NatsTransport.ts"
import type { Connection, Handlers, TransportError } from "../transports/Transport.ts"
import type { Controller, Elsewhere } from "./Controller.ts"
import { callAfter } from "./callWithin.ts"
import {
  aliveSubject,
  controllerIdPattern,
  decodeFederationMessage,
  defaultFederationPrefix,
  deltaSubject,
  encodeFederationMessage,
  type FederationMessage,
  type SummaryEntry,
  snapshotSubject,
} from "./federation/federationProtocol.ts"
import { diffSummaries, type Summary, summaryOf } from "./federation/localSummary.ts"
import { type Peer, PeerTable, type PeerView } from "./federation/PeerTable.ts"
import { goesElsewhere, retriesElsewhere } from "./retryPolicy.ts"
import * as SharedDial from "./sharedDial.ts"

export type { PeerView } from "./federation/PeerTable.ts"

export interface FederationOptions {
  /** The NATS server, `nats://host:port`. */
  readonly nats: string
  /** This controller's id in the federation: one subject token, unique among the controllers. */
  readonly controllerId: string
  /** The first tokens of the federation's subjects. Default `crank.fed`. */
  readonly subjectPrefix?: string
  /** How often this controller says it is alive. Default 1 s. */
  readonly heartbeatIntervalMs?: number
  /** Silence after which a peer and its routes are dropped. Default three heartbeat intervals. */
  readonly staleAfterMs?: number
  /** How often the local summary is compared with the last one sent, and a delta sent if it changed. Default 250 ms. */
  readonly deltaIntervalMs?: number
  /** How long a snapshot request waits for its answer. Default 2 s. */
  readonly snapshotTimeoutMs?: number
}

export class FederationError extends Data.TaggedError("FederationError")<{ readonly message: string }> {}

/** Messages and bytes on the federation's subjects, as this controller sent and received them (for docs/federation.md). */
export interface FederationTraffic {
  readonly sent: { messages: number; bytes: number }
  readonly received: { messages: number; bytes: number }
}

export interface Federation {
  readonly controllerId: string
  /** Where requests no local worker serves go: pass it as `ControllerOptions.elsewhere`. */
  readonly elsewhere: Elsewhere
  /**
   * Joins the federation with `controller`: starts its forwarding listener, says it is alive, follows its peers and
   * sends its deltas, until the scope closes (then its last delta removes all its routes). Gives the listener's address.
   */
  readonly join: (controller: Controller) => Effect.Effect<string, TransportError, Scope.Scope>
  /** The listener peers forward to, once joined. */
  readonly address: () => string | undefined
  /** The other controllers heard from, with their capabilities. */
  readonly peers: () => ReadonlyArray<PeerView>
  readonly traffic: () => FederationTraffic
}

/** The id prefix of a forwarded request: such a request is served by local workers only, never forwarded again. */
export const forwardedMark = "federated:"

const isForwarded = (invoke: Invoke): boolean => invoke.id.startsWith(forwardedMark)

/**
 * Connects to the NATS server and makes the federation; it joins with `join` once the controller exists (the
 * controller takes `elsewhere` when it is made). The NATS client closes with the scope.
 *
 * @example
 * ```ts
 * const federation = yield* Federation.make({ nats: "nats://127.0.0.1:4222", controllerId: "a" })
 * const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:7070"], elsewhere: federation.elsewhere })
 * yield* federation.join(controller)
 * ```
 */
export const make = (options: FederationOptions): Effect.Effect<Federation, FederationError, Scope.Scope> =>
  Effect.gen(function* () {
    const id = options.controllerId
    if (!controllerIdPattern.test(id))
      return yield* new FederationError({ message: `controller id ${JSON.stringify(id)} must be 1 to 64 letters, digits, '-' or '_'` })
    const server = new URL(options.nats)
    if (server.protocol !== "nats:") return yield* new FederationError({ message: `--federation must be a nats:// address: ${options.nats}` })
    const natsServer = `nats://${server.host}`
    const prefix = options.subjectPrefix ?? defaultFederationPrefix
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1_000
    const staleAfterMs = options.staleAfterMs ?? 3 * heartbeatIntervalMs
    const deltaIntervalMs = options.deltaIntervalMs ?? 250
    const snapshotTimeoutMs = options.snapshotTimeoutMs ?? 2_000
    const run = nuid.next()
    const clock = yield* Clock.Clock
    const now = () => clock.currentTimeMillisUnsafe()
    const runBeside = yield* FiberSet.makeRuntime<never, void, never>()
    const scope = yield* Effect.scope

    const nc: NatsConnection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          connect({
            servers: server.host,
            name: `crank-federation-${id}`,
            // A partition heals by itself: the client redials forever, and peers are re-learned from their Alives.
            maxReconnectAttempts: -1,
            reconnectTimeWait: Math.min(1_000, heartbeatIntervalMs),
            pingInterval: Math.max(1_000, heartbeatIntervalMs),
          }),
        catch: (error) => new FederationError({ message: `cannot reach the NATS server at ${options.nats}: ${messageOf(error)}` }),
      }),
      (nc) => Effect.promise(() => nc.drain().catch(() => nc.close())),
    )
    // Forwarded requests travel on the NATS transport; its pings notice a dead peer's link on the heartbeat cadence.
    // Its client redials as fast as the federation's own: routes that come back after a partition must be reachable.
    const transport = NatsTransport.make({
      pingIntervalMs: Math.max(1_000, heartbeatIntervalMs),
      nats: { name: `crank-federation-${id}-forwarding`, reconnectTimeWait: Math.min(1_000, heartbeatIntervalMs) },
    })
    const dialSite: SharedDial.DialSite = { transport, scope, runBeside }

    const table = new PeerTable(id)
    const dials = new Map<string, SharedDial.SharedDial>()
    const traffic = { sent: { messages: 0, bytes: 0 }, received: { messages: 0, bytes: 0 } }
    let listenerAddress: string | undefined
    /** The controller joined, for its own line in `crank.status`. */
    let joined: Controller | undefined
    /** The summary the deltas sent so far describe, and the last delta's number: what a snapshot answers. */
    let published: Summary = new Map()
    let seq = 0

    const publish = (subject: string, message: FederationMessage): void => {
      const bytes = encodeFederationMessage(message)
      traffic.sent.messages++
      traffic.sent.bytes += bytes.length
      try {
        nc.publish(subject, bytes)
      } catch {
        // A closed client (shutting down): nothing to tell anyone.
      }
    }

    /**
     * A peer's listener reached through this controller's own NATS server: the name is what matters, and the servers
     * of one NATS cluster all route it (a peer may have announced the server it uses, which may not be ours).
     */
    const onOwnServer = (announced: string): string => (announced === "" ? "" : `${natsServer}/${new URL(announced).pathname.replace(/^\/+/, "")}`)

    const dialFor = (announced: string): SharedDial.SharedDial => {
      const address = onOwnServer(announced)
      let dial = dials.get(address)
      if (dial === undefined) {
        dial = SharedDial.makeIn(dialSite, { address, what: `the controller at ${address}` })
        dials.set(address, dial)
      }
      return dial
    }

    // ---- following peers

    const askSnapshot = (peerId: string): void => {
      const ask = Effect.tryPromise(() => nc.request(snapshotSubject(prefix, peerId), new Uint8Array(0), { timeout: snapshotTimeoutMs })).pipe(
        Effect.flatMap((reply) => {
          count(reply)
          const message = decodeFederationMessage(reply.data)
          if (message?._tag !== "Snapshot") return Effect.fail(new Error("not a snapshot"))
          return Effect.sync(() => {
            if (table.snapshot(message, now()) === "askSnapshot") askSnapshot(peerId)
          })
        }),
        Effect.catch((error) =>
          Effect.andThen(
            Effect.sync(() => table.snapshotFailed(peerId)),
            Effect.logDebug(`federation ${id}: snapshot of ${peerId} failed: ${messageOf(error)}`),
          ),
        ),
      )
      runBeside(ask)
    }

    const count = (msg: Msg): void => {
      traffic.received.messages++
      traffic.received.bytes += msg.data.length
    }

    const onPeerMessage = (error: Error | null, msg: Msg): void => {
      if (error !== null) return
      count(msg)
      const message = decodeFederationMessage(msg.data)
      if (message === undefined) return
      const verdict = message._tag === "Alive" ? table.alive(message, now()) : message._tag === "Delta" ? table.delta(message, now()) : "ok"
      if (verdict === "askSnapshot") askSnapshot(message.from)
    }

    const onSnapshotRequest = (error: Error | null, msg: Msg): void => {
      if (error !== null || listenerAddress === undefined) return
      count(msg)
      const bytes = encodeFederationMessage({ _tag: "Snapshot", from: id, run, address: listenerAddress, seq, entries: [...published.values()] })
      traffic.sent.messages++
      traffic.sent.bytes += bytes.length
      msg.respond(bytes)
    }

    // ---- forwarding

    /**
     * `invoke` forwarded to `peer`: a dial that fails (nothing sent) and an answer that says the request never ran
     * there (`NO_WORKER`, `DRAINING`, `OVERLOADED`) try the next least-loaded peer, with what is left of the deadline.
     */
    const forward = (invoke: Invoke, peer: Peer, tried: Set<string>): Effect.Effect<Reply> => {
      tried.add(peer.id)
      const next = (rest: Invoke, reply: Reply): Effect.Effect<Reply> => {
        const other = tried.size > retriesElsewhere ? undefined : table.pick(rest.capability, rest.range, tried)
        return other === undefined ? Effect.succeed(reply) : forward(rest, other, tried)
      }
      const dial = dialFor(peer.address)
      const startedAt = now()
      peer.forwarding++
      return callAfter(dial.connection, invoke, (error, rest) => next(rest, failureOf(invoke.id, error))).pipe(
        Effect.ensuring(Effect.sync(() => void peer.forwarding--)),
        Effect.flatMap((reply) => {
          if (!goesElsewhere(reply, false)) return Effect.succeed(reply)
          const left = invoke.timeoutMs - (now() - startedAt)
          return left <= 0 ? Effect.succeed(reply) : next({ ...invoke, timeoutMs: left }, reply)
        }),
      )
    }

    /** This controller first (its summary read now), then each peer as its deltas describe it. */
    const controllers = (): ReadonlyArray<FederatedController> => {
      const at = now()
      const capabilitiesOf = (entries: Iterable<SummaryEntry>) =>
        [...entries].map(({ capability, version, workers, inFlight, maxInFlight }) => ({ id: capability, version, workers, inFlight, maxInFlight }))
      const self: FederatedController = {
        id,
        address: listenerAddress ?? "",
        self: true,
        alive: true,
        synced: true,
        lastHeardAt: at,
        capabilities: capabilitiesOf(joined === undefined ? [] : summaryOf(joined.workers()).values()).sort(
          (x, y) => x.id.localeCompare(y.id) || x.version.localeCompare(y.version),
        ),
      }
      const peers = table.views().map((peer) => ({
        id: peer.id,
        address: peer.address,
        alive: at - peer.lastHeardAt <= staleAfterMs,
        synced: peer.synced,
        lastHeardAt: peer.lastHeardAt,
        capabilities: capabilitiesOf(peer.capabilities),
      }))
      return [self, ...peers]
    }

    const elsewhere: Elsewhere = {
      controllers,
      relay: (invoke) => {
        if (isForwarded(invoke)) return undefined
        const peer = table.pick(invoke.capability, invoke.range)
        return peer === undefined ? undefined : forward(invoke, peer, new Set())
      },
      relayStream: (invoke) => {
        if (isForwarded(invoke)) return undefined
        const peer = table.pick(invoke.capability, invoke.range)
        if (peer === undefined) return undefined
        peer.forwarding++
        // Never retried elsewhere once it runs, as in the controller: items may have reached the caller.
        return Stream.unwrap(Effect.map(dialFor(peer.address).connection, (connection) => connection.stream(invoke))).pipe(
          Stream.ensuring(Effect.sync(() => void peer.forwarding--)),
        )
      },
    }

    /** The listener peers forward to: requests go to this controller's local workers only (marked, never forwarded). */
    const acceptForwarded =
      (controller: Controller) =>
      (connection: Connection): Handlers => {
        const mark = `${forwardedMark}${connection.id}/`
        return {
          onMessage: () => {},
          onClose: () => {},
          serve: (invoke) => Effect.map(controller.serve({ ...invoke, id: mark + invoke.id }), (reply) => ({ ...reply, id: invoke.id })),
          serveStream: (invoke) => controller.serveStream({ ...invoke, id: mark + invoke.id }),
        }
      }

    // ---- joining

    const sendDelta = (controller: Controller | undefined): Effect.Effect<void> =>
      Effect.sync(() => {
        const next: Summary = controller === undefined ? new Map() : summaryOf(controller.workers())
        const changes = diffSummaries(published, next)
        if (changes.length === 0) return
        published = next
        seq++
        publish(deltaSubject(prefix), { _tag: "Delta", from: id, run, seq, changes })
      })

    const sweep = Effect.sync(() => {
      for (const dropped of table.sweep(now(), staleAfterMs)) {
        runBeside(Effect.logInfo(`federation ${id}: controller ${dropped} went silent for ${staleAfterMs} ms; its routes are dropped`))
      }
      // Links to addresses no live peer has any more are closed.
      const live = new Set(table.views().map((peer) => onOwnServer(peer.address)))
      for (const [address, dial] of dials) {
        if (!live.has(address) && !dial.dialling()) {
          dial.release()
          dials.delete(address)
        }
      }
    })

    const join = (controller: Controller): Effect.Effect<string, TransportError, Scope.Scope> =>
      Effect.gen(function* () {
        const listener = yield* transport.listen(`${natsServer}/controller-${id}`, acceptForwarded(controller))
        listenerAddress = listener.address
        joined = controller
        const subscriptions: Array<Subscription> = [
          nc.subscribe(aliveSubject(prefix), { callback: onPeerMessage }),
          nc.subscribe(deltaSubject(prefix), { callback: onPeerMessage }),
          nc.subscribe(snapshotSubject(prefix, id), { callback: onSnapshotRequest }),
        ]
        // Leaving: one last delta removes every route this controller announced, before its Alives stop.
        yield* Effect.addFinalizer(() =>
          Effect.andThen(
            sendDelta(undefined),
            Effect.promise(() =>
              nc
                .flush()
                .catch(() => undefined)
                .finally(() => {
                  for (const subscription of subscriptions) subscription.unsubscribe()
                }),
            ),
          ),
        )
        const alive = Effect.sync(() => publish(aliveSubject(prefix), { _tag: "Alive", from: id, run, address: listener.address, seq }))
        yield* Effect.forkScoped(Effect.repeat(Effect.andThen(alive, sweep), Schedule.spaced(heartbeatIntervalMs)))
        yield* Effect.forkScoped(Effect.repeat(sendDelta(controller), Schedule.spaced(deltaIntervalMs)))
        yield* Effect.logInfo(`federation ${id}: joined on ${options.nats}, forwarding listener ${listener.address}`)
        return listener.address
      })

    return {
      controllerId: id,
      elsewhere,
      join,
      address: () => listenerAddress,
      peers: () => table.views(),
      traffic: () => ({ sent: { ...traffic.sent }, received: { ...traffic.received } }),
    }
  })
