/**
 * One client connection to a NATS server, shared by every listener and connection of a transport that uses that
 * server, and the pool that shares it.
 *
 * Shared because a NATS connection is a multiplexer already: a controller with a thousand workers needs one TCP
 * connection to its server, not a thousand. The pool counts its users and closes the client when the last leaves.
 *
 * Liveness of the server link is NATS's own (its client pings the server; a dropped socket is seen at once): when
 * the client reports `disconnect`, every Crank connection over it is closed 1006. Not carried over the reconnect,
 * because frames published while the link was down may be lost, and a Crank connection promises ordered delivery
 * with nothing lost, like the TCP under WebSocket. Listeners stay: the NATS client subscribes again when it
 * reconnects, and new connections can then be made.
 */
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { messageOf } from "../capabilities/CrankError.ts"

/** What the client needs from a Crank connection over it: to be dropped when the server link goes. */
export interface OverNats {
  readonly dropped: (reason: string) => void
}

/** Whether a NATS request failed because nobody subscribes to its subject (the server's 503 status). */
export const isNoResponders = (error: unknown): boolean =>
  typeof error === "object" && error !== null && typeof (error as { isNoResponders?: unknown }).isNoResponders === "function"
    ? (error as { isNoResponders: () => boolean }).isNoResponders()
    : false

/** The NATS server's default `max_payload`, used until the server has said its own. */
const defaultMaxPayload = 1024 * 1024

export class NatsClient {
  /** Crank connections (dialled and accepted) over this client: closed 1006 when it loses the server. */
  readonly connections = new Set<OverNats>()
  /** False from a `disconnect` until the client has reconnected. */
  connected = true

  constructor(
    readonly nc: NatsConnection,
    /** `host:port`, as dialled. */
    readonly server: string,
  ) {}

  /** The largest message the server takes, headers included: its `max_payload`. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? defaultMaxPayload
  }

  /** Follows the client's status until it closes; `onClosed` runs once it has closed for good. */
  watch(onClosed: () => void): void {
    const loop = async () => {
      for await (const status of this.nc.status()) {
        if (status.type === "disconnect") {
          this.connected = false
          this.dropAll(`lost the NATS server at ${this.server}`)
        } else if (status.type === "reconnect") {
          this.connected = true
        }
      }
    }
    loop().then(
      () => this.closed(onClosed),
      () => this.closed(onClosed),
    )
  }

  private closed(onClosed: () => void): void {
    this.dropAll(`the NATS client for ${this.server} closed`)
    onClosed()
  }

  private dropAll(reason: string): void {
    if (this.connections.size === 0) return
    const connections = [...this.connections]
    this.connections.clear()
    for (const connection of connections) connection.dropped(reason)
  }

  /**
   * Waits until the server has taken everything published so far (a PING/PONG round trip), at most `timeoutMs`
   * real milliseconds; never fails. Real time, not Effect's `Clock`: a connection closing under a `TestClock`
   * must not wait for virtual time that never moves.
   */
  flushWithin(timeoutMs: number): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      // Disconnected, a flush would wait for the reconnect: nothing published now can reach anyone anyway.
      if (!this.connected || this.nc.isClosed()) return resume(Effect.void)
      const timer = setTimeout(() => resume(Effect.void), timeoutMs)
      this.nc.flush().then(
        () => {
          clearTimeout(timer)
          resume(Effect.void)
        },
        () => {
          clearTimeout(timer)
          resume(Effect.void)
        },
      )
      return Effect.sync(() => clearTimeout(timer))
    })
  }
}

/** One server's client in a pool, and how many listeners and connections use it. */
interface PoolEntry {
  readonly server: string
  readonly made: Promise<NatsClient>
  users: number
}

/** A transport's clients, one per server, shared by its listeners and connections. */
export class NatsClientPool {
  private readonly entries = new Map<string, PoolEntry>()
  private readonly entryOf = new WeakMap<NatsClient, PoolEntry>()

  constructor(
    private readonly options: Omit<NodeConnectionOptions, "servers" | "port">,
    private readonly connectTimeoutMs: number,
    private readonly closeTimeoutMs: number,
  ) {}

  /**
   * The client for `server` (`host:port`), connecting it if no one uses it yet; fails with why it could not
   * connect. The caller counts as a user from the moment this runs (so a release racing a connecting acquire never
   * closes the client under it), and must `release` what it got.
   */
  acquire(server: string): Effect.Effect<NatsClient, Error> {
    return Effect.suspend(() => {
      let entry = this.entries.get(server)
      if (entry === undefined) {
        const made = connect({ ...this.options, timeout: this.connectTimeoutMs, servers: server }).then((nc) => {
          const client = new NatsClient(nc, server)
          this.entryOf.set(client, fresh)
          client.watch(() => this.forget(fresh))
          return client
        })
        const fresh: PoolEntry = { server, made, users: 0 }
        made.catch(() => this.forget(fresh))
        this.entries.set(server, fresh)
        entry = fresh
      }
      const counted = entry
      counted.users++
      return Effect.tryPromise({
        try: () => counted.made,
        catch: (error) => (error instanceof Error ? error : new Error(messageOf(error))),
      }).pipe(Effect.tapError(() => Effect.sync(() => void counted.users--)))
    })
  }

  /** One user is done with `client`: the last one flushes it and closes it. */
  release(client: NatsClient): Effect.Effect<void> {
    return Effect.suspend(() => {
      const entry = this.entryOf.get(client)
      if (entry !== undefined && --entry.users > 0) return Effect.void
      if (entry !== undefined) this.forget(entry)
      return client.flushWithin(this.closeTimeoutMs).pipe(Effect.andThen(Effect.promise(() => client.nc.close().catch(() => undefined))))
    })
  }

  /** From now on an acquire for this server dials a fresh client. */
  private forget(entry: PoolEntry): void {
    if (this.entries.get(entry.server) === entry) this.entries.delete(entry.server)
  }
}
