/**
 * The controller actor: a thin shell around the registry (Registry.ts, pure), the relay (routing a request to a
 * worker, with the one retry policy of retryPolicy.ts) and a rate limit per connection (rateLimit.ts).
 *
 * Control traffic (register, heartbeat, drain, deregister, disconnects, sweeps) goes through one mailbox and is
 * handled by one fiber, so the registry has a single writer; each step's commands (send, close, publish) are
 * carried out here. Requests do not queue behind it: `serve` picks a worker and relays in the caller's fiber.
 * Every fiber it starts lives in its scope, and its time is Effect's `Clock`.
 *
 * Who may do what is decided per connection from the identity its certificate proves (`Connection.peer`), by
 * authorization.ts, before a request is relayed or a registration reaches the registry; with a CA (`signer`) the
 * controller also signs certificates (`certificate.sign_csr`, certificateSigning.ts) and revokes them
 * (`crank.revoke`, revocation.ts). Every refusal is typed, counted by reason and logged (docs/security.md).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Catalog } from "../capabilities/Catalog.ts"
import { type CrankError, crankError } from "../capabilities/CrankError.ts"
import { CrankDrain, CrankRevoke, type FederatedController } from "../capabilities/crank.ts"
import { declaredError } from "../capabilities/declaredError.ts"
import { noWorkerMessage } from "../capabilities/noWorkerMessage.ts"
import { complaintOf, failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import { CloseCodes, type Connection, type Handlers, type HttpHandler, Transport, type TransportError } from "../transports/Transport.ts"
import { defaultLeafLifetimeMs } from "../trust/CertificateAuthority.ts"
import type { Identity } from "../trust/identity.ts"
import { type AccessMode, actionOf, Caller, certificateCapabilityId, refusalOf } from "./authorization.ts"
import { callWithin } from "./callWithin.ts"
import { identityKey, type SigningAuthority, signingImplementation } from "./certificateSigning.ts"
import type { Implementation } from "./Implementation.ts"
import { type Command, type Occurrence, type RefusalReason, Registry, type Route, type WorkerRecord } from "./Registry.ts"
import * as RequestServer from "./RequestServer.ts"
import { FixedWindow } from "./rateLimit.ts"
import { retriesElsewhere, retryOf } from "./retryPolicy.ts"
import { Revocations, revokeImplementation } from "./revocation.ts"
import type { Choice } from "./routing/strategy.ts"
import { systemImplementations } from "./systemCapabilities.ts"
import { type Timings, Tunable } from "./Tunables.ts"
import type { LifecycleTransition, WorkerView } from "./WorkerView.ts"

export type { Route } from "./Registry.ts"
export type { LifecycleTransition, WorkerView } from "./WorkerView.ts"

export interface ControllerOptions {
  /** Where to listen, e.g. `memory://controller` or `ws://127.0.0.1:7070`; the first is the one it advertises. */
  readonly addresses: ReadonlyArray<string>
  /** When set, `Register` must carry this token or is refused with `UNAUTHORIZED`. */
  readonly token?: string
  /**
   * Who may do what (actors/authorization.ts): `open` (default: one process, or `--insecure`), or `certificates`:
   * each connection what its certificate's role allows, and a connection without one only `certificate.sign_csr`.
   */
  readonly access?: AccessMode
  /** The CA and join tokens `certificate.sign_csr` signs with; without it the controller signs nothing. */
  readonly signer?: SigningAuthority
  /** More capabilities the controller serves itself, beside `crank.status`, `crank.drain` and `crank.routes`. */
  readonly implementations?: ReadonlyArray<Implementation>
  /**
   * Where a request goes when no local worker can serve it (a federation of controllers): the reply, or
   * `undefined` when nobody elsewhere serves it either (then `NO_WORKER`). Local workers always come first.
   */
  readonly elsewhere?: Elsewhere
  /** Plain HTTP on its listeners' ports (the dashboard), built once the controller exists. */
  readonly http?: (controller: Controller) => Effect.Effect<HttpHandler, never, Scope.Scope>
}

/** Other controllers' workers, for requests no local worker serves (a federation, actors/Federation.ts). */
export interface Elsewhere {
  readonly relay: (invoke: Invoke) => Effect.Effect<Reply> | undefined
  readonly relayStream: (invoke: Invoke) => Stream.Stream<unknown, CrankError> | undefined
  /** The controllers elsewhere and what they serve, for `crank.status`. */
  readonly controllers?: () => ReadonlyArray<FederatedController>
}

export interface Controller {
  /** The address workers and clients dial. */
  readonly address: string
  readonly timings: Timings
  readonly workers: () => ReadonlyArray<WorkerView>
  readonly worker: (id: string) => WorkerView | undefined
  /** Every capability advertised by a live worker, with its workers. */
  readonly descriptors: () => Catalog
  /** Asks a worker to drain: no new work is routed to it, in-flight finishes, then it deregisters. */
  readonly drain: (workerId: string, deadlineMs?: number) => Effect.Effect<void, CrankError>
  /** Lifecycle transitions as they happen; a slow subscriber loses the oldest, never blocks the controller. */
  readonly transitions: PubSub.PubSub<LifecycleTransition>
  /** Healthy workers that can be dialled, with what they serve: the table clients route with. */
  readonly routes: () => ReadonlyArray<Route>
  /**
   * True for one heartbeat interval after the controller started: its registry is filling up as workers
   * (re-)register, so clients keep the routes they had (a restarted controller must not empty their tables).
   */
  readonly recovering: () => boolean
  /** Peers refused so far, by reason (limits, token, rate, silence): `crank_refusals_total` in /metrics. */
  readonly refusals: () => ReadonlyMap<RefusalReason, number>
  /**
   * Counts and logs a refusal decided outside the controller (its transport refused a TLS handshake or a browser
   * origin): `remoteAddress` and `detail` go to the log.
   */
  readonly refused: (reason: RefusalReason, remoteAddress: string, detail: string) => void
  /** Picks a worker and relays `invoke` to it: the data path for callers that cannot dial workers. */
  readonly serve: (invoke: Invoke) => Effect.Effect<Reply>
  /** Picks a worker and relays a streaming `invoke` to it (a federation's forwarded streams). */
  readonly serveStream: (invoke: Invoke) => Stream.Stream<unknown, CrankError>
}

type Mail = Occurrence<Connection>

/** Capabilities the controller answers itself: its `crank.*` and `certificate.sign_csr`. */
const isSystem = (capability: string): boolean => capability.startsWith("crank.") || capability === certificateCapabilityId

/** The host of a network peer's address (`ws://10.0.0.7:51234` → `10.0.0.7`); in-memory peers have none. */
/**
 * The relay's routing choice for a request: what the request itself carries (a placement, the caller's strategy,
 * affinity key and node); none, the capability's own strategy with no allocation.
 */
const choiceOf = (invoke: Invoke): Choice | undefined => {
  const route = invoke.route
  if (route === undefined && invoke.placement === undefined) return undefined
  return { strategy: route?.strategy, key: route?.key, node: route?.node, placement: invoke.placement }
}

const hostOf = (address: string): string | undefined => {
  const match = /^[a-z]+:\/\/(\[[^\]]*\]|[^:/]*)/.exec(address)
  return match === null || address.startsWith("memory:") ? undefined : match[1]
}

/**
 * Starts a controller listening at `options.addresses`, on the `Transport` in its context. It stops, closing
 * every connection, when the scope closes.
 *
 * @example
 * ```ts
 * const controller = yield* Controller.make({ addresses: ["memory://controller"] })
 * ```
 */
export const make = (options: ControllerOptions): Effect.Effect<Controller, TransportError, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const clock = yield* Clock.Clock
    const timings: Timings = {
      heartbeatIntervalMs: yield* Tunable.heartbeatIntervalMs,
      staleAfterMs: yield* Tunable.staleAfterMs,
      evictAfterMs: yield* Tunable.evictAfterMs,
    }
    const drainDeadlineMs = yield* Tunable.drainDeadlineMs
    const maxControlMessagesPerSecond = yield* Tunable.maxControlMessagesPerSecond
    const registry = new Registry<Connection>({
      ...timings,
      token: options.token,
      access: options.access,
      transitionHistory: yield* Tunable.transitionHistory,
      maxCapabilitiesPerWorker: yield* Tunable.maxCapabilitiesPerWorker,
      maxIdLength: yield* Tunable.maxIdLength,
      maxTextLength: yield* Tunable.maxTextLength,
      maxDescriptorBytes: yield* Tunable.maxDescriptorBytes,
    })
    const registerDeadlineMs = yield* Tunable.registerDeadlineMs
    const maxConnectionsPerHost = yield* Tunable.maxConnectionsPerHost
    /** Open connections by remote host (network transports only): one host cannot hold every slot. */
    const perHost = new Map<string, number>()
    // The relay's breaker per worker, from the tunables (a `Registry` alone uses their defaults).
    registry.breakerOptions = { failures: yield* Tunable.breakerFailures, coolDownMs: yield* Tunable.breakerCoolDownMs }
    const mailbox = yield* Queue.unbounded<Mail>()
    const transitions = yield* PubSub.sliding<LifecycleTransition>(4_096)
    // Closes and refusals run beside the mailbox, in the controller's scope: a peer slow to close never stalls it.
    const runBeside = yield* FiberSet.makeRuntime<never, void, never>()

    const access = options.access ?? "open"
    /** Open connections by the identity their certificate proves: an id in use is not signed for another process. */
    const identities = new Map<string, Set<Connection>>()
    const revocations = options.signer?.revocations ?? (yield* Effect.orDie(Revocations.open(undefined)))
    const isRevoked = (identity: Identity): boolean => revocations.isRevoked(identity, clock.currentTimeMillisUnsafe())

    /** Logs a refusal as it happens: who, and why (the peer reads the same reason). */
    const logRefusal = (connection: Connection, reason: string): Effect.Effect<void> =>
      Effect.logWarning(
        `controller: refused ${connection.remoteAddress}${connection.peer === undefined ? "" : ` (${connection.peer.role} ${connection.peer.id})`}: ${reason}`,
      )

    const perform = (command: Command<Connection>): void => {
      switch (command._tag) {
        case "Send":
          runBeside(Effect.ignore(command.connection.send(command.message)))
          return
        case "Close":
          runBeside(command.connection.close(command.info))
          return
        case "Published":
          PubSub.publishUnsafe(transitions, command.transition)
          return
      }
    }

    /**
     * A step's commands, in order, in the mailbox's own fiber: sends are writes that never wait (an acknowledgement
     * per heartbeat costs no fiber of its own), closes run beside it (a close waits for the peer's handshake).
     */
    const carryOut = (command: Command<Connection>): Effect.Effect<void> => {
      switch (command._tag) {
        case "Send":
          return Effect.ignore(command.connection.send(command.message))
        case "Close": {
          const close = Effect.sync(() => void runBeside(command.connection.close(command.info)))
          // The registry closes with 1008 only to refuse (a token, a certificate, an id taken, a limit): say so.
          return command.info.code === CloseCodes.policyViolation ? Effect.andThen(logRefusal(command.connection, command.info.reason), close) : close
        }
        case "Published":
          return Effect.sync(() => void PubSub.publishUnsafe(transitions, command.transition))
      }
    }
    const handle = (mail: Mail): Effect.Effect<void> =>
      Effect.suspend(() => {
        const commands = registry.step(mail, clock.currentTimeMillisUnsafe())
        return commands.length === 1 ? carryOut(commands[0]!) : Effect.forEach(commands, carryOut, { discard: true })
      })
    // One item that breaks must not stop the control plane: log it and go on with the next.
    const handleSafely = (mail: Mail): Effect.Effect<void> =>
      Effect.catchCause(handle(mail), (cause) =>
        Effect.logError(`controller: handling ${mail._tag === "Message" ? mail.message._tag : mail._tag} failed`, cause),
      )
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(mailbox), handleSafely)))
    // On shutdown, handle what is already in the mailbox (a worker's last Deregister, say) before stopping.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(function flush(): Effect.Effect<void> {
        const next = Queue.takeUnsafe(mailbox)
        return next === undefined || next._tag !== "Success" ? Effect.void : Effect.andThen(handleSafely(next.value), Effect.suspend(flush))
      }),
    )
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.sync(() => Queue.offerUnsafe(mailbox, { _tag: "Sweep" })),
        Schedule.spaced(registry.sweepEveryMs),
      ),
    )

    /**
     * Tries `invoke` on `worker`, then elsewhere while the retry policy allows and a worker is left. Each attempt's
     * outcome feeds the worker's breaker and latency average before any retry, so the retry skips a worker whose
     * breaker that failure opened.
     */
    const relayTo = (invoke: Invoke, worker: WorkerRecord<Connection>, startedAt: number, retriesLeft: number): Effect.Effect<Reply> => {
      const sentAt = clock.currentTimeMillisUnsafe()
      worker.pending++
      return Effect.flatMap(Effect.ensuring(callWithin(worker.connection, invoke), worker.settle), (reply) => {
        const now = clock.currentTimeMillisUnsafe()
        registry.record(worker, reply, now - sentAt, now)
        if (retriesLeft === 0) return Effect.succeed(reply)
        const again = retryOf(invoke, reply, worker.idempotent(invoke.capability), startedAt, now)
        const next = again === undefined ? undefined : registry.pick(invoke.capability, invoke.range, worker, now, choiceOf(invoke))
        return next === undefined ? Effect.succeed(reply) : relayTo(again!, next, startedAt, retriesLeft - 1)
      })
    }

    const relay = (invoke: Invoke): Effect.Effect<Reply> =>
      Effect.suspend(() => {
        const worker = registry.pick(invoke.capability, invoke.range, undefined, clock.currentTimeMillisUnsafe(), choiceOf(invoke))
        // The failure path only builds a message: it walks the registry, which routing never does.
        if (worker === undefined) return options.elsewhere?.relay(invoke) ?? Effect.succeed(failureOf(invoke.id, noWorkerFor(invoke)))
        return relayTo(invoke, worker, clock.currentTimeMillisUnsafe(), retriesElsewhere)
      })

    /** Why no worker serves `invoke`: built only on the failure path, as it walks the registry, which routing never does. */
    const noWorkerFor = (invoke: Invoke): CrankError => {
      const message = noWorkerMessage(invoke.capability, invoke.range, registry.offers())
      return crankError(
        "NO_WORKER",
        invoke.placement === undefined ? message : `${message} (the call asks for a worker offering ${JSON.stringify(invoke.placement)})`,
      )
    }

    /**
     * A streaming request, relayed to one worker: its items flow back through here with the worker's credit and
     * the caller's, so a slow caller slows the worker down. Never retried elsewhere: items may have reached the caller.
     */
    const relayStream = (invoke: Invoke): Stream.Stream<unknown, CrankError> =>
      Stream.suspend(() => {
        const worker = registry.pick(invoke.capability, invoke.range, undefined, clock.currentTimeMillisUnsafe(), choiceOf(invoke))
        if (worker === undefined) return options.elsewhere?.relayStream(invoke) ?? Stream.fail(noWorkerFor(invoke))
        worker.pending++
        return Stream.ensuring(worker.connection.stream(invoke), worker.settle)
      })

    const drain = (workerId: string, deadlineMs = drainDeadlineMs): Effect.Effect<void, CrankError> =>
      registry.has(workerId)
        ? Effect.sync(() => void Queue.offerUnsafe(mailbox, { _tag: "DrainRequested", workerId, deadlineMs }))
        : Effect.fail(declaredError(CrankDrain, "UNKNOWN_WORKER", `the controller knows no worker ${workerId}`))

    // Serving needs the system capabilities, which read the controller: the object comes first, its address is
    // the bound one once listening (port 0 asks for a free port).
    const recoveringUntil = clock.currentTimeMillisUnsafe() + timings.heartbeatIntervalMs
    const controller: { -readonly [K in keyof Controller]: Controller[K] } = {
      address: options.addresses[0] ?? "",
      timings,
      workers: () => registry.workers(),
      worker: (id) => registry.worker(id),
      descriptors: () => registry.catalog(),
      drain,
      routes: () => registry.routes(),
      recovering: () => clock.currentTimeMillisUnsafe() < recoveringUntil,
      refusals: () => registry.refusals(),
      refused: (reason, remoteAddress, detail) => {
        registry.refuse(reason, undefined)
        runBeside(Effect.logWarning(`controller: refused ${remoteAddress} (${reason}): ${detail}`))
      },
      transitions,
      serve: (invoke) => (isSystem(invoke.capability) ? system.serve(invoke) : relay(invoke)),
      serveStream: (invoke) => relayStream(invoke),
    }
    const inUse = (identity: Identity): boolean => (identities.get(identityKey(identity))?.size ?? 0) > 0
    /** Closes every connection presenting `identity` (a revocation), each told why. */
    const closeIdentity = (identity: Identity, reason: string): number => {
      const open = [...(identities.get(identityKey(identity)) ?? [])]
      for (const connection of open) refuse(connection, "revoked", "FORBIDDEN", reason)
      return open.length
    }
    const system = RequestServer.make({
      workerId: "controller",
      implementations: [
        ...systemImplementations(controller, yield* Clock.currentTimeMillis, options.elsewhere?.controllers),
        ...(options.signer === undefined
          ? []
          : [
              signingImplementation(options.signer, inUse, isRevoked),
              revokeImplementation(revocations, options.signer.lifetimeMs ?? defaultLeafLifetimeMs, closeIdentity),
            ]),
        ...(options.implementations ?? []),
      ],
      maxInFlight: yield* Tunable.maxInFlightPerWorker,
      clock,
    })

    /** Refuses a peer: the complaint it can read, then a close with the reason; counted in /metrics. */
    const refuse = (connection: Connection, why: RefusalReason, code: "BAD_FRAME" | "LIMIT_EXCEEDED" | "FORBIDDEN", reason: string): void => {
      registry.refuse(why, undefined)
      runBeside(logRefusal(connection, `${code} ${reason}`))
      perform({ _tag: "Send", connection, message: complaintOf(crankError(code, reason)) })
      perform({ _tag: "Close", connection, info: { code: CloseCodes.policyViolation, reason } })
    }

    /**
     * A request from `connection`, if its certificate allows it (actors/authorization.ts): system capabilities
     * answered here with the caller's identity at hand (`Caller`), the rest relayed. A refusal, and a join or renewal
     * refused by the signer, is counted and logged; the connection stays open for what it may do.
     */
    const serveFrom = (connection: Connection, invoke: Invoke, relayed: (invoke: Invoke) => Effect.Effect<Reply>): Effect.Effect<Reply> => {
      const denied = refusalOf(access, connection.peer, actionOf(invoke.capability))
      if (denied !== undefined) return Effect.as(refusedRequest(connection, denied), failureOf(invoke.id, denied))
      if (!isSystem(invoke.capability)) return relayed(invoke)
      if ((invoke.capability === certificateCapabilityId || invoke.capability === CrankRevoke.id) && options.signer === undefined) {
        return Effect.succeed(
          failureOf(invoke.id, crankError("NO_WORKER", `this controller has no CA (it runs with --insecure): it neither signs nor revokes certificates`)),
        )
      }
      const answer = system.answer(invoke).pipe(Effect.provideService(Caller, { peer: connection.peer }))
      return invoke.capability !== certificateCapabilityId
        ? answer
        : Effect.tap(answer, (reply) =>
            reply._tag === "Failure" && (reply.code === "UNAUTHORIZED" || reply.code === "FORBIDDEN")
              ? refusedRequest(connection, crankError(reply.code, reply.message))
              : Effect.void,
          )
    }

    /** Counts and logs a refused request. */
    const refusedRequest = (connection: Connection, error: CrankError): Effect.Effect<void> =>
      Effect.suspend(() => {
        registry.refuse(error.code === "FORBIDDEN" ? "forbidden" : "unauthorized", undefined)
        return logRefusal(connection, `${error.code} ${error.message}`)
      })

    const accept = (connection: Connection): Handlers => {
      const limit = new FixedWindow(maxControlMessagesPerSecond, 1_000)
      const peer = connection.peer
      if (peer !== undefined && isRevoked(peer)) {
        // A revoked certificate still passes TLS until it expires: refused here, every request with it.
        const revoked = crankError("FORBIDDEN", `the certificate of ${peer.role} ${peer.id} was revoked`)
        refuse(connection, "revoked", "FORBIDDEN", revoked.message)
        return {
          onMessage: () => {},
          onClose: () => {},
          serve: (invoke) => Effect.succeed(failureOf(invoke.id, revoked)),
          serveStream: () => Stream.fail(revoked),
        }
      }
      const identity = peer === undefined ? undefined : identityKey(peer)
      if (identity !== undefined) identities.set(identity, (identities.get(identity) ?? new Set()).add(connection))
      const host = hostOf(connection.remoteAddress)
      const fromHost = host === undefined ? 0 : (perHost.get(host) ?? 0) + 1
      if (host !== undefined) perHost.set(host, fromHost)
      if (fromHost > maxConnectionsPerHost) {
        refuse(connection, "host", "LIMIT_EXCEEDED", `more than ${maxConnectionsPerHost} connections from ${host}`)
      }
      // A connection that neither registers nor asks anything is closed: idle sockets cannot pile up.
      let active = false
      runBeside(
        Effect.sleep(registerDeadlineMs).pipe(
          Effect.andThen(
            Effect.sync(() => {
              if (!active && connection.isOpen())
                refuse(connection, "silent", "BAD_FRAME", `no Register and no request within ${registerDeadlineMs} ms of connecting`)
            }),
          ),
        ),
      )
      // Ids are the caller's own: two callers may pick the same one, so relayed requests get a prefix that is
      // unique per connection before they share a worker's link, and lose it on the way back.
      const prefix = `${connection.id}/`
      return {
        onMessage: (message) => {
          active = true
          const verdict = limit.take(clock.currentTimeMillisUnsafe())
          if (verdict === "ok") return void Queue.offerUnsafe(mailbox, { _tag: "Message", connection, message })
          if (verdict === "overFirst") refuse(connection, "rate", "BAD_FRAME", `more than ${maxControlMessagesPerSecond} control messages in a second`)
        },
        onClose: () => {
          if (identity !== undefined) {
            const open = identities.get(identity)
            open?.delete(connection)
            if (open?.size === 0) identities.delete(identity)
          }
          if (host !== undefined) {
            const left = (perHost.get(host) ?? 1) - 1
            if (left === 0) perHost.delete(host)
            else perHost.set(host, left)
          }
          // Stop routing to it now; the mailbox records the lifecycle change in turn.
          registry.unroute(connection)
          Queue.offerUnsafe(mailbox, { _tag: "Closed", connection })
        },
        serve: (invoke) => {
          active = true
          return serveFrom(connection, invoke, (invoke) => Effect.map(relay({ ...invoke, id: prefix + invoke.id }), (reply) => ({ ...reply, id: invoke.id })))
        },
        serveStream: (invoke) => {
          active = true
          const denied = refusalOf(access, connection.peer, actionOf(invoke.capability))
          if (denied !== undefined) return Stream.fromEffect(Effect.andThen(refusedRequest(connection, denied), Effect.fail(denied)))
          return relayStream({ ...invoke, id: prefix + invoke.id })
        },
      }
    }

    const http = options.http === undefined ? undefined : yield* options.http(controller)
    const [first, ...rest] = options.addresses
    if (first === undefined) return yield* Effect.die(new Error("a controller needs an address to listen on"))
    const listener = yield* transport.listen(first, accept, http === undefined ? {} : { http })
    for (const extra of rest) yield* transport.listen(extra, accept, http === undefined ? {} : { http })
    controller.address = listener.address
    return controller
  })
