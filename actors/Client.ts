/**
 * The client: how a program asks the mesh for work.
 *
 * `invoke(HelloGreet, { message: "hi" })` returns an `Effect` whose success type is the capability's output
 * type and whose error is a `CrankError` (`NO_WORKER`, `TIMEOUT`, `INVALID_INPUT`, or a code the capability
 * declares). Given a capability object the client validates input before sending (a bad input never leaves the
 * process) and decodes the output; given a string ref (`"hello.greet@^1"`, as the CLI does) it sends the input
 * as is and the worker validates it.
 */
import { Cause, Effect, Exit, Schema, Scope } from "effect"
import { type Capability, type InputOf, type OutputOf } from "../capabilities/Capability.ts"
import { parseRef } from "../capabilities/CapabilityRef.ts"
import { CrankError, crankError } from "../capabilities/CrankError.ts"
import { failureOf, type Invoke, type Reply } from "../transports/Envelope.ts"
import type { Connection, Transport, TransportError } from "../transports/Transport.ts"
import { CrankRoutes } from "../capabilities/crank.ts"
import { defaults } from "./defaults.ts"
import { callWithin } from "./callWithin.ts"
import * as DirectRoutes from "./DirectRoutes.ts"

export interface InvokeOptions {
  /** The request's deadline; the worker gets the remaining budget. */
  readonly timeoutMs?: number
  /** A semver range overriding the capability's own `^x.y.z`. */
  readonly range?: string
}

export interface Client {
  readonly invoke: {
    <C extends Capability>(capability: C, input: InputOf<C>, options?: InvokeOptions): Effect.Effect<OutputOf<C>, CrankError>
    (ref: string, input: unknown, options?: InvokeOptions): Effect.Effect<unknown, CrankError>
  }
  /** Sends a ready-made request and returns its raw reply: for relays and tools. */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
}

export interface ClientOptions {
  readonly transport: Transport
  readonly controller: string
  readonly timeoutMs?: number
  readonly clientId?: string
  /**
   * Call workers directly, with a routing table learnt from the controller (default), or send every request
   * through the controller's relay (`false`). `refreshMs` is how often the table is refreshed (default 1000).
   */
  readonly direct?: boolean | { readonly refreshMs: number }
}

const messageOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

let clients = 0

/** Connects a client to the controller at `options.controller`. The connection closes with the scope. */
export const make = (options: ClientOptions): Effect.Effect<Client, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const clientId = options.clientId ?? `c${(++clients).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
    const defaultTimeoutMs = options.timeoutMs ?? defaults.requestTimeoutMs
    let sequence = 0
    let connection: Connection | undefined
    let connectionScope: Scope.Closeable | undefined

    const connect = Effect.gen(function* () {
      if (connectionScope !== undefined) yield* Scope.close(connectionScope, Exit.void)
      connectionScope = yield* Scope.fork(scope)
      connection = yield* options.transport
        .connect(options.controller, () => ({
          onMessage: () => {},
          onClose: () => {},
          serve: (invoke) => Effect.succeed({ _tag: "Failure", id: invoke.id, code: "NO_WORKER", message: "clients serve nothing", retriable: false }),
        }))
        .pipe(Scope.provide(connectionScope))
      return connection
    })
    yield* connect

    const link: Effect.Effect<Connection, CrankError> = Effect.suspend(() =>
      connection !== undefined && connection.isOpen()
        ? Effect.succeed(connection)
        : connect.pipe(Effect.mapError((e) => crankError("UNAVAILABLE", `cannot reach the controller: ${e.message}`))),
    )

    const relay = (invoke: Invoke): Effect.Effect<Reply> =>
      Effect.matchEffect(link, {
        onFailure: (error) => Effect.succeed<Reply>(failureOf(invoke.id, error)),
        onSuccess: (conn) => callWithin(conn, invoke),
      })

    const directOption = options.direct ?? true
    const direct = directOption === false
      ? undefined
      : yield* DirectRoutes.make({
          transport: options.transport,
          refreshMs: directOption === true ? 1_000 : directOption.refreshMs,
          relay,
          fetch: Effect.flatMap<Reply, never, never, DirectRoutes.RouteTable, unknown, never>(
            relay({ _tag: "Invoke", id: `${clientId}-routes`, capability: CrankRoutes.id, range: `^${CrankRoutes.version}`, input: {}, timeoutMs: 5_000 }),
            (reply) => (reply._tag === "Result" ? Schema.decodeUnknownEffect(CrankRoutes.output)(reply.output) : Effect.fail(reply)),
          ),
        })

    const call = (invoke: Invoke): Effect.Effect<Reply> => direct?.call(invoke) ?? relay(invoke)

    const invoke = (target: Capability | string, input: unknown, invokeOptions?: InvokeOptions): Effect.Effect<unknown, CrankError> => {
      let id: string
      let range: string
      let payload = input
      let decodeOutput: ((u: unknown) => Exit.Exit<unknown, Schema.SchemaError>) | undefined
      if (typeof target === "string") {
        const ref = parseRef(target)
        if (ref instanceof CrankError) return Effect.fail(ref)
        id = ref.id
        range = invokeOptions?.range ?? ref.range
      } else {
        id = target.id
        range = invokeOptions?.range ?? `^${target.version}`
        const encoded = Schema.encodeUnknownExit(target.input)(input)
        if (Exit.isFailure(encoded)) return Effect.fail(crankError("INVALID_INPUT", messageOf(encoded.cause)))
        payload = encoded.value
        decodeOutput = Schema.decodeUnknownExit(target.output)
      }
      const timeoutMs = invokeOptions?.timeoutMs ?? defaultTimeoutMs
      const request: Invoke = { _tag: "Invoke", id: `${clientId}-${++sequence}`, capability: id, range, input: payload, timeoutMs }
      return call(request).pipe(
        Effect.flatMap((reply) => {
          if (reply._tag === "Failure") {
            return Effect.fail(new CrankError({ code: reply.code, message: reply.message, retriable: reply.retriable }))
          }
          if (decodeOutput === undefined) return Effect.succeed(reply.output)
          const output = decodeOutput(reply.output)
          return Exit.isSuccess(output)
            ? Effect.succeed(output.value)
            : Effect.fail(crankError("INVALID_OUTPUT", `${id} answered with output that fails its schema: ${messageOf(output.cause)}`))
        }),
      )
    }

    return { invoke: invoke as Client["invoke"], call } satisfies Client
  })
