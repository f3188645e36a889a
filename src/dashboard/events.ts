/**
 * The controller's live event streams (server-sent events), pushed, never polled:
 *
 * - `/api/events`, for the dashboard and `crank watch`: a `snapshot` event (kind `full`, every worker with its
 *   recent transitions) on connect, then a `transition` event for every lifecycle change as it happens, and a
 *   `snapshot` event of kind `periodic` every `tickMs` (counts, in-flight, heartbeat ages; no timelines);
 * - `/api/inspect`, opt-in: the same changes as Stately inspection events (see inspect.ts).
 *
 * One fiber serves every stream: it takes commands (a stream opened, a transition, a tick) from one queue, in
 * order, so a stream never sees a transition before its first snapshot. Writes go straight to the sockets; a
 * client that stops reading is dropped once `maxBufferedBytes` are waiting for it, so a stuck browser tab can
 * never make the controller buffer without bound. All of it lives in the scope it was made in: closing the scope
 * ends every stream.
 */
import type * as http from "node:http"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Controller, LifecycleTransition } from "../../actors/Controller.ts"
import { commentFrame, eventFrame, eventStreamHeaders, retryFrame } from "../http/sse.ts"
import { actorEvent, transitionEvents } from "./inspect.ts"
import type { RequestTotals } from "./metrics.ts"
import { entryOf, meshStatus, snapshotOf, type TransitionEvent } from "./snapshot.ts"

export type StreamKind = "dashboard" | "inspect"

export interface EventStreamOptions {
  /** How often the periodic snapshot goes out. Default 1000 ms. */
  readonly tickMs?: number
  /** Streams open at once; more are refused with 503. Default 64. */
  readonly maxStreams?: number
  /** Bytes waiting for one slow client before it is dropped. Default 1 MiB. */
  readonly maxBufferedBytes?: number
  /** Tells a browser how soon to reconnect a dropped stream. Default 1000 ms. */
  readonly retryMs?: number
}

export interface EventStreams {
  /** Takes over `response` as an event stream of `kind` (or answers 503 when full or closed). */
  readonly open: (request: http.IncomingMessage, response: http.ServerResponse, kind: StreamKind) => void
  /** Streams open now. */
  readonly count: () => number
}

interface Client {
  readonly response: http.ServerResponse
  readonly kind: StreamKind
}

type Command =
  | { readonly _tag: "open"; readonly client: Client }
  | { readonly _tag: "transition"; readonly controller: Controller; readonly transition: LifecycleTransition }
  | { readonly _tag: "tick" }

const refuse = (response: http.ServerResponse, status: number, message: string): void => {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "retry-after": "1" })
  response.end(JSON.stringify({ error: "UNAVAILABLE", message }))
}

/**
 * Starts the event streams of the controller `getController()` returns (looked up again on every tick, so a
 * controller restarted by its supervisor is followed).
 */
export const make = (
  getController: () => Controller | undefined,
  totals: RequestTotals,
  options: EventStreamOptions = {},
): Effect.Effect<EventStreams, never, Scope.Scope> =>
  Effect.gen(function* () {
    const tickMs = options.tickMs ?? 1_000
    const maxStreams = options.maxStreams ?? 64
    const maxBuffered = options.maxBufferedBytes ?? 1_048_576
    const retryMs = options.retryMs ?? 1_000
    const scope = yield* Effect.scope
    const commands = yield* Queue.unbounded<Command>()
    const clients = new Set<Client>()
    let closed = false
    let ticks = 0

    const drop = (client: Client): void => {
      if (!clients.delete(client)) return
      client.response.destroy()
    }
    const write = (client: Client, frame: string): void => {
      if (client.response.destroyed || client.response.writableEnded) return void clients.delete(client)
      client.response.write(frame)
      if (client.response.writableLength > maxBuffered) drop(client)
    }
    const broadcast = (kind: StreamKind, frame: string): void => {
      for (const client of clients) if (client.kind === kind) write(client, frame)
    }

    // Following the controller: one subscription to its transitions, replaced when the instance changes.
    let followed: Controller | undefined
    let subscription: Fiber.Fiber<void> | undefined
    const follow = Effect.gen(function* () {
      const controller = getController()
      if (controller === followed) return
      if (subscription !== undefined) yield* Fiber.interrupt(subscription)
      followed = controller
      subscription = undefined
      if (controller === undefined) return
      subscription = yield* Effect.scoped(
        Effect.flatMap(PubSub.subscribe(controller.transitions), (sub) =>
          Effect.forever(Effect.flatMap(PubSub.take(sub), (transition) => Queue.offer(commands, { _tag: "transition", controller, transition }))),
        ),
      ).pipe(Effect.asVoid, Effect.forkIn(scope, { startImmediately: true }))
    })

    const snapshotFrame = (controller: Controller, kind: "full" | "periodic") =>
      Effect.flatMap(meshStatus(controller), (status) =>
        Effect.map(Clock.currentTimeMillis, (now) => eventFrame("snapshot", snapshotOf(status, { kind, now, requests: totals.observe(controller.workers()) }))),
      )

    const handle = (command: Command): Effect.Effect<void> => {
      switch (command._tag) {
        case "open": {
          const { client } = command
          if (client.response.destroyed) return Effect.void
          clients.add(client)
          const controller = getController()
          if (controller === undefined) return Effect.void
          if (client.kind === "inspect") {
            return Effect.map(Clock.currentTimeMillis, (now) => {
              for (const worker of controller.workers()) write(client, eventFrame(undefined, actorEvent(worker.id, worker.state, now)))
            })
          }
          return snapshotFrame(controller, "full").pipe(
            Effect.map((frame) => write(client, frame)),
            Effect.catch((error) => Effect.logWarning(`dashboard: no snapshot for a new stream: ${error.message}`)),
          )
        }
        case "transition": {
          const { controller, transition } = command
          if (clients.size === 0) return Effect.void
          return Effect.map(Clock.currentTimeMillis, (now) => {
            const view = controller.worker(transition.workerId)
            const event: TransitionEvent = view === undefined ? transition : { ...transition, worker: entryOf(view, now) }
            broadcast("dashboard", eventFrame("transition", event))
            for (const inspection of transitionEvents(transition)) broadcast("inspect", eventFrame(undefined, inspection))
          })
        }
        case "tick": {
          ticks++
          return Effect.gen(function* () {
            yield* follow
            const controller = getController()
            if (controller === undefined) return
            // Observed on every tick, dashboards or not, so request totals survive workers that come and go.
            if (![...clients].some((c) => c.kind === "dashboard")) return void totals.observe(controller.workers())
            const frame = yield* snapshotFrame(controller, "periodic").pipe(
              Effect.catch((error) => Effect.as(Effect.logWarning(`dashboard: no periodic snapshot: ${error.message}`), undefined)),
            )
            if (frame !== undefined) broadcast("dashboard", frame)
            // Inspect streams carry only changes: a comment now and then keeps proxies from timing them out.
            if (ticks % 15 === 0) broadcast("inspect", commentFrame("keepalive"))
          })
        }
      }
    }

    yield* follow
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(commands), handle)))
    yield* Effect.forkScoped(Effect.repeat(Queue.offer(commands, { _tag: "tick" }), Schedule.spaced(tickMs)))
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const client of clients) client.response.end()
        clients.clear()
      }),
    )

    return {
      open: (request, response, kind) => {
        if (closed) return refuse(response, 503, "the dashboard is shutting down")
        if (clients.size >= maxStreams) return refuse(response, 503, `too many event streams (limit ${maxStreams})`)
        response.writeHead(200, eventStreamHeaders)
        response.write(retryFrame(retryMs))
        // The stream is long-lived: send each event as it is written rather than waiting for more.
        request.socket.setNoDelay(true)
        const client: Client = { response, kind }
        response.on("close", () => void clients.delete(client))
        Queue.offerUnsafe(commands, { _tag: "open", client })
      },
      count: () => clients.size,
    } satisfies EventStreams
  })
