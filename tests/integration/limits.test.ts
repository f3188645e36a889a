/**
 * Limits that make abuse bounded, at the controller's edge: a connection that says nothing is closed after the
 * register deadline, one host cannot hold more than its share of connections, and a registration past a limit is
 * refused with `LIMIT_EXCEEDED` and its reason, while everyone else keeps being served. Each refusal is counted.
 */
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import WebSocket from "ws"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { descriptorOf } from "../../capabilities/Capability.ts"
import { CrankStatus } from "../../capabilities/crank.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { protocolVersion } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { type CloseInfo, Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { eventually, settled } from "../support/poll.ts"

const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

describe("limits at the controller's edge", () => {
  it("closes a connection that neither registers nor asks anything within the register deadline (virtual time)", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const transport = yield* Transport
        const controller = yield* Controller.make({ addresses: ["memory://controller"] })
        const closes: Array<CloseInfo> = []
        const silent = yield* transport.connect("memory://controller", () => ({
          onMessage: () => {},
          onClose: (info) => void closes.push(info),
          serve: () => Effect.die("unused"),
        }))
        const client = yield* Client.make({ controller: "memory://controller", direct: false })
        yield* TestClock.adjust(999)
        yield* settled("nothing yet", () => silent.isOpen())
        yield* TestClock.adjust(1)
        yield* settled("the silent one closed", () => !silent.isOpen())
        expect(closes).toEqual([{ code: 1008, reason: "no Register and no request within 1000 ms of connecting" }])
        // An idle client's link is closed the same way (it had asked nothing yet), and it simply redials when it
        // next has something to ask: an idle socket costs the controller nothing for long.
        expect((yield* client.invoke(CrankStatus, {})).workers).toEqual([])
        expect([...controller.refusals()]).toEqual([["silent", 2]])
      }).pipe(
        withTunables({ registerDeadlineMs: 1_000 }),
        Effect.provideService(Transport, MemoryTransport.make()),
        Effect.scoped,
        Effect.provide(TestClock.layer()),
        quiet,
      ),
    ))

  it("holds at most maxConnectionsPerHost connections from one host, and refuses an oversized registration, serving the rest", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:0"] })
        const open = (): Promise<{ socket: WebSocket; frames: Array<string>; closed: Promise<{ code: number; reason: string }> }> =>
          new Promise((resolve, reject) => {
            const socket = new WebSocket(controller.address)
            const frames: Array<string> = []
            socket.on("message", (data) => frames.push(String(data)))
            const closed = new Promise<{ code: number; reason: string }>((done) => socket.on("close", (code, reason) => done({ code, reason: String(reason) })))
            socket.once("open", () => resolve({ socket, frames, closed }))
            socket.once("error", reject)
          })
        const [a, b] = yield* Effect.promise(() => Promise.all([open(), open()]))
        const third = yield* Effect.promise(open)
        expect(yield* Effect.promise(() => third.closed)).toEqual({ code: 1008, reason: "more than 2 connections from 127.0.0.1" })
        expect(JSON.parse(third.frames[0]!)).toMatchObject({ _tag: "Failure", code: "LIMIT_EXCEEDED" })

        // One of the two registers far too much: refused with its reason, closed; the other still gets answers.
        const hello = descriptorOf(HelloGreet)
        a!.socket.send(
          JSON.stringify({
            _tag: "Register",
            protocolVersion,
            workerId: "greedy",
            nodeId: "n",
            capabilities: Array.from({ length: 1_000 }, (_, i) => ({ ...hello, id: `hello.greet${i}` })),
            maxInFlight: 1,
          }),
        )
        expect(yield* Effect.promise(() => a!.closed)).toEqual({ code: 1008, reason: "worker greedy advertises 1000 capabilities; the limit is 256" })
        expect(JSON.parse(a!.frames[0]!)).toMatchObject({
          _tag: "Failure",
          code: "LIMIT_EXCEEDED",
          message: "worker greedy advertises 1000 capabilities; the limit is 256",
        })
        expect(controller.workers()).toEqual([])
        b!.socket.send(JSON.stringify({ _tag: "Invoke", id: "s1", capability: "crank.status", range: "^1", input: {}, timeoutMs: 5_000 }))
        yield* eventually("status answered", () => b!.frames.length > 0)
        expect(JSON.parse(b!.frames[0]!)).toMatchObject({ _tag: "Result", id: "s1", output: { workers: [] } })
        // A slot freed by a close is free again.
        yield* eventually("the controller saw the closes", () => controller.refusals().get("host") === 1)
        const again = yield* Effect.promise(open)
        expect(again.socket.readyState).toBe(WebSocket.OPEN)
        for (const peer of [b!, again]) peer.socket.close()
        expect(Object.fromEntries(controller.refusals())).toEqual({ host: 1, capabilities: 1 })
      }).pipe(withTunables({ maxConnectionsPerHost: 2 }), Effect.provideService(Transport, WebSocketTransport.make()), Effect.scoped, quiet),
    ))
})
