/**
 * `NO_WORKER` messages as a caller sees them, end to end: a client (routing directly, so it falls back to the
 * controller's relay when its table has no route) against a controller whose workers the test drives by hand,
 * in virtual time. Each message says what the mesh has instead: the nearest id, the versions that exist, or
 * why the workers that match cannot take the request.
 */
import { Effect, References, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { type Capability, descriptorOf as describeCapability } from "../../capabilities/Capability.ts"
import type { CrankError } from "../../capabilities/CrankError.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { protocolVersion } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { settled } from "../support/poll.ts"

const address = "memory://controller"
const timings = { heartbeatIntervalMs: 100, staleAfterMs: 400, evictAfterMs: 1_000 }

const virtual =
  <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  () =>
    Effect.runPromise(Effect.scoped(body).pipe(Effect.asVoid, Effect.provide(TestClock.layer()), Effect.provideService(References.MinimumLogLevel, "Warn")))

/** A worker that registers and beats once, then does only what the test tells it. */
const fakeWorker = (transport: Transport, workerId: string, capabilities: ReadonlyArray<Capability>) =>
  Effect.gen(function* () {
    const connection = yield* transport.connect(address, () => ({
      onMessage: () => {},
      onClose: () => {},
      serve: (invoke) => Effect.succeed({ _tag: "Result", id: invoke.id, output: { greeting: "fake", worker: workerId } }),
    }))
    yield* connection.send({
      _tag: "Register",
      protocolVersion,
      workerId,
      nodeId: "fake-node",
      capabilities: capabilities.map(describeCapability),
      maxInFlight: 10,
    })
    yield* connection.send({ _tag: "Heartbeat", workerId, seq: 1, inFlight: 0, completed: 0 })
    return connection
  })

const mesh = Effect.gen(function* () {
  const transport = MemoryTransport.make()
  const { controller, client } = yield* Effect.gen(function* () {
    const controller = yield* Controller.make({ addresses: [address] })
    const client = yield* Client.make({ controller: address, timeoutMs: 1_000 })
    return { controller, client }
  }).pipe(withTunables(timings), Effect.provideService(Transport, transport))
  const stateOf = (id: string) => controller.worker(id)?.state
  const inState = (id: string, state: string) => settled(`${id} ${state}`, () => stateOf(id) === state, { show: () => stateOf(id) })
  return { transport, controller, client, inState }
})

const failureOf = <A>(effect: Effect.Effect<A, CrankError>) =>
  Effect.flip(effect).pipe(Effect.map((error) => ({ code: error.code, message: error.message, retriable: error.retriable })))

describe("NO_WORKER messages", () => {
  it(
    "an unknown id names the nearest id; a range nothing matches names the versions that exist",
    virtual(
      Effect.gen(function* () {
        const { transport, client, inState } = yield* mesh
        yield* fakeWorker(transport, "w1", [HelloGreet])
        yield* inState("w1", "healthy")

        expect(yield* failureOf(client.invoke("hello.gret", { message: "x" }))).toEqual({
          code: "NO_WORKER",
          message: 'no capability "hello.gret" in the mesh; did you mean hello.greet?',
          retriable: true,
        })
        expect((yield* failureOf(client.invoke("video.transcode", {}))).message).toBe('no capability "video.transcode" in the mesh; it offers hello.greet')
        expect((yield* failureOf(client.invoke("hello.greet@^2", { message: "x" }))).message).toBe(
          "hello.greet@^2: no version matches; the mesh has hello.greet 1.0.0",
        )
        expect((yield* failureOf(client.invoke(HelloGreet, { message: "x" }, { range: ">=1.0.1" }))).message).toBe(
          "hello.greet@>=1.0.1: no version matches; the mesh has hello.greet 1.0.0",
        )
        // And the routable case still routes.
        expect(yield* client.invoke(HelloGreet, { message: "x" })).toEqual({ greeting: "fake", worker: "w1" })
      }),
    ),
  )

  it(
    "versions that exist but no routable worker: says how many workers are in which state",
    virtual(
      Effect.gen(function* () {
        const { transport, controller, client, inState } = yield* mesh
        const w1 = yield* fakeWorker(transport, "w1", [HelloGreet])
        yield* fakeWorker(transport, "w2", [HelloGreet])
        yield* inState("w1", "healthy")
        yield* inState("w2", "healthy")

        // w1's link drops (stale until it returns or is evicted); w2 is asked to drain.
        yield* w1.close({ code: 1000, reason: "test" })
        yield* inState("w1", "stale")
        yield* controller.drain("w2")
        yield* inState("w2", "draining")

        expect(yield* failureOf(client.invoke(HelloGreet, { message: "x" }))).toEqual({
          code: "NO_WORKER",
          message: "no healthy worker serves hello.greet@^1.0.0 (1 stale, 1 draining)",
          retriable: true,
        })
      }),
    ),
  )

  it(
    "an empty mesh says no worker has registered",
    virtual(
      Effect.gen(function* () {
        const { client } = yield* mesh
        expect((yield* failureOf(client.invoke(HelloGreet, { message: "x" }))).message).toBe(
          'no capability "hello.greet" in the mesh; no worker has registered any (is a worker running?)',
        )
      }),
    ),
  )
})
