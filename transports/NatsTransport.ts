/**
 * The NATS transport: Crank connections through a NATS server (`nats-server`), over `@nats-io/transport-node`.
 *
 * An address is `nats://host:port/<name>`: the server, and the name of a listener on it (one subject token,
 * `[A-Za-z0-9_-]`). `listen` takes the name: it asks first whether anyone answers on the name's subject
 * (`<prefix>.listen.<name>`; someone does: `ListenFailed`, address in use), then subscribes to it in a queue group of
 * the same name. `listen("nats://host:port")` with no name takes a fresh one, as port 0 does for sockets. `connect`
 * is a NATS request on that subject carrying the dialler's own subject; the listener subscribes a subject for its
 * end, accepts the connection and answers with it. From then on each end publishes to the other's subject
 * (`natsConnection.ts`): the same envelopes, multiplexing, streams and close codes as the WebSocket transport, and
 * one-way messages in order because NATS keeps one publisher's order on one subject. No responders on the name's
 * subject: `ConnectFailed`, nothing listens there.
 *
 * A transport keeps one NATS client per server, shared by all its listeners and connections (`natsClient.ts`). The
 * limits are in `natsLimits.ts`; the subjects and control frames in `natsProtocol.ts`. docs/nats.md has the whole
 * mapping, the figures and the limits.
 *
 * The NATS server is trusted: anyone who may publish on it may publish to a connection's subject if they learn it,
 * so a shared server needs NATS's own users and permissions (docs/nats.md). `Connection.peer` is never set: NATS
 * proves no Crank identity.
 */

import { type Msg, type NodeConnectionOptions, nuid } from "@nats-io/transport-node"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { messageOf } from "../capabilities/CrankError.ts"
import { urlOf } from "./address.ts"
import { Keepalive } from "./keepalive.ts"
import { isNoResponders, type NatsClient, NatsClientPool } from "./natsClient.ts"
import { NatsConnection, type NatsSite } from "./natsConnection.ts"
import { type NatsLimits, natsLimitsWith } from "./natsLimits.ts"
import {
  connectionSubject,
  decodeHandshakeReply,
  decodeHandshakeRequest,
  defaultSubjectPrefix,
  encodeJson,
  type HandshakeReply,
  handshakeVersion,
  isConnectionSubject,
  listenerNamePattern,
  listenSubject,
  subjectPrefixPattern,
} from "./natsProtocol.ts"
import { CloseCodes, type Connection, type Handlers, type Listener, Transport, TransportError } from "./Transport.ts"

export { defaultNatsLimits, type NatsLimits } from "./natsLimits.ts"

export interface NatsTransportOptions extends Partial<NatsLimits> {
  /** The first token(s) of every subject the transport uses. Default `crank`. */
  readonly subjectPrefix?: string
  /**
   * Options for the NATS client (credentials, TLS, reconnect policy, its name on the server's monitoring pages);
   * the server comes from each address. Defaults that differ from the client's own: `name` "crank",
   * `maxReconnectAttempts` -1 (forever), `pingInterval` the transport's `pingIntervalMs` (at least 1 s).
   */
  readonly nats?: Omit<NodeConnectionOptions, "servers" | "port">
}

export interface NatsTransport extends Transport {
  /** The limits in force: the defaults with this transport's overrides. */
  readonly limits: NatsLimits
}

interface ParsedAddress {
  /** `host:port` for the NATS client; IPv6 literals keep their brackets. */
  readonly server: string
  /** The listener's name; empty when the address has none. */
  readonly name: string
}

const parseAddress = (address: string): ParsedAddress | TransportError => {
  const url = urlOf(address, ["nats"])
  if (url instanceof TransportError) return url
  if (url.hostname === "") return new TransportError({ reason: "UnsupportedAddress", address, message: `no NATS server in ${address}` })
  const name = url.pathname.replace(/^\/+/, "")
  if (name !== "" && !listenerNamePattern.test(name)) {
    return new TransportError({
      reason: "UnsupportedAddress",
      address,
      message: `listener name ${JSON.stringify(name)} in ${address} must be 1 to 128 letters, digits, '-' or '_'`,
    })
  }
  return { server: `${url.hostname}:${url.port === "" ? 4222 : url.port}`, name }
}

/** Time for the bad-frame window: Effect's `Clock` of the scope that listened or dialled (a `TestClock` in tests). */
const clockOf = (context: Context.Context<never>): (() => number) => {
  const clock = Context.get(context, Clock.Clock)
  return () => clock.currentTimeMillisUnsafe()
}

/**
 * Makes a NATS transport. Each call has its own limits, keepalive timer and NATS clients; listeners and
 * connections are owned by the scopes `listen` and `connect` run in.
 *
 * @example
 * ```ts
 * const transport = NatsTransport.make({ pingIntervalMs: 5_000 })
 * const listener = yield* transport.listen("nats://127.0.0.1:4222/controller", (conn) => handlers)
 * const conn = yield* transport.connect(listener.address, (conn) => clientHandlers)
 * const reply = yield* conn.call(invoke)
 * ```
 */
export const make = (options: NatsTransportOptions = {}): NatsTransport => {
  const limits = natsLimitsWith(options)
  const prefix = options.subjectPrefix ?? defaultSubjectPrefix
  if (!subjectPrefixPattern.test(prefix)) throw new RangeError(`NATS subjectPrefix must be dot-separated tokens of letters, digits, '-' or '_': ${prefix}`)
  const keepalive = new Keepalive(limits.pingIntervalMs)
  const pool = new NatsClientPool(
    {
      name: "crank",
      // A listener must outlive an outage of any length: its subscription comes back with the client.
      maxReconnectAttempts: -1,
      // The client's own pings check the server link on the cadence ours check the peers (NATS's default is 2
      // minutes), but not under a second: two missed in a row drop every connection, and a busy event loop must not.
      ...(limits.pingIntervalMs > 0 ? { pingInterval: Math.max(1_000, limits.pingIntervalMs) } : {}),
      ...options.nats,
    },
    limits.connectTimeoutMs,
    limits.closeTimeoutMs,
  )

  /** The pool's client for the address's server, released when the scope closes. */
  const clientFor = (server: string, address: string, reason: "ListenFailed" | "ConnectFailed") =>
    Effect.acquireRelease(
      pool
        .acquire(server)
        .pipe(Effect.mapError((error) => new TransportError({ reason, address, message: `cannot reach the NATS server at ${server}: ${error.message}` }))),
      (client) => pool.release(client),
    )

  const listen: Transport["listen"] = (address, accept) =>
    Effect.gen(function* () {
      const parsed = parseAddress(address)
      if (parsed instanceof TransportError) return yield* parsed
      const context = yield* Effect.context<never>()
      const client = yield* clientFor(parsed.server, address, "ListenFailed")
      const name = parsed.name === "" ? `anonymous-${nuid.next()}` : parsed.name
      const listener = new NatsListener(`nats://${parsed.server}/${name}`, listenSubject(prefix, name), prefix, accept, {
        limits,
        client,
        run: Effect.runForkWith(context),
        keepalive,
        clock: clockOf(context),
        connections: new Set(),
      })
      return yield* Effect.acquireRelease(listener.start, () => listener.close)
    })

  const connect: Transport["connect"] = (address, handlers) =>
    Effect.gen(function* () {
      const parsed = parseAddress(address)
      if (parsed instanceof TransportError) return yield* parsed
      if (parsed.name === "") {
        return yield* new TransportError({ reason: "UnsupportedAddress", address, message: `${address} names no listener: nats://host:port/<name>` })
      }
      const context = yield* Effect.context<never>()
      const client = yield* clientFor(parsed.server, address, "ConnectFailed")
      const site: NatsSite = { limits, client, run: Effect.runForkWith(context), keepalive, clock: clockOf(context), connections: undefined }
      return yield* Effect.acquireRelease(
        dial(address, listenSubject(prefix, parsed.name), prefix, site, handlers),
        (connection) => connection.close({ code: CloseCodes.normal, reason: "client scope closed" }),
        { interruptible: true },
      )
    })

  return { schemes: ["nats"], limits, listen, connect }
}

/** A NATS transport as the `Transport` service. */
export const layer = (options: NatsTransportOptions = {}): Layer.Layer<Transport> => Layer.sync(Transport, () => make(options))

/** A listener: the subscription on its name's subject, and the connections it accepted. */
class NatsListener implements Listener {
  private subscription: { unsubscribe(): void; isClosed(): boolean } | undefined = undefined
  private closing = false

  constructor(
    readonly address: string,
    private readonly subject: string,
    private readonly prefix: string,
    private readonly accept: (connection: Connection) => Handlers,
    private readonly site: NatsSite & { readonly connections: Set<NatsConnection> },
  ) {}

  private get client(): NatsClient {
    return this.site.client
  }

  private failed(message: string): TransportError {
    return new TransportError({ reason: "ListenFailed", address: this.address, message })
  }

  /** Takes the name: refused when someone answers on its subject already; subscribed and flushed otherwise. */
  readonly start: Effect.Effect<NatsListener, TransportError> = Effect.gen({ self: this }, function* () {
    const taken = yield* Effect.promise(async () => {
      try {
        const reply = await this.client.nc.request(this.subject, encodeJson({ _tag: "Probe" }), { timeout: this.site.limits.connectTimeoutMs })
        const answer = decodeHandshakeReply(reply.data)
        return typeof answer !== "string" && answer._tag === "Listening"
          ? `address in use: ${this.address} (a listener answers on ${this.subject})`
          : `address in use: ${this.address} (something that is not a Crank listener answers on ${this.subject})`
      } catch (error) {
        return isNoResponders(error) ? undefined : `cannot tell whether ${this.address} is free: ${this.subject} did not answer (${messageOf(error)})`
      }
    })
    if (taken !== undefined) return yield* this.failed(taken)
    try {
      this.subscription = this.client.nc.subscribe(this.subject, { queue: this.subject, callback: this.onRequest })
    } catch (error) {
      return yield* this.failed(`cannot subscribe to ${this.subject}: ${messageOf(error)}`)
    }
    // Once the server has the subscription, a connect from any other client finds it.
    yield* this.client.flushWithin(this.site.limits.connectTimeoutMs)
    return this
  })

  /** A connect request or a probe on the name's subject. */
  private readonly onRequest = (error: Error | null, msg: Msg): void => {
    if (error !== null) return void this.site.run(Effect.logError(`listener ${this.address}: subscription failed`, error))
    if (msg.reply === undefined || msg.reply === "") return
    try {
      this.handshake(msg)
    } catch (thrown) {
      // Never into the NATS client's parser.
      this.site.run(Effect.logError(`listener ${this.address}: a connect request could not be handled`, thrown))
    }
  }

  private handshake(msg: Msg): void {
    const reply = (answer: HandshakeReply): void => void msg.respond(encodeJson(answer))
    const request = decodeHandshakeRequest(msg.data)
    if (typeof request === "string") return reply({ _tag: "Refused", reason: `not a Crank connect request: ${request}` })
    if (request._tag === "Probe") return reply({ _tag: "Listening", address: this.address })
    if (this.closing) return reply({ _tag: "Refused", reason: `${this.address} is closing` })
    if (request.version !== handshakeVersion) return reply({ _tag: "Refused", reason: `handshake version ${request.version} is not ${handshakeVersion}` })
    // Only ever publish to a connection subject: a forged inbox must not turn the listener against another subject.
    if (!isConnectionSubject(this.prefix, request.inbox)) {
      return reply({ _tag: "Refused", reason: `inbox ${JSON.stringify(request.inbox)} is not a ${this.prefix}.conn.<id> subject` })
    }
    const remote = `nats://${this.client.server}/${request.inbox}`
    const connection = new NatsConnection(connectionSubject(this.prefix), undefined, remote, this.site)
    try {
      connection.subscribe()
    } catch (error) {
      return reply({ _tag: "Refused", reason: `the listener cannot subscribe: ${messageOf(error)}` })
    }
    connection.attach(request.inbox)
    let handlers: Handlers
    try {
      handlers = this.accept(connection)
    } catch (error) {
      this.site.run(Effect.logError(`listener ${this.address}: accept threw; the connection is closed`, error))
      connection.shutdown({ code: CloseCodes.internalError, reason: "the listener could not accept the connection" }, false)
      return reply({ _tag: "Refused", reason: "the listener could not accept the connection" })
    }
    connection.adopt(handlers)
    reply({ _tag: "Accepted", inbox: connection.ownSubject })
  }

  /** Stops accepting, closes every connection with 1001 (each peer gets a Close frame), then waits for the server to have them. */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.closing = true
    const subscription = this.subscription
    this.subscription = undefined
    if (subscription !== undefined && !subscription.isClosed()) {
      try {
        subscription.unsubscribe()
      } catch {
        // The client is closed: so is the subscription.
      }
    }
    const connections = [...this.site.connections]
    for (const connection of connections) connection.shutdown({ code: CloseCodes.goingAway, reason: "listener closed" }, true)
    return this.client.flushWithin(this.site.limits.closeTimeoutMs)
  })
}

/** Asks the listener for a connection; fails with `ConnectFailed` on no responders, a refusal or `connectTimeoutMs`. */
const dial = (
  address: string,
  subject: string,
  prefix: string,
  site: NatsSite,
  makeHandlers: (connection: Connection) => Handlers,
): Effect.Effect<NatsConnection, TransportError> =>
  Effect.callback<NatsConnection, TransportError>((resume) => {
    const fail = (message: string) => resume(Effect.fail(new TransportError({ reason: "ConnectFailed", address, message })))
    const connection = new NatsConnection(connectionSubject(prefix), undefined, address, site)
    try {
      connection.subscribe()
    } catch (error) {
      return fail(`cannot subscribe on the NATS server: ${messageOf(error)}`)
    }
    let settled = false
    const request = encodeJson({ _tag: "Connect", version: handshakeVersion, inbox: connection.ownSubject })
    let answered: Promise<Msg>
    try {
      answered = site.client.nc.request(subject, request, { timeout: site.limits.connectTimeoutMs })
    } catch (error) {
      connection.abandon()
      return fail(`cannot send the connect request: ${messageOf(error)}`)
    }
    answered.then(
      (msg) => {
        const answer = decodeHandshakeReply(msg.data)
        if (settled) {
          // The dial was interrupted meanwhile: the listener's end must not wait for its pings to find out.
          if (typeof answer !== "string" && answer._tag === "Accepted") {
            const orphan = new NatsConnection(connection.ownSubject, answer.inbox, address, site)
            orphan.shutdown({ code: CloseCodes.goingAway, reason: "the dialling side gave up" }, true)
          }
          return
        }
        settled = true
        if (typeof answer === "string" || answer._tag !== "Accepted") {
          connection.abandon()
          return fail(
            typeof answer === "string"
              ? `${address} answered something that is not a Crank handshake: ${answer}`
              : answer._tag === "Refused"
                ? `${address} refused the connection: ${answer.reason}`
                : `${address} answered a probe's reply to a connect request`,
          )
        }
        connection.attach(answer.inbox)
        let handlers: Handlers
        try {
          handlers = makeHandlers(connection)
        } catch (error) {
          connection.shutdown({ code: CloseCodes.internalError, reason: "the client's handlers could not be made" }, true)
          return fail(`making handlers threw: ${messageOf(error)}`)
        }
        connection.adopt(handlers)
        resume(Effect.succeed(connection))
      },
      (error: unknown) => {
        if (settled) return
        settled = true
        connection.abandon()
        fail(
          isNoResponders(error)
            ? `nothing listens at ${address} (no responders on ${subject})`
            : `no answer from ${address} within ${site.limits.connectTimeoutMs} ms: ${messageOf(error)}`,
        )
      },
    )
    return Effect.sync(() => {
      if (settled) return
      settled = true
      connection.abandon()
    })
  })
