/**
 * The client's link to the controller against a fake controller (a bare listener) that goes away and comes back:
 * in memory, and over WebSocket on 127.0.0.1, where a dial takes long enough for callers to pile up behind it.
 */
import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import * as ControllerLink from "../../actors/ControllerLink.ts"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { type Handlers, Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"

const scoped =
  <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  () =>
    Effect.runPromise(Effect.scoped(body).pipe(Effect.asVoid))

const request = (id: string, timeoutMs = 2_000): Invoke => ({ _tag: "Invoke", id, capability: "crank.status", range: "*", input: {}, timeoutMs })

const controllerHandlers = (): Handlers => ({
  onMessage: () => {},
  onClose: () => {},
  serve: (invoke): Effect.Effect<Reply> => Effect.succeed({ _tag: "Result", id: invoke.id, output: "ok" }),
})

/** A fake controller at `address` in a scope of its own, so a test can stop it and start it again. */
const controllerAt = (transport: Transport, address: string) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const listener = yield* transport.listen(address, controllerHandlers).pipe(Scope.provide(scope))
    return { address: listener.address, stop: Scope.close(scope, Exit.void) }
  })

describe("ControllerLink", () => {
  it(
    "fails to make when nothing listens: UNAVAILABLE, naming the controller and the transport's reason",
    scoped(
      Effect.gen(function* () {
        const error = yield* Effect.flip(ControllerLink.make({ address: "memory://nobody" }).pipe(Effect.provideService(Transport, MemoryTransport.make())))
        expect(error.code).toBe("UNAVAILABLE")
        expect(error.message).toBe("cannot reach the controller at memory://nobody: nothing listens at memory://nobody")
      }),
    ),
  )

  it(
    "answers UNAVAILABLE while the controller is away and dials again on the next call once it is back",
    scoped(
      Effect.gen(function* () {
        const transport = MemoryTransport.make()
        const first = yield* controllerAt(transport, "memory://controller")
        const link = yield* ControllerLink.make({ address: first.address }).pipe(Effect.provideService(Transport, transport))
        expect(yield* link.call(request("r1"))).toMatchObject({ _tag: "Result" })
        yield* first.stop
        expect(yield* link.call(request("r2"))).toMatchObject({ _tag: "Failure", id: "r2", code: "UNAVAILABLE" })
        yield* controllerAt(transport, "memory://controller")
        expect(yield* link.call(request("r3"))).toMatchObject({ _tag: "Result" })
        expect(link.dials()).toBe(3)
      }),
    ),
  )

  it(
    "shares one dial among concurrent callers after the controller restarts (WebSocket, 127.0.0.1)",
    scoped(
      Effect.gen(function* () {
        const transport = WebSocketTransport.make()
        const first = yield* controllerAt(transport, "ws://127.0.0.1:0")
        const link = yield* ControllerLink.make({ address: first.address }).pipe(Effect.provideService(Transport, transport))
        expect(yield* link.call(request("r0"))).toMatchObject({ _tag: "Result" })
        yield* first.stop
        yield* controllerAt(transport, first.address)
        const replies = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => request(`r${i + 1}`)),
          link.call,
          { concurrency: "unbounded" },
        )
        expect(replies.filter((r) => r._tag === "Failure")).toEqual([])
        expect(link.dials()).toBe(2)
      }),
    ),
  )
})
