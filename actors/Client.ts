/**
 * The client: how a program asks the mesh for work.
 *
 * `invoke(HelloGreet, { message: "hi" })` returns an `Effect` whose success type is the capability's output
 * type and whose error is a `CrankError` (`NO_WORKER`, `TIMEOUT`, `INVALID_INPUT`, or a code the capability
 * declares). Given a capability object the client validates input before sending (a bad input never leaves the
 * process) and decodes the output; given a string ref (`"hello.greet@^1"`, as the CLI does) it sends the input
 * as is and the worker validates it.
 *
 * Requests go straight to a worker from the routing table (`DirectRoutes.ts`) or through the controller
 * (`ControllerLink.ts`, one connection shared by every caller and redialled on demand). `timeoutMs` is the whole
 * request's budget: a dial, and a second attempt elsewhere, spend from it rather than starting afresh.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Capability, InputOf, OutputOf, Placement, Routing } from "../capabilities/Capability.ts"
import { type CapabilityRef, parseRef } from "../capabilities/CapabilityRef.ts"
import { CrankError, crankError } from "../capabilities/CrankError.ts"
import { CrankRoutes, CrankStatus, type MeshStatus } from "../capabilities/crank.ts"
import type { Invoke, Reply } from "../transports/Envelope.ts"
import { defaultStreamWindow } from "../transports/streams.ts"
import type { Transport } from "../transports/Transport.ts"
import * as ControllerLink from "./ControllerLink.ts"
import { answerOf, type Codec, codecOf, messageOfCause } from "./capabilityCodec.ts"
import * as DirectRoutes from "./DirectRoutes.ts"
import { readAllPages } from "./paging.ts"
import type { Choice, StrategyName } from "./routing/strategy.ts"
import { Tunable } from "./Tunables.ts"

export interface InvokeOptions {
  /** The request's deadline; the worker gets the remaining budget. */
  readonly timeoutMs?: number
  /** A semver range overriding the capability's own `^x.y.z`. */
  readonly range?: string
  /**
   * How to choose among the workers of the chosen version (actors/routing/strategy.ts), overriding the
   * capability's own `routing`: `round-robin`, `least-in-flight`, `latency-aware` or `affinity`. Direct calls and
   * the controller's relay both route by it (the request carries it, with the key, in `Invoke.route`).
   */
  readonly strategy?: StrategyName
  /** The affinity key, overriding the one the capability's `routing.key` takes from the input. */
  readonly key?: string | number
  /**
   * What the serving worker must offer (`{ gpu: true }`, labels), beyond the capability's own placement: only such
   * workers serve the call, directly or through the relay. Workers offering a GPU serve only calls that ask for one.
   */
  readonly placement?: Placement
}

/**
 * The signature of `Client.invoke`: a capability object and its input type, answered with its output type; or
 * a string ref (`"hello.greet@^1"`) with any input, answered with `unknown`. One generic signature rather than
 * two overloads, because with overloads a wrong input field made the compiler report the string overload's
 * mismatch (`Capability<...> is not assignable to parameter of type 'string'`) instead of the field. Facades
 * (the Promise one, a test kit) reuse it as `<T extends Capability | string>(target: T, input: InputOf<T>, ...)`.
 */
export type InvokeFunction = <T extends Capability | string>(target: T, input: InputOf<T>, options?: InvokeOptions) => Effect.Effect<OutputOf<T>, CrankError>

/**
 * The signature of `Client.stream`: a streaming capability object and its input, answered with a `Stream` of its
 * output type; or a string ref with any input, answered with a `Stream` of `unknown`.
 */
export type StreamFunction = <T extends Capability | string>(target: T, input: InputOf<T>, options?: StreamOptions) => Stream.Stream<OutputOf<T>, CrankError>

export interface StreamOptions extends InvokeOptions {
  /**
   * Items the caller makes room for before the worker waits (credit-based flow control, transports/streams.ts).
   * Default 64: at most this many items are held for a slow consumer.
   */
  readonly window?: number
}

export interface Client {
  readonly invoke: InvokeFunction
  /**
   * Calls a streaming capability: its outputs as they come, with backpressure (the worker produces only as fast as
   * the stream is consumed, a window ahead). `timeoutMs` bounds the whole stream; stopping early (`Stream.take`,
   * interrupting the consumer) cancels the work on the worker. Nothing is sent until the stream runs.
   */
  readonly stream: StreamFunction
  /** Sends a ready-made request and returns its raw reply: for relays and tools. */
  readonly call: (invoke: Invoke) => Effect.Effect<Reply>
  /** The mesh as the controller sees it (`crank.status`), every page of workers read. */
  readonly status: Effect.Effect<MeshStatus, CrankError>
}

export interface ClientOptions {
  readonly controller: string
  /** Default deadline of its requests; default the `requestTimeoutMs` tunable. */
  readonly timeoutMs?: number
  readonly clientId?: string
  /**
   * Call workers directly, with a routing table learnt from the controller and refreshed every `routeRefreshMs`
   * (default), or send every request through the controller's relay (`false`).
   */
  readonly direct?: boolean
  /** The node this client runs on: direct calls prefer a healthy worker on the same node (`nodeId` of its workers). */
  readonly nodeId?: string
}

/** A call checked and encoded, before its request is made. */
interface Prepared {
  readonly capability: string
  readonly range: string
  readonly payload: unknown
  /** Absent for a string ref: its input and output are the worker's to check. */
  readonly codec: Codec | undefined
  readonly choice: Choice | undefined
  readonly placement: Placement | undefined
  /** The routing hint the relay gets (`Invoke.route`). */
  readonly route: Invoke["route"]
  readonly timeoutMs: number
}

/**
 * Parsed string refs (`"hello.greet@^1"`, as the CLI and tools pass them): parsing checks the semver range and
 * cost ≈ 0.57 µs a call, a sixth of a whole in-process call. Bounded, because refs come from callers: past the
 * bound the cache starts again. Bad refs are not kept.
 */
const parsedRefs = new Map<string, CapabilityRef>()
const maxParsedRefs = 1_024

const refOf = (text: string): CapabilityRef | CrankError => {
  const cached = parsedRefs.get(text)
  if (cached !== undefined) return cached
  const ref = parseRef(text)
  if (ref instanceof CrankError) return ref
  if (parsedRefs.size >= maxParsedRefs) parsedRefs.clear()
  parsedRefs.set(text, ref)
  return ref
}

/**
 * Connects a client to the controller at `options.controller`, on the `Transport` in context; fails with
 * `UNAVAILABLE` if it cannot be reached now (later drops are redialled on demand). The connections close with the
 * scope. Its default deadline and routing-table refresh are the `requestTimeoutMs` and `routeRefreshMs` tunables.
 *
 * @example
 * ```ts
 * const client = yield* Client.make({ controller: "ws://127.0.0.1:7070" })
 * const { greeting } = yield* client.invoke(HelloGreet, { message: "hi" }, { timeoutMs: 500 })
 * ```
 */
export const make = (options: ClientOptions): Effect.Effect<Client, CrankError, Scope.Scope | Transport> =>
  Effect.gen(function* () {
    const clientId = options.clientId ?? `c${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}`
    const defaultTimeoutMs = options.timeoutMs ?? (yield* Tunable.requestTimeoutMs)
    let sequence = 0
    let tables = 0

    const link = yield* ControllerLink.make({ address: options.controller })

    const direct =
      options.direct === false
        ? undefined
        : yield* DirectRoutes.make({
            refreshMs: yield* Tunable.routeRefreshMs,
            relay: link.call,
            relayStream: link.stream,
            breaker: { failures: yield* Tunable.breakerFailures, coolDownMs: yield* Tunable.breakerCoolDownMs },
            node: options.nodeId,
            // The whole table, page after page (a page never outgrows a frame).
            fetch: readAllPages((after) =>
              Effect.flatMap(
                Effect.suspend(() =>
                  link.call({
                    _tag: "Invoke",
                    id: `${clientId}-routes-${++tables}`,
                    capability: CrankRoutes.id,
                    range: `^${CrankRoutes.version}`,
                    input: after === undefined ? {} : { after },
                    timeoutMs: 5_000,
                  }),
                ),
                (reply): Effect.Effect<typeof CrankRoutes.output.Type, unknown> =>
                  reply._tag === "Result" ? Schema.decodeUnknownEffect(CrankRoutes.output)(reply.output) : Effect.fail(reply),
              ),
            ),
          })

    const call = direct === undefined ? link.call : direct.call
    /** Routes at once: `invoke` below already runs inside the effect that sends the request. */
    const callNow: (invoke: Invoke, choice: Choice | undefined) => Effect.Effect<Reply> = direct === undefined ? link.call : direct.callNow

    /** The relay's routing hint when a call names nothing but this client has a node: made once. */
    const nodeRoute: Invoke["route"] = options.nodeId === undefined ? undefined : { node: options.nodeId }

    /** What a call of `target` with `input` needs, checked and encoded once: shared by `invoke` and `stream`. */
    const prepare = (target: Capability | string, input: unknown, invokeOptions: InvokeOptions | undefined): Prepared | CrankError => {
      let capability: string
      let range: string
      let payload = input
      let codec: Codec | undefined
      let routing: Routing | undefined
      if (typeof target === "string") {
        const ref = refOf(target)
        if (ref instanceof CrankError) return ref
        capability = ref.id
        range = invokeOptions?.range ?? ref.range
      } else {
        codec = codecOf(target)
        capability = target.id
        range = invokeOptions?.range ?? codec.range
        const encoded = codec.encodeInput(input)
        if (Exit.isFailure(encoded)) return crankError("INVALID_INPUT", messageOfCause(encoded.cause))
        payload = encoded.value
        routing = target.routing
      }
      // The call's strategy, else the capability's; a key alone asks for affinity. None: the router's default
      // path, which allocates nothing.
      const strategy = invokeOptions?.strategy ?? routing?.strategy ?? (invokeOptions?.key === undefined ? undefined : "affinity")
      const placement = invokeOptions?.placement
      let choice: Choice | undefined
      let route: Invoke["route"]
      if (strategy !== undefined || placement !== undefined) {
        const key = strategy !== "affinity" ? undefined : (invokeOptions?.key ?? routing?.key?.(input))
        choice = { strategy, key: key === undefined ? undefined : String(key), node: options.nodeId, placement }
        // The relay sees the same choice: it knows the capability's strategy, but not the key or this client's node.
        route = {
          ...(invokeOptions?.strategy === undefined ? {} : { strategy: invokeOptions.strategy }),
          ...(choice.key === undefined ? {} : { key: choice.key }),
          ...(options.nodeId === undefined ? {} : { node: options.nodeId }),
        }
      } else if (options.nodeId !== undefined) {
        route = nodeRoute
      }
      return { capability, range, payload, codec, choice, placement, route, timeoutMs: invokeOptions?.timeoutMs ?? defaultTimeoutMs }
    }

    /** A fresh request of `prepared`: the id is taken when it is sent, so an effect run twice sends two requests. */
    const requestOf = (prepared: Prepared, stream?: number): Invoke => {
      const request: Invoke = {
        _tag: "Invoke",
        id: `${clientId}-${++sequence}`,
        capability: prepared.capability,
        range: prepared.range,
        input: prepared.payload,
        timeoutMs: prepared.timeoutMs,
      }
      if (prepared.placement === undefined && prepared.route === undefined && stream === undefined) return request
      return {
        ...request,
        ...(prepared.placement === undefined ? {} : { placement: prepared.placement }),
        ...(prepared.route === undefined ? {} : { route: prepared.route }),
        ...(stream === undefined ? {} : { stream }),
      }
    }

    const invoke = (target: Capability | string, input: unknown, invokeOptions?: InvokeOptions): Effect.Effect<unknown, CrankError> => {
      const prepared = prepare(target, input, invokeOptions)
      if (prepared instanceof CrankError) return Effect.fail(prepared)
      const answer = prepared.codec?.answer ?? answerOf
      // The id is taken when the effect runs, not when it is built: running one invoke effect twice (a retry,
      // two fibers) must send two requests, never one id twice.
      return Effect.suspend(() => {
        const reply = callNow(requestOf(prepared), prepared.choice)
        // A reply already made (in one process) is answered without one more step of the runtime.
        return Exit.isExit(reply) && Exit.isSuccess(reply) ? answer(reply.value as Reply) : Effect.flatMap(reply, answer)
      })
    }

    const stream = (target: Capability | string, input: unknown, streamOptions?: StreamOptions): Stream.Stream<unknown, CrankError> => {
      const prepared = prepare(target, input, streamOptions)
      if (prepared instanceof CrankError) return Stream.fail(prepared)
      const window = streamOptions?.window ?? defaultStreamWindow
      if (!Number.isInteger(window) || window < 1) return Stream.fail(crankError("INVALID_INPUT", `window must be a positive integer, got ${window}`))
      const deadline = Effect.andThen(
        Effect.sleep(prepared.timeoutMs),
        Effect.fail(crankError("TIMEOUT", `${prepared.capability} did not finish its stream within ${prepared.timeoutMs} ms`)),
      )
      return Stream.suspend(() => {
        const request = requestOf(prepared, window)
        const items = direct === undefined ? link.stream(request) : direct.stream(request, prepared.choice)
        // The worker ends a stream at its deadline; this timer ends it here too when the worker cannot (a lost link).
        const bounded = Stream.interruptWhen(items, deadline)
        return prepared.codec === undefined ? bounded : Stream.mapEffect(bounded, prepared.codec.decodeItem)
      })
    }

    const status = readAllPages((after) => (invoke as Client["invoke"])(CrankStatus, after === undefined ? {} : { after }))

    return { invoke: invoke as Client["invoke"], stream: stream as Client["stream"], call, status } satisfies Client
  })
