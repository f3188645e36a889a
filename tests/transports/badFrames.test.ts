/**
 * What a WebSocket listener does with frames that are not envelopes, sent by a raw `ws` client: each is
 * answered `BAD_FRAME` and the connection keeps serving; oversized frames are closed with 1009; a peer that
 * keeps sending bad frames is closed with 1008 and a reason, while a well-behaved peer on the same listener
 * keeps getting answers.
 */

import { Effect, Exit, Scope } from "effect"
import * as Clock from "effect/Clock"
import { describe, expect, it } from "vitest"
import type { Reply } from "../../transports/Envelope.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { until } from "../support/poll.ts"
import { type Frame, RawPeer } from "../support/rawPeer.ts"
import { invoke, Peer } from "./conformance.ts"

interface Harness {
  readonly address: string
  readonly server: Peer
}

/**
 * Runs `body` against a fresh listener on 127.0.0.1 (free port), closed afterwards whatever happens. `now`, when
 * given, is the listener's `Clock` (the bad-frame window reads time from Effect's Clock of the scope that listened).
 */
const withListener = async (
  options: WebSocketTransport.WebSocketTransportOptions,
  body: (harness: Harness) => Promise<void>,
  now?: () => number,
): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  const transport = WebSocketTransport.make(options)
  const server = new Peer()
  const listen = Scope.provide(scope)(transport.listen("ws://127.0.0.1:0/mesh", server.handlers))
  try {
    const listener = await Effect.runPromise(now === undefined ? listen : Effect.provideService(listen, Clock.Clock, clockAt(now)))
    await body({ address: listener.address, server })
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const expectBadFrame = (frame: Frame, id: string | undefined, mentions: string | RegExp): void => {
  expect(frame._tag).toBe("Failure")
  expect(frame.code).toBe("BAD_FRAME")
  expect(frame.retriable).toBe(false)
  expect(frame.id).toBe(id)
  expect(frame.message).toMatch(mentions)
}

/** After a bad frame, the same connection still answers a good request. */
const expectStillServing = async (peer: RawPeer, id: string): Promise<void> => {
  peer.send(JSON.stringify(invoke(id, "test.echo", id)))
  expect(await peer.next()).toEqual({ _tag: "Result", id, output: id })
}

describe("WebSocketTransport: bad frames", () => {
  it("answers garbage bytes (not UTF-8) with BAD_FRAME and keeps serving", () =>
    withListener({}, async ({ address }) => {
      const peer = await RawPeer.connect(address)
      peer.send(Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]))
      expectBadFrame(await peer.next(), undefined, /UTF-8/)
      peer.send("\u0000\u0001 not an envelope at all %%%")
      expectBadFrame(await peer.next(), undefined, /not valid JSON/)
      await expectStillServing(peer, "g1")
      peer.close()
    }))

  it("answers a binary frame with BAD_FRAME, even one holding a valid envelope", () =>
    withListener({}, async ({ address }) => {
      const peer = await RawPeer.connect(address)
      peer.send(Buffer.from(JSON.stringify(invoke("b1", "test.echo"))), true)
      expectBadFrame(await peer.next(), undefined, /binary frames are not accepted/)
      await expectStillServing(peer, "b2")
      peer.close()
    }))

  it("answers invalid JSON and JSON that is not an object with BAD_FRAME", () =>
    withListener({}, async ({ address }) => {
      const peer = await RawPeer.connect(address)
      peer.send("{_tag: Invoke, id: 'x'}")
      expectBadFrame(await peer.next(), undefined, /not valid JSON/)
      for (const [text, kind] of [
        ["42", "a number"],
        ["[1,2]", "an array"],
        ["null", "null"],
        ['"Invoke"', "a string"],
      ] as const) {
        peer.send(text)
        expectBadFrame(await peer.next(), undefined, new RegExp(`must be a JSON object.*got ${kind}`))
      }
      await expectStillServing(peer, "j1")
      peer.close()
    }))

  it("answers a truncated envelope with BAD_FRAME under the id it could read", () =>
    withListener({}, async ({ address }) => {
      const peer = await RawPeer.connect(address)
      peer.send(JSON.stringify(invoke("t1", "test.echo", { long: "x".repeat(100) })).slice(0, -20))
      expectBadFrame(await peer.next(), "t1", /not valid JSON/)
      peer.send('{"_tag":"Invoke","id":"t2"')
      expectBadFrame(await peer.next(), "t2", /not valid JSON/)
      await expectStillServing(peer, "t3")
      peer.close()
    }))

  it("answers wrong-typed fields with BAD_FRAME naming the field, without running a handler", () =>
    withListener({}, async ({ address, server }) => {
      const peer = await RawPeer.connect(address)
      peer.send(JSON.stringify({ _tag: "Invoke", id: "w1", capability: 5, range: "*", input: null, timeoutMs: 1 }))
      expectBadFrame(await peer.next(), "w1", /invalid Invoke frame[\s\S]*capability/)
      peer.send(JSON.stringify({ _tag: "Invoke", id: "w2", capability: "test.hang", range: "*", input: null, timeoutMs: -1 }))
      expectBadFrame(await peer.next(), "w2", /timeoutMs/)
      expect(server.started.has("w2")).toBe(false)
      // An id that is not a string cannot name a request: the complaint goes back without one.
      peer.send(JSON.stringify({ _tag: "Invoke", id: 7, capability: "test.echo", range: "*", input: null, timeoutMs: 1 }))
      expectBadFrame(await peer.next(), undefined, /id/)
      peer.send(JSON.stringify({ _tag: "Heartbeat", workerId: "w", seq: "one", inFlight: 0, completed: 0 }))
      expectBadFrame(await peer.next(), undefined, /invalid Heartbeat frame[\s\S]*seq/)
      expect(server.messages).toEqual([])
      await expectStillServing(peer, "w3")
      peer.close()
    }))

  it("answers an unknown or missing _tag with BAD_FRAME listing the known ones", () =>
    withListener({}, async ({ address }) => {
      const peer = await RawPeer.connect(address)
      peer.send(JSON.stringify({ _tag: "Teleport", id: "u1" }))
      expectBadFrame(await peer.next(), "u1", /unknown _tag "Teleport" \(expected one of Register, .*Cancel, StreamChunk, StreamEnd, StreamCredit\)/)
      peer.send(JSON.stringify({ _tag: "__proto__" }))
      expectBadFrame(await peer.next(), undefined, /unknown _tag "__proto__"/)
      peer.send(JSON.stringify({ id: "u2", capability: "test.echo" }))
      expectBadFrame(await peer.next(), "u2", /no "_tag"/)
      await expectStillServing(peer, "u3")
      peer.close()
    }))

  it("answers a bad reply to one of its own calls: the call gets BAD_FRAME, the complaint goes back without the id", () =>
    withListener({}, async ({ address, server }) => {
      const peer = await RawPeer.connect(address)
      await until("the listener to accept", () => server.connections.length === 1)
      const reply = Effect.runPromise(server.connections[0]!.call(invoke("c1", "test.echo", 1)))
      const request = await peer.next()
      expect(request).toMatchObject({ _tag: "Invoke", id: "c1" })
      peer.send(JSON.stringify({ _tag: "Result", id: "c1" }))
      const answer: Reply = await reply
      expect(answer).toMatchObject({ _tag: "Failure", id: "c1", code: "BAD_FRAME" })
      expectBadFrame(await peer.next(), undefined, /invalid Result frame[\s\S]*output/)
      peer.close()
    }))

  it("answers a second request with an id already in service with BAD_FRAME", () =>
    withListener({}, async ({ address, server }) => {
      const peer = await RawPeer.connect(address)
      peer.send(JSON.stringify(invoke("dup", "test.hang")))
      await until("the handler to start", () => server.started.has("dup"))
      peer.send(JSON.stringify(invoke("dup", "test.echo")))
      expectBadFrame(await peer.next(), "dup", /already in service/)
      peer.send(JSON.stringify({ _tag: "Cancel", id: "dup" }))
      await until("the handler to be cancelled", () => server.interrupted.has("dup"))
      await expectStillServing(peer, "dup")
      peer.close()
    }))

  it("delivers a Failure without an id to the actor as a message", () =>
    withListener({}, async ({ address, server }) => {
      const peer = await RawPeer.connect(address)
      const complaint = { _tag: "Failure", code: "BAD_FRAME", message: "your frame was odd", retriable: false }
      peer.send(JSON.stringify(complaint))
      await until("the complaint to arrive", () => server.messages.length === 1)
      expect(server.messages[0]).toEqual(complaint)
      peer.close()
    }))

  it("closes a connection that sends a frame over maxPayload with 1009; others are unaffected", () =>
    withListener({ maxPayload: 64 * 1024 }, async ({ address, server }) => {
      const bystander = await RawPeer.connect(address)
      const peer = await RawPeer.connect(address)
      await until("both connections", () => server.connections.length === 2)
      peer.send(JSON.stringify(invoke("big", "test.echo", "x".repeat(100 * 1024))))
      expect((await peer.waitClosed()).code).toBe(1009)
      await until("the listener's side to close", () => server.closes.length === 1)
      expect(server.closes[0]!.code).toBe(1009)
      expect(server.closes[0]!.reason).toMatch(/maxPayload \(65536 bytes\)/)
      // Just under the limit is fine.
      await expectStillServing(bystander, "ok1")
      bystander.send(JSON.stringify(invoke("near", "test.echo", "y".repeat(60 * 1024))))
      expect(await bystander.next()).toMatchObject({ _tag: "Result", id: "near" })
      bystander.close()
    }))

  it("closes a peer that spams bad frames with 1008 and a reason, while a well-behaved client keeps getting answers", () =>
    withListener({ maxBadFrames: 10, badFrameWindowMs: 60_000 }, async ({ address, server }) => {
      const transport = WebSocketTransport.make()
      const good = new Peer()
      const scope = Effect.runSync(Scope.make())
      try {
        const connection = await Effect.runPromise(Scope.provide(scope)(transport.connect(address, good.handlers)))
        const spammer = await RawPeer.connect(address)
        let answered = 0
        // The good client calls continuously while the spammer works, and a little after.
        const calls = Effect.runPromise(
          Effect.gen(function* () {
            for (let i = 0; i < 300; i++) {
              const reply = yield* connection.call(invoke(`g${i}`, "test.echo", i))
              expect(reply).toEqual({ _tag: "Result", id: `g${i}`, output: i })
              answered++
              if (i % 10 === 0) yield* Effect.yieldNow
            }
          }),
        )
        // Bad frames interleaved with the good client's answers: five answers between each two bad frames.
        for (let i = 0; i < 25 && spammer.closed === undefined; i++) {
          spammer.send(`garbage ${i}`)
          const target = answered + 5
          await until("the good client's answers to keep coming", () => answered >= target)
        }
        const closed = await spammer.waitClosed()
        expect(closed.code).toBe(1008)
        expect(closed.reason).toMatch(/too many bad frames: more than 10 in 60000 ms/)
        // Ten complaints, then the close: the eleventh bad frame is not answered.
        expect(spammer.frames).toHaveLength(10)
        for (const frame of spammer.frames) expectBadFrame(frame, undefined, /not valid JSON/)
        await calls
        expect(answered).toBe(300)
        expect(connection.isOpen()).toBe(true)
        expect(server.closes.map((info) => info.code)).toEqual([1008])
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    }))

  it("forgets old bad frames once the window has passed", () => {
    let now = 1_000_000
    return withListener(
      { maxBadFrames: 2, badFrameWindowMs: 50 },
      async ({ address }) => {
        const peer = await RawPeer.connect(address)
        for (let round = 0; round < 3; round++) {
          peer.send("bad")
          peer.send("bad")
          expectBadFrame(await peer.next(), undefined, /JSON/)
          expectBadFrame(await peer.next(), undefined, /JSON/)
          now += 50
        }
        expect(peer.closed).toBeUndefined()
        await expectStillServing(peer, "win")
        // Within one window, the third bad frame is one too many.
        for (let i = 0; i < 3; i++) peer.send("bad")
        expect((await peer.waitClosed()).code).toBe(1008)
      },
      () => now,
    )
  })
})

/** A `Clock` that reads `now()`: time moves only when the test moves it. */
const clockAt = (now: () => number): Clock.Clock => ({
  ...Clock.Clock.defaultValue(),
  currentTimeMillisUnsafe: now,
  currentTimeMillis: Effect.sync(now),
  currentTimeNanosUnsafe: () => BigInt(now()) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
  sleep: (duration) => Effect.sleep(duration),
})
