/**
 * The Transport contract as one suite, run against every implementation (as ws runs Autobahn): the in-memory
 * transport and the WebSocket transport must be indistinguishable to the actors above them.
 *
 * `transportConformance(name, makeTransport, addressFor)` registers the cases; `makeTransport` gives a fresh,
 * isolated transport per case and `addressFor` an address to listen on that binds a free port or name
 * (`ws://127.0.0.1:0`, `memory://`).
 */
import { Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { CrankError } from "../../capabilities/CrankError.ts"
import type { ControlMessage, Heartbeat, Invoke, Reply } from "../../transports/Envelope.ts"
import { type CloseInfo, type Connection, type Handlers, type Transport, TransportError } from "../../transports/Transport.ts"
import { eventually } from "../support/poll.ts"

/** An `Invoke` for one of the test capabilities `Peer` serves. */
export const invoke = (id: string, capability: string, input: unknown = null): Invoke => ({
  _tag: "Invoke",
  id,
  capability,
  range: "*",
  input,
  timeoutMs: 5_000,
})

const heartbeat = (seq: number): Heartbeat => ({ _tag: "Heartbeat", workerId: "w", seq, inFlight: 0, completed: 0 })

/**
 * One side of a test link: records what it hears and serves a few test capabilities.
 * - `test.echo` answers its input; `test.delay` does so after `input % 7` ms (answers come back out of order);
 * - `test.fail` answers a `Failure`; `test.defect` dies; `test.throw` throws before returning an effect;
 * - `test.hang` never answers, and records that it started and that it was interrupted.
 */
export class Peer {
  readonly messages: Array<ControlMessage> = []
  readonly closes: Array<CloseInfo> = []
  readonly connections: Array<Connection> = []
  readonly started = new Set<string>()
  readonly interrupted = new Set<string>()
  /** Items each streaming request's producer has made so far, by id. */
  readonly produced = new Map<string, number>()
  /** Streaming requests whose producer has finished (ended, failed, or cancelled: its `finally` ran). */
  readonly streamClosed = new Set<string>()

  readonly handlers = (connection: Connection): Handlers => {
    this.connections.push(connection)
    return {
      onMessage: (message) => void this.messages.push(message),
      serve: (request) => this.serve(request),
      serveStream: (request) => this.serveStream(request),
      onClose: (info) => void this.closes.push(info),
    }
  }

  /**
   * Streaming test capabilities, each a generator that makes one item per pull (so `produced` shows how far the
   * producer ran ahead of the consumer): `test.count` yields 1..input; `test.countFail` yields 1, 2, 3 and fails
   * `TEST_FAILED`; `test.endless` never ends.
   */
  serveStream(request: Invoke): Stream.Stream<unknown, CrankError> {
    const id = request.id
    const peer = this
    const limit = request.capability === "test.count" ? Number(request.input) : request.capability === "test.countFail" ? 3 : Number.POSITIVE_INFINITY
    if (!["test.count", "test.countFail", "test.endless"].includes(request.capability)) {
      return Stream.fail(new CrankError({ code: "NO_WORKER", message: `no stream ${request.capability}`, retriable: false }))
    }
    async function* items() {
      try {
        for (let n = 1; n <= limit; n++) {
          peer.produced.set(id, n)
          yield n
        }
        if (request.capability === "test.countFail") throw new CrankError({ code: "TEST_FAILED", message: "after three", retriable: false })
      } finally {
        peer.streamClosed.add(id)
      }
    }
    return Stream.fromAsyncIterable(items(), (error) => error as CrankError)
  }

  serve(request: Invoke): Effect.Effect<Reply> {
    const id = request.id
    switch (request.capability) {
      case "test.echo":
        return Effect.succeed({ _tag: "Result", id, output: request.input })
      case "test.delay":
        return Effect.as(Effect.sleep(Number(request.input) % 7), { _tag: "Result", id, output: request.input })
      case "test.fail":
        return Effect.succeed({ _tag: "Failure", id, code: "TEST_FAILED", message: "as asked", retriable: false })
      case "test.defect":
        return Effect.die(new Error("boom in the handler"))
      case "test.throw":
        throw new Error("thrown by serve")
      case "test.hang":
        return Effect.suspend(() => {
          this.started.add(id)
          return Effect.never
        }).pipe(Effect.onInterrupt(() => Effect.sync(() => void this.interrupted.add(id))))
      default:
        return Effect.succeed({ _tag: "Failure", id, code: "NO_WORKER", message: `no ${request.capability}`, retriable: false })
    }
  }
}

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

const expectFailure = (reply: Reply, id: string, code: string): void => {
  expect(reply._tag).toBe("Failure")
  expect(reply.id).toBe(id)
  if (reply._tag === "Failure") expect(reply.code).toBe(code)
}

export const transportConformance = (name: string, makeTransport: () => Transport, addressFor: () => string): void => {
  /** A listener and one client connected to it; the server-side connection once the listener has seen it. */
  const link = Effect.gen(function* () {
    const transport = makeTransport()
    const server = new Peer()
    const client = new Peer()
    const listener = yield* transport.listen(addressFor(), server.handlers)
    const connection = yield* transport.connect(listener.address, client.handlers)
    yield* eventually("the listener to accept", () => server.connections.length === 1)
    return { transport, server, client, listener, connection, serverSide: server.connections[0]! }
  })

  describe(`${name}: Transport conformance`, () => {
    it("listens and connects", () =>
      run(
        Effect.gen(function* () {
          const { connection, serverSide, listener } = yield* link
          expect(connection.isOpen()).toBe(true)
          expect(serverSide.isOpen()).toBe(true)
          expect(connection.remoteAddress).toBe(listener.address)
          expect(connection.id).not.toBe(serverSide.id)
        }),
      ))

    it("reports the address it bound, with the real port or name", () =>
      run(
        Effect.gen(function* () {
          const transport = makeTransport()
          const asked = addressFor()
          const listener = yield* transport.listen(asked, new Peer().handlers)
          expect(listener.address.split(":")[0]).toBe(asked.split(":")[0])
          expect(listener.address).not.toMatch(/:0(\/|$)/)
          expect(listener.address).not.toBe(asked)
        }),
      ))

    it("delivers one-way messages in order, both directions (1,000 each)", () =>
      run(
        Effect.gen(function* () {
          const { connection, serverSide, server, client } = yield* link
          const count = 1_000
          for (let seq = 0; seq < count; seq++) {
            yield* connection.send(heartbeat(seq))
            yield* serverSide.send(heartbeat(seq))
          }
          yield* eventually("all messages", () => server.messages.length === count && client.messages.length === count)
          const seqs = (messages: Array<ControlMessage>) => messages.map((m) => (m as Heartbeat).seq)
          const expected = Array.from({ length: count }, (_, i) => i)
          expect(seqs(server.messages)).toEqual(expected)
          expect(seqs(client.messages)).toEqual(expected)
        }),
      ))

    it("answers a call with its Result", () =>
      run(
        Effect.gen(function* () {
          const { connection } = yield* link
          const input = { text: "hello", n: 3, nested: { list: [1, "two", null] } }
          const reply = yield* connection.call(invoke("r1", "test.echo", input))
          expect(reply).toEqual({ _tag: "Result", id: "r1", output: input })
        }),
      ))

    it("answers a call with its Failure", () =>
      run(
        Effect.gen(function* () {
          const { connection } = yield* link
          const reply = yield* connection.call(invoke("f1", "test.fail"))
          expect(reply).toEqual({ _tag: "Failure", id: "f1", code: "TEST_FAILED", message: "as asked", retriable: false })
        }),
      ))

    it("turns a handler defect into INTERNAL for that request only, and keeps serving", () =>
      run(
        Effect.gen(function* () {
          const { connection } = yield* link
          const died = yield* connection.call(invoke("d1", "test.defect"))
          expectFailure(died, "d1", "INTERNAL")
          if (died._tag === "Failure") expect(died.message).toContain("boom in the handler")
          expectFailure(yield* connection.call(invoke("d2", "test.throw")), "d2", "INTERNAL")
          expect(connection.isOpen()).toBe(true)
          expect(yield* connection.call(invoke("d3", "test.echo", 7))).toEqual({ _tag: "Result", id: "d3", output: 7 })
        }),
      ))

    it("multiplexes 500 concurrent calls, each answered with its own reply", () =>
      run(
        Effect.gen(function* () {
          const { connection } = yield* link
          const ids = Array.from({ length: 500 }, (_, i) => i)
          const replies = yield* Effect.forEach(ids, (i) => connection.call(invoke(`m${i}`, "test.delay", i)), { concurrency: "unbounded" })
          replies.forEach((reply, i) => expect(reply).toEqual({ _tag: "Result", id: `m${i}`, output: i }))
        }),
      ))

    it("lets either side call the other", () =>
      run(
        Effect.gen(function* () {
          const { serverSide } = yield* link
          expect(yield* serverSide.call(invoke("s1", "test.echo", "from the server"))).toEqual({ _tag: "Result", id: "s1", output: "from the server" })
        }),
      ))

    it("cancels the handler on the serving side when the caller is interrupted", () =>
      run(
        Effect.gen(function* () {
          const { connection, server } = yield* link
          const caller = yield* Effect.forkChild(connection.call(invoke("h1", "test.hang")), { startImmediately: true })
          yield* eventually("the handler to start", () => server.started.has("h1"))
          yield* Fiber.interrupt(caller)
          yield* eventually("the handler to observe its interruption", () => server.interrupted.has("h1"))
          expect(connection.isOpen()).toBe(true)
          expect(yield* connection.call(invoke("h2", "test.echo", 2))).toEqual({ _tag: "Result", id: "h2", output: 2 })
        }),
      ))

    it("calls onClose once on both sides with the code and reason, when the client closes", () =>
      run(
        Effect.gen(function* () {
          const { connection, server, client } = yield* link
          yield* connection.close({ code: 4001, reason: "client says bye" })
          yield* eventually("the server to see the close", () => server.closes.length > 0)
          yield* connection.close({ code: 4999, reason: "again" })
          expect(connection.isOpen()).toBe(false)
          expect(client.closes).toEqual([{ code: 4001, reason: "client says bye" }])
          expect(server.closes).toEqual([{ code: 4001, reason: "client says bye" }])
        }),
      ))

    it("calls onClose once on both sides with the code and reason, when the server closes", () =>
      run(
        Effect.gen(function* () {
          const { connection, serverSide, server, client } = yield* link
          yield* serverSide.close({ code: 4002, reason: "server says bye" })
          yield* eventually("the client to see the close", () => client.closes.length > 0)
          expect(connection.isOpen()).toBe(false)
          expect(server.closes).toEqual([{ code: 4002, reason: "server says bye" }])
          expect(client.closes).toEqual([{ code: 4002, reason: "server says bye" }])
        }),
      ))

    for (const closer of ["caller", "serving side"] as const) {
      it(`answers calls pending at close with UNAVAILABLE and interrupts their handlers (closed by the ${closer})`, () =>
        run(
          Effect.gen(function* () {
            const { connection, serverSide, server } = yield* link
            const ids = ["p1", "p2", "p3"]
            const callers = yield* Effect.forEach(ids, (id) => Effect.forkChild(connection.call(invoke(id, "test.hang")), { startImmediately: true }))
            yield* eventually("the handlers to start", () => ids.every((id) => server.started.has(id)))
            yield* (closer === "caller" ? connection : serverSide).close({ code: 1000, reason: "done" })
            const replies = yield* Effect.forEach(callers, (caller) => Fiber.join(caller).pipe(Effect.timeout(5_000)))
            replies.forEach((reply, i) => expectFailure(reply, ids[i]!, "UNAVAILABLE"))
            yield* eventually("the handlers to be interrupted", () => ids.every((id) => server.interrupted.has(id)))
          }),
        ))
    }

    it("fails send and answers call with UNAVAILABLE after close", () =>
      run(
        Effect.gen(function* () {
          const { connection } = yield* link
          yield* connection.close()
          const error = yield* Effect.flip(connection.send(heartbeat(1)))
          expect(error).toBeInstanceOf(CrankError)
          expect(error.code).toBe("UNAVAILABLE")
          expectFailure(yield* connection.call(invoke("late", "test.echo")), "late", "UNAVAILABLE")
        }),
      ))

    it("fails to connect to an address nobody listens on", () =>
      run(
        Effect.gen(function* () {
          const transport = makeTransport()
          const scope = yield* Scope.make()
          const listener = yield* Scope.provide(transport.listen(addressFor(), new Peer().handlers), scope)
          yield* Scope.close(scope, Exit.void)
          const error = yield* Effect.flip(transport.connect(listener.address, new Peer().handlers))
          expect(error).toBeInstanceOf(TransportError)
          expect(error.reason).toBe("ConnectFailed")
          expect(error.message).not.toBe("")
        }),
      ))

    it("fails to listen twice on the same address", () =>
      run(
        Effect.gen(function* () {
          const transport = makeTransport()
          const listener = yield* transport.listen(addressFor(), new Peer().handlers)
          const error = yield* Effect.flip(transport.listen(listener.address, new Peer().handlers))
          expect(error).toBeInstanceOf(TransportError)
          expect(error.reason).toBe("ListenFailed")
        }),
      ))

    it("drops a listener's connections when its scope closes", () =>
      run(
        Effect.gen(function* () {
          const transport = makeTransport()
          const server = new Peer()
          const client = new Peer()
          const scope = yield* Scope.make()
          const listener = yield* Scope.provide(transport.listen(addressFor(), server.handlers), scope)
          const connection = yield* transport.connect(listener.address, client.handlers)
          yield* eventually("the listener to accept", () => server.connections.length === 1)
          yield* Scope.close(scope, Exit.void)
          yield* eventually("the client to see the close", () => client.closes.length > 0)
          expect(connection.isOpen()).toBe(false)
          expect(client.closes).toHaveLength(1)
          expect(client.closes[0]!.code).toBe(1001)
          expect(server.closes).toHaveLength(1)
          expect(server.closes[0]!.code).toBe(1001)
          const error = yield* Effect.flip(transport.connect(listener.address, new Peer().handlers))
          expect(error.reason).toBe("ConnectFailed")
        }),
      ))

    it("keeps other connections serving when one closes", () =>
      run(
        Effect.gen(function* () {
          const { transport, listener, connection } = yield* link
          const other = yield* transport.connect(listener.address, new Peer().handlers)
          yield* connection.close({ code: 1000, reason: "first leaves" })
          expect(yield* other.call(invoke("o1", "test.echo", "still here"))).toEqual({ _tag: "Result", id: "o1", output: "still here" })
        }),
      ))

    it("streams items in order within the caller's credit, and ends", () =>
      run(
        Effect.gen(function* () {
          const { connection, server } = yield* link
          const items = yield* Stream.runCollect(connection.stream({ ...invoke("s1", "test.count", 1_000), stream: 16 }))
          expect(items).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1))
          yield* eventually("the producer to finish", () => server.streamClosed.has("s1"))
        }),
      ))

    it("ends a failing stream with its typed error, after the items before it", () =>
      run(
        Effect.gen(function* () {
          const { connection } = yield* link
          const seen: Array<unknown> = []
          const error = yield* Effect.flip(
            Stream.runForEach(connection.stream({ ...invoke("s2", "test.countFail"), stream: 4 }), (n) => Effect.sync(() => seen.push(n))),
          )
          expect(seen).toEqual([1, 2, 3])
          expect(error).toMatchObject({ code: "TEST_FAILED", message: "after three" })
          const missing = yield* Effect.flip(Stream.runCollect(connection.stream({ ...invoke("s3", "test.nothing"), stream: 4 })))
          expect(missing.code).toBe("NO_WORKER")
        }),
      ))

    it("holds a fast producer to the slow consumer's window (memory stays bounded)", () =>
      run(
        Effect.gen(function* () {
          const { connection, server } = yield* link
          const window = 8
          const taken = 40
          const release = yield* Deferred.make<void>()
          let consumed = 0
          // The consumer takes 40 items, then stops taking (blocked) while the stream stays open.
          const consumer = yield* Effect.forkChild(
            Stream.runForEach(connection.stream({ ...invoke("s4", "test.endless"), stream: window }), () =>
              ++consumed === taken ? Deferred.await(release) : Effect.void,
            ),
            { startImmediately: true },
          )
          yield* eventually("the consumer to take its items", () => consumed === taken)
          // However long it waits, the producer stays within a window of what was taken (plus the item each stage on
          // the way pulls ahead): an unbounded producer would run on. Half a second here is room to run, not a bound.
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 500)))
          expect(server.produced.get("s4")!).toBeLessThanOrEqual(taken + window + 4)
          expect(server.produced.get("s4")!).toBeGreaterThanOrEqual(taken)
          yield* Fiber.interrupt(consumer)
          yield* eventually("the producer to be stopped", () => server.streamClosed.has("s4"))
        }),
      ))

    it("cancels the producer when the consumer stops early", () =>
      run(
        Effect.gen(function* () {
          const { connection, server } = yield* link
          const firstFive = yield* Stream.runCollect(Stream.take(connection.stream({ ...invoke("s5", "test.endless"), stream: 4 }), 5))
          expect(firstFive).toEqual([1, 2, 3, 4, 5])
          yield* eventually("the producer to be stopped", () => server.streamClosed.has("s5"))
          expect(connection.isOpen()).toBe(true)
          expect(yield* connection.call(invoke("s6", "test.echo", 6))).toEqual({ _tag: "Result", id: "s6", output: 6 })
        }),
      ))

    it("fails a running stream UNAVAILABLE when the link closes, and stops its producer", () =>
      run(
        Effect.gen(function* () {
          const { connection, server } = yield* link
          let consumed = 0
          const consumer = yield* Effect.forkChild(
            Effect.flip(Stream.runForEach(connection.stream({ ...invoke("s7", "test.endless"), stream: 4 }), () => Effect.sync(() => void consumed++))),
            { startImmediately: true },
          )
          yield* eventually("items to flow", () => consumed > 3)
          yield* connection.close({ code: 1000, reason: "leaving mid-stream" })
          const error = yield* Fiber.join(consumer)
          expect(error.code).toBe("UNAVAILABLE")
          yield* eventually("the producer to be stopped", () => server.streamClosed.has("s7"))
        }),
      ))
  })
}
