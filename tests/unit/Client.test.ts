/**
 * The client against a fake controller on the in-memory transport: what one `invoke` costs in work the client
 * could have done once (Schema codecs, ref parsing), and what it sends.
 */

import { Effect, Exit, Schema, Scope } from "effect"
import { describe, expect, it, vi } from "vitest"
import * as Client from "../../actors/Client.ts"
import { defaults } from "../../actors/Tunables.ts"
import { defineCapability } from "../../capabilities/Capability.ts"
import { parseRef } from "../../capabilities/CapabilityRef.ts"
import type { Invoke, Reply } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"

vi.mock("../../capabilities/CapabilityRef.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../capabilities/CapabilityRef.ts")>()
  return { ...original, parseRef: vi.fn(original.parseRef) }
})

const scoped =
  <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  () =>
    Effect.runPromise(Effect.scoped(body).pipe(Effect.asVoid))

/** A controller that echoes each request's input back as `{ echoed }` and records what it was sent. */
const fakeController = Effect.gen(function* () {
  const transport = MemoryTransport.make()
  const received: Array<Invoke> = []
  yield* transport.listen("memory://controller", () => ({
    onMessage: () => {},
    onClose: () => {},
    serve: (invoke): Effect.Effect<Reply> => Effect.sync(() => (received.push(invoke), { _tag: "Result", id: invoke.id, output: { echoed: invoke.input } })),
  }))
  const client = yield* Client.make({ controller: "memory://controller", direct: false }).pipe(Effect.provideService(Transport, transport))
  return { client, received }
})

const Echo = defineCapability({
  id: "test.echo",
  version: "1.2.0",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Struct({ echoed: Schema.Struct({ n: Schema.Number }) }),
})

describe("Client", () => {
  it(
    "builds a capability's codecs once, not on every call",
    scoped(
      Effect.gen(function* () {
        const { client, received } = yield* fakeController
        // A capability whose schemas count how often the client asks for them.
        let reads = 0
        const counted = Object.create(Echo, {
          input: { get: () => (reads++, Echo.input) },
          output: { get: () => (reads++, Echo.output) },
        }) as typeof Echo
        for (let n = 0; n < 50; n++) expect(yield* client.invoke(counted, { n })).toEqual({ echoed: { n } })
        expect(reads).toBeLessThanOrEqual(2)
        expect(received.at(-1)).toMatchObject({ capability: "test.echo", range: "^1.2.0", input: { n: 49 } })
        // Input is still validated before anything is sent, and output on the way back.
        const bad = yield* Effect.flip(client.invoke(counted, { n: "x" } as never))
        expect(bad.code).toBe("INVALID_INPUT")
        expect(received.length).toBe(50)
      }),
    ),
  )

  it(
    "parses a string ref once, however often it is invoked; a bad ref is still INVALID_INPUT and never sent",
    scoped(
      Effect.gen(function* () {
        const { client, received } = yield* fakeController
        const parse = vi.mocked(parseRef)
        parse.mockClear()
        for (let i = 0; i < 50; i++) expect(yield* client.invoke("test.echo@^1", { i })).toEqual({ echoed: { i } })
        expect(parse).toHaveBeenCalledTimes(1)
        expect(received.at(-1)).toMatchObject({ capability: "test.echo", range: "^1" })
        // An explicit range still overrides the ref's.
        yield* client.invoke("test.echo@^1", {}, { range: "1.2.x" })
        expect(received.at(-1)).toMatchObject({ range: "1.2.x" })
        const bad = yield* Effect.flip(client.invoke("test.echo@not a range", {}))
        expect(bad.code).toBe("INVALID_INPUT")
        expect(received.length).toBe(51)
      }),
    ),
  )

  it(
    "gives each request a fresh id and the caller's budget",
    scoped(
      Effect.gen(function* () {
        const { client, received } = yield* fakeController
        yield* client.invoke(Echo, { n: 1 }, { timeoutMs: 250 })
        yield* client.invoke(Echo, { n: 2 })
        expect(received.map((i) => i.timeoutMs)).toEqual([250, defaults.requestTimeoutMs])
        expect(new Set(received.map((i) => i.id)).size).toBe(2)
      }),
    ),
  )
})

describe("request ids", () => {
  it("gives each run of one invoke effect its own id", async () => {
    const transport = MemoryTransport.make()
    const seen: Array<string> = []
    const scope = Effect.runSync(Scope.make())
    try {
      await Effect.runPromise(
        transport
          .listen("memory://controller", () => ({
            onMessage: () => {},
            onClose: () => {},
            serve: (invoke) => Effect.sync(() => (seen.push(invoke.id), { _tag: "Result" as const, id: invoke.id, output: 1 })),
          }))
          .pipe(Scope.provide(scope)),
      )
      const client = await Effect.runPromise(
        Client.make({ controller: "memory://controller", direct: false }).pipe(Effect.provideService(Transport, transport)).pipe(Scope.provide(scope)),
      )
      const once = client.invoke("demo.x", {})
      await Effect.runPromise(Effect.all([once, once, once], { concurrency: "unbounded" }))
      expect(new Set(seen).size).toBe(3)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
