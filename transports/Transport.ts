/**
 * What actors need from a network, and nothing more: listen at an address, connect to one, and on a
 * connection send ordered one-way messages and make requests.
 *
 * Actors are written against this interface only, so the same controller and worker run over the in-memory
 * transport (one process) or WebSocket (many nodes). `tests/transports/conformance.ts` is the contract every
 * implementation passes.
 *
 * Why requests are a primitive of their own rather than two messages: a transport can then serve them in the
 * cheapest way it has. In one process `call` starts the worker's handler at once, from the caller (no mailbox hop);
 * over WebSocket it multiplexes requests by id on one connection and turns an interrupted caller into `Cancel`.
 */
import type * as http from "node:http"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { CrankError } from "../capabilities/CrankError.ts"
import type { Identity } from "../trust/identity.ts"
import type { ControlMessage, Invoke, Reply } from "./Envelope.ts"

/** Why a connection ended. Codes follow WebSocket close codes (RFC 6455 §7.4) on every transport. */
export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

export const CloseCodes = {
  normal: 1000,
  goingAway: 1001,
  /** The peer broke the protocol (repeated bad frames). */
  protocolError: 1002,
  /** The connection was lost without a close handshake. */
  abnormal: 1006,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
} as const

/** How one end of a connection reacts to the other. */
export interface Handlers {
  /**
   * A one-way message from the peer, in the order sent. Called synchronously by the transport: put the
   * message in a mailbox and return; never block here.
   */
  readonly onMessage: (message: ControlMessage) => void
  /**
   * A request from the peer. The effect must not fail: a failed request is a `Failure` value. It is
   * interrupted if the peer cancels or the connection closes.
   */
  readonly serve: (invoke: Invoke) => Effect.Effect<Reply>
  /** The connection ended, from either side. Called once. */
  readonly onClose: (info: CloseInfo) => void
  /**
   * A streaming request from the peer (`Invoke` with `stream`): the items to send back, encoded, ending or failing
   * with a typed error. The transport pulls it only as fast as the caller's credit allows, and interrupts it if the
   * peer cancels or the connection closes. Absent: such requests are answered `NO_WORKER`.
   */
  readonly serveStream?: (invoke: Invoke) => Stream.Stream<unknown, CrankError>
}

export interface Connection {
  /** Unique per connection within a process: a log and map key. */
  readonly id: string
  /** The address of the other end, as this side knows it. */
  readonly remoteAddress: string
  /**
   * Who the other end proved to be, by a certificate from the mesh's CA (mutual TLS): its role and id
   * (trust/identity.ts). Absent when it proved nothing: plain `ws://`, a TLS client admitted without a
   * certificate to fetch its first one, or the in-memory transport (one process trusts itself).
   */
  readonly peer?: Identity | undefined
  /** Sends a one-way message. Fails with `UNAVAILABLE` (as a `CrankError`) once the connection is closed. */
  readonly send: (message: ControlMessage) => Effect.Effect<void, CrankError>
  /**
   * Makes a request and waits for its reply. Never fails: a closed link is a `Failure` with code `UNAVAILABLE`.
   * Interrupting the calling fiber cancels the request on the serving side.
   */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
  /**
   * Makes a streaming request (`invoke.stream` is the caller's window) and gives its items as they come, with
   * backpressure: at most a window of items waits for a slow consumer. Nothing is sent until the stream runs; a
   * consumer that stops early cancels the request on the serving side; a closed link fails it `UNAVAILABLE`.
   */
  readonly stream: (invoke: Invoke) => Stream.Stream<unknown, CrankError>
  /** Closes both directions; the peer's `onClose` sees `info`. Idempotent. */
  readonly close: (info?: CloseInfo) => Effect.Effect<void>
  readonly isOpen: () => boolean
  /**
   * True when `call` starts the serving side's handler at once in this process (the in-memory transport): the
   * serving side's request server then enforces the request's deadline itself, and the caller needs no timer.
   */
  readonly inProcess?: boolean
  /**
   * In-process transports only: serves the request now and gives the reply itself when the serving side answered
   * without waiting, or the effect that waits for it. Lets a caller in the same process skip building effects for
   * a request that is already answered.
   */
  readonly callNow?: (invoke: Invoke) => Reply | Effect.Effect<Reply>
}

export interface Listener {
  /** The address peers should dial, with the real port when port 0 was asked for. */
  readonly address: string
}

export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "ListenFailed" | "ConnectFailed" | "UnsupportedAddress"
  readonly address: string
  readonly message: string
}> {}

/** Answers a plain HTTP request that reaches a listener's port (a dashboard, probes); never throws. */
export type HttpHandler = (request: http.IncomingMessage, response: http.ServerResponse) => void

export interface ListenOptions {
  /**
   * Serves plain HTTP on this listener's port, where the transport has one (WebSocket): the controller's
   * dashboard, a worker's probes. WebSocket upgrades never reach it. Without it such a request is answered
   * `426 Upgrade Required`. Transports without HTTP (in memory) ignore it.
   */
  readonly http?: HttpHandler
}

export interface Transport {
  /** The URL schemes this transport dials and listens on, e.g. `["memory"]` or `["ws", "wss"]`. */
  readonly schemes: ReadonlyArray<string>
  /** Accepts connections at `address` until the scope closes; `accept` gives each new connection its handlers. */
  readonly listen: (
    address: string,
    accept: (connection: Connection) => Handlers,
    options?: ListenOptions,
  ) => Effect.Effect<Listener, TransportError, Scope.Scope>
  /** Connects to `address`; the connection closes when the scope does. */
  readonly connect: (address: string, handlers: (connection: Connection) => Handlers) => Effect.Effect<Connection, TransportError, Scope.Scope>
}

/**
 * The transport as a service: actors read it from their context, so a program picks it once, by layer
 * (`MemoryTransport.layer`, `WebSocketTransport.layer(options)`, `layerOf(combine(...))`), and a test can give one
 * party a different transport (a recording one, a faulty one) by providing it to that party alone.
 */
export const Transport = Context.Service<Transport>("crank/Transport")

/** A layer providing `transport` as the `Transport` service. */
export const layerOf = (transport: Transport): Layer.Layer<Transport> => Layer.succeed(Transport, transport)

/** The scheme of an address (`ws://127.0.0.1:7070` → `ws`). */
export const schemeOf = (address: string): string => {
  const colon = address.indexOf(":")
  return colon === -1 ? "" : address.slice(0, colon).toLowerCase()
}
