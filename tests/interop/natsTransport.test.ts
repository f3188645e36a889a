/**
 * The NATS transport against a real `nats-server` (started by the test on a free 127.0.0.1 port, killed after):
 * the whole transport conformance suite, then what only NATS has: the server dying under live connections, a
 * peer's process dying, a peer that stops answering pings, the server's max_payload, frames that are not
 * envelopes, and a listener that outlives a server restart.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { type Msg, type NatsConnection, connect as natsConnect, nuid } from "@nats-io/transport-node"
import { Effect, Fiber, Schedule, type Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { CrankError } from "../../capabilities/CrankError.ts"
import type { Heartbeat, Invoke, Reply } from "../../transports/Envelope.ts"
import * as NatsTransport from "../../transports/NatsTransport.ts"
import { type NatsServer, startNatsServer } from "../support/natsServer.ts"
import { eventually } from "../support/poll.ts"
import { repoRoot } from "../support/processes.ts"
import { invoke, Peer, transportConformance } from "../transports/conformance.ts"

let shared: NatsServer | undefined

beforeAll(async () => {
  // A missing nats-server fails here, with the command that installs it.
  shared = await startNatsServer()
})

afterAll(async () => {
  await shared?.stop()
})

const sharedUrl = (): string => {
  if (shared === undefined) throw new Error("nats-server did not start (see the beforeAll failure)")
  return shared.url
}

transportConformance("NatsTransport over nats-server on 127.0.0.1", () => NatsTransport.make(), sharedUrl)

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

/** The NATS server's default max_payload: nats-server is started without a config, so this is its limit. */
const maxPayload = 1024 * 1024
const oversize = "x".repeat(maxPayload + 1)

const heartbeat = (seq: number, workerId = "w"): Heartbeat => ({ _tag: "Heartbeat", workerId, seq, inFlight: 0, completed: 0 })

/**
 * The conformance peer plus capabilities of a given size: `test.big` answers `input` characters; `test.items`
 * streams `input.count` items of `input.size` characters each; `test.itemsThenHuge` streams two small items, then
 * one over max_payload.
 */
class SizedPeer extends Peer {
  override serve(request: Invoke): Effect.Effect<Reply> {
    if (request.capability !== "test.big") return super.serve(request)
    return Effect.succeed({ _tag: "Result", id: request.id, output: "y".repeat(Number(request.input)) })
  }

  override serveStream(request: Invoke): Stream.Stream<unknown, CrankError> {
    if (request.capability === "test.items") {
      const { count, size } = request.input as { count: number; size: number }
      return Stream.range(1, count).pipe(Stream.map((n) => `${n}:`.padEnd(size, "z")))
    }
    if (request.capability === "test.itemsThenHuge") return Stream.make("a", "b", oversize)
    return super.serveStream(request)
  }
}

/** A listener and a client, each with a transport (a NATS client) of its own, on the server at `url`. */
const link = (url: string, options: NatsTransport.NatsTransportOptions = {}, makeServer = () => new Peer()) =>
  Effect.gen(function* () {
    const server = makeServer()
    const client = new Peer()
    const listener = yield* NatsTransport.make(options).listen(url, server.handlers)
    const connection = yield* NatsTransport.make(options).connect(listener.address, client.handlers)
    yield* eventually("the listener to accept", () => server.connections.length === 1)
    return { server, client, listener, connection, serverSide: server.connections[0]! }
  })

/** A bare NATS client for hand-made traffic, closed with the scope. */
const rawNats = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(() => natsConnect({ servers: url.replace("nats://", "") })),
    (nc) => Effect.promise(() => nc.close()),
  )

/** Dials a listener by hand: subscribes an inbox that records what arrives, and does the Connect handshake. */
const rawDial = (nc: NatsConnection, name: string) =>
  Effect.promise(async () => {
    const inbox = `crank.conn.${nuid.next()}`
    const received: Array<Msg> = []
    nc.subscribe(inbox, { callback: (_error, msg) => void received.push(msg) })
    const reply = await nc.request(`crank.listen.${name}`, JSON.stringify({ _tag: "Connect", version: 1, inbox }), { timeout: 5_000 })
    const accepted = reply.json<{ _tag: string; inbox: string }>()
    expect(accepted._tag).toBe("Accepted")
    return { inbox, peer: accepted.inbox, received }
  })

const nameOf = (address: string): string => new URL(address).pathname.slice(1)

describe("NatsTransport: what only NATS has", () => {
  it("closes every connection 1006 and answers waiting callers UNAVAILABLE when the NATS server dies", async () => {
    const own = await startNatsServer()
    try {
      await run(
        Effect.gen(function* () {
          const { server, client, connection, serverSide } = yield* link(own.url)
          const call = yield* Effect.forkChild(connection.call(invoke("k1", "test.hang")), { startImmediately: true })
          let consumed = 0
          const consumer = yield* Effect.forkChild(
            Effect.flip(Stream.runForEach(connection.stream({ ...invoke("k2", "test.endless"), stream: 4 }), () => Effect.sync(() => void consumed++))),
            { startImmediately: true },
          )
          yield* eventually("the handler to start and items to flow", () => server.started.has("k1") && consumed > 3)

          yield* Effect.promise(() => own.kill())

          const reply = yield* Fiber.join(call)
          expect(reply).toMatchObject({ _tag: "Failure", id: "k1", code: "UNAVAILABLE" })
          expect((yield* Fiber.join(consumer)).code).toBe("UNAVAILABLE")
          yield* eventually("both ends to close", () => client.closes.length === 1 && server.closes.length === 1)
          for (const closes of [client.closes, server.closes]) {
            expect(closes).toEqual([{ code: 1006, reason: expect.stringContaining("lost the NATS server at 127.0.0.1:") }])
          }
          expect(server.interrupted.has("k1")).toBe(true)
          expect(server.streamClosed.has("k2")).toBe(true)
          expect(connection.isOpen()).toBe(false)
          expect(serverSide.isOpen()).toBe(false)
          expect((yield* Effect.flip(connection.send(heartbeat(1)))).code).toBe("UNAVAILABLE")
          expect(yield* connection.call(invoke("k3", "test.echo"))).toMatchObject({ _tag: "Failure", code: "UNAVAILABLE" })
        }),
      )
    } finally {
      await own.stop()
    }
  })

  it("closes the listener's end 1006 when the peer's process dies, answering its waiting callers UNAVAILABLE", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const listener = yield* NatsTransport.make({ pingIntervalMs: 100 }).listen(sharedUrl(), server.handlers)
        const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "tests/interop/natsPeerProcess.ts"), listener.address], {
          cwd: repoRoot,
          stdio: ["ignore", "pipe", "pipe"],
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
        let output = ""
        child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
        child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
        yield* eventually("the peer process to connect", () => output.includes("connected") && server.connections.length === 1, {
          timeoutMs: 30_000,
          show: () => output,
        })
        const serverSide = server.connections[0]!
        const call = yield* Effect.forkChild(serverSide.call(invoke("c1", "anything")), { startImmediately: true })
        // Pings keep going while the peer lives: nothing closes.
        yield* Effect.sleep("300 millis")
        expect(server.closes).toEqual([])

        child.kill("SIGKILL")

        expect(yield* Fiber.join(call)).toMatchObject({ _tag: "Failure", id: "c1", code: "UNAVAILABLE" })
        yield* eventually("the listener's end to close", () => server.closes.length === 1)
        // Which of the two liveness checks fires depends on where the dying process was: gone from the server
        // before a ping (no responders), or while one was on its way to it (no answer by the next tick).
        expect(server.closes).toEqual([
          {
            code: 1006,
            reason: expect.stringMatching(
              /^(no pong from the peer within 100 ms|the peer's subject \S+ has no subscriber: its process or its NATS connection is gone)$/,
            ),
          },
        ])
      }),
    ))

  it("closes a peer that stops answering pings with 1006 'no pong', and tells it so in a Close frame", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const listener = yield* NatsTransport.make({ pingIntervalMs: 50 }).listen(sharedUrl(), server.handlers)
        // Subscribed, so pings reach it (no "no responders"), but it never answers them.
        const raw = yield* rawDial(yield* rawNats(sharedUrl()), nameOf(listener.address))
        yield* eventually("the silent peer to be dropped", () => server.closes.length === 1)
        expect(server.closes).toEqual([{ code: 1006, reason: "no pong from the peer within 50 ms" }])
        const close = yield* eventually("the Close frame", () => raw.received.find((msg) => msg.headers?.get("Crank-Control") === "close"))
        expect(close.json()).toEqual({ code: 1006, reason: "no pong from the peer within 50 ms" })
        expect(raw.received.filter((msg) => msg.headers?.get("Crank-Control") === "ping").length).toBeGreaterThanOrEqual(1)
      }),
    ))

  it("fails an oversize call, send, reply or streaming request with LIMIT_EXCEEDED, and keeps the connection", () =>
    run(
      Effect.gen(function* () {
        const { server, client, connection, serverSide } = yield* link(sharedUrl(), {}, () => new SizedPeer())

        const call = yield* connection.call(invoke("o1", "test.echo", oversize))
        expect(call).toMatchObject({ _tag: "Failure", id: "o1", code: "LIMIT_EXCEEDED", retriable: false })
        if (call._tag === "Failure")
          expect(call.message).toMatch(new RegExp(`the request o1 is \\d+ bytes, over the NATS server's max_payload of ${maxPayload} bytes`))
        expect(server.started.size).toBe(0)

        const send = yield* Effect.flip(connection.send(heartbeat(1, oversize)))
        expect(send.code).toBe("LIMIT_EXCEEDED")

        const reply = yield* connection.call(invoke("o2", "test.big", maxPayload + 1))
        expect(reply).toMatchObject({ _tag: "Failure", id: "o2", code: "LIMIT_EXCEEDED" })
        if (reply._tag === "Failure") expect(reply.message).toContain("the reply to o2 is")

        const stream = yield* Effect.flip(Stream.runCollect(connection.stream({ ...invoke("o3", "test.count", oversize), stream: 4 })))
        expect(stream.code).toBe("LIMIT_EXCEEDED")

        // Still open both ways, in order, and either side may still call.
        expect(connection.isOpen() && serverSide.isOpen()).toBe(true)
        yield* connection.send(heartbeat(2))
        yield* serverSide.send(heartbeat(3))
        yield* eventually("the small messages", () => server.messages.length === 1 && client.messages.length === 1)
        expect((server.messages[0] as Heartbeat).seq).toBe(2)
        expect(yield* connection.call(invoke("o4", "test.big", 1_000))).toEqual({ _tag: "Result", id: "o4", output: "y".repeat(1_000) })
        expect(yield* serverSide.call(invoke("o5", "test.echo", "back"))).toEqual({ _tag: "Result", id: "o5", output: "back" })
        expect(server.closes).toEqual([])
      }),
    ))

  it("splits a stream chunk too large for one message, and fails a stream at an item too large alone, after the items before it", () =>
    run(
      Effect.gen(function* () {
        const { connection } = yield* link(sharedUrl(), {}, () => new SizedPeer())
        // 8 items of 300 KiB granted at once: 2.4 MiB would be one chunk, over max_payload.
        const size = 300 * 1024
        const items = yield* Stream.runCollect(connection.stream({ ...invoke("t1", "test.items", { count: 24, size }), stream: 8 }))
        expect(items.map((item) => (item as string).split(":")[0])).toEqual(Array.from({ length: 24 }, (_, i) => String(i + 1)))
        expect(items.every((item) => (item as string).length === size)).toBe(true)

        const seen: Array<unknown> = []
        const error = yield* Effect.flip(
          Stream.runForEach(connection.stream({ ...invoke("t2", "test.itemsThenHuge"), stream: 8 }), (item) => Effect.sync(() => seen.push(item))),
        )
        expect(seen).toEqual(["a", "b"])
        expect(error.code).toBe("LIMIT_EXCEEDED")
        expect(error.message).toContain("an item of stream t2 is")
        expect(connection.isOpen()).toBe(true)
      }),
    ))

  it("answers frames that are not envelopes BAD_FRAME, closes 1008 past maxBadFrames, and refuses a forged inbox", () =>
    run(
      Effect.gen(function* () {
        const server = new Peer()
        const listener = yield* NatsTransport.make({ maxBadFrames: 3 }).listen(sharedUrl(), server.handlers)
        const nc = yield* rawNats(sharedUrl())
        const name = nameOf(listener.address)

        const forged = yield* Effect.promise(() =>
          nc.request(`crank.listen.${name}`, JSON.stringify({ _tag: "Connect", version: 1, inbox: `crank.listen.${name}` }), { timeout: 5_000 }),
        )
        expect(forged.json()).toEqual({ _tag: "Refused", reason: `inbox "crank.listen.${name}" is not a crank.conn.<id> subject` })
        expect(server.connections).toHaveLength(0)

        const raw = yield* rawDial(nc, name)
        nc.publish(raw.peer, "not json")
        nc.publish(raw.peer, JSON.stringify({ _tag: "Invoke", id: "b1" }))
        const complaints = () => raw.received.filter((msg) => msg.headers === undefined).map((msg) => msg.json<Record<string, unknown>>())
        yield* eventually("two BAD_FRAME answers", () => complaints().length === 2)
        expect(complaints()[0]).toMatchObject({ _tag: "Failure", code: "BAD_FRAME" })
        expect(complaints()[0]!.id).toBeUndefined()
        expect(complaints()[1]).toMatchObject({ _tag: "Failure", id: "b1", code: "BAD_FRAME" })
        expect(server.closes).toEqual([])

        nc.publish(raw.peer, Buffer.from([0xff, 0xfe]))
        nc.publish(raw.peer, "[]")
        yield* eventually("the listener to close the peer", () => server.closes.length === 1)
        expect(server.closes[0]).toEqual({ code: 1008, reason: "too many bad frames: more than 3 in 10000 ms" })
        const close = yield* eventually("the Close frame", () => raw.received.find((msg) => msg.headers?.get("Crank-Control") === "close"))
        expect(close.json<{ code: number }>().code).toBe(1008)
      }),
    ))

  it("keeps a listener through a NATS server restart: its connections close 1006, and it accepts again once the server is back", async () => {
    let own = await startNatsServer()
    const port = own.port
    try {
      await run(
        Effect.gen(function* () {
          // Reconnects forever by default; sooner than NATS's 2 s here.
          const options: NatsTransport.NatsTransportOptions = { nats: { reconnectTimeWait: 50 } }
          const { server, client, listener } = yield* link(own.url, options)
          yield* Effect.promise(() => own.kill())
          yield* eventually("both ends to close", () => client.closes.length === 1 && server.closes.length === 1)
          expect(client.closes[0]!.code).toBe(1006)

          own = yield* Effect.promise(() => startNatsServer({ port }))
          const again = new Peer()
          const dialler = NatsTransport.make({ ...options, connectTimeoutMs: 1_000 })
          // Until the listener's client has reconnected and subscribed again, nothing answers: ConnectFailed, retried.
          const connection = yield* dialler.connect(listener.address, again.handlers).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 }))
          expect(yield* connection.call(invoke("r1", "test.echo", "after the restart"))).toEqual({ _tag: "Result", id: "r1", output: "after the restart" })
          expect(server.connections).toHaveLength(2)
        }),
      )
    } finally {
      await own.stop()
    }
  })
})
