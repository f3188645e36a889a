/**
 * The client when the other end misbehaves, over WebSocket on 127.0.0.1: a controller that restarts under
 * concurrent callers, and peers that accept TCP but never upgrade (so a dial hangs until the transport's own
 * 10 s connect timeout). Every request must be answered within its own deadline.
 */
import * as net from "node:net"
import { Effect, Exit, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import * as DirectRoutes from "../../actors/DirectRoutes.ts"
import { CrankStatus } from "../../capabilities/crank.ts"
import type { Reply } from "../../transports/Envelope.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { recording } from "../support/recordingTransport.ts"

const silentServers: Array<{ readonly server: net.Server; readonly sockets: Set<net.Socket> }> = []
afterEach(async () => {
  for (const { server, sockets } of silentServers.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A TCP server that accepts connections and never answers (no WebSocket upgrade), on `port` (0: any). */
const silentServer = async (port = 0): Promise<number> => {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => void sockets.add(socket))
  silentServers.push({ server, sockets })
  await new Promise<void>((resolve, reject) => (server.once("error", reject), server.listen(port, "127.0.0.1", resolve)))
  return (server.address() as net.AddressInfo).port
}

const portOf = (address: string): number => Number(new URL(address).port)

/** Runs `body` in a scope, every party on the transport `makeTransport` gives (made when the test runs). */
const scoped =
  <T extends Transport, A, E>(makeTransport: () => T, body: (transport: T) => Effect.Effect<A, E, Scope.Scope | Transport>) =>
  () =>
    Effect.runPromise(
      Effect.suspend(() => {
        const transport = makeTransport()
        return Effect.scoped(body(transport)).pipe(Effect.asVoid, Effect.provideService(Transport, transport))
      }),
    )

describe("client resilience", () => {
  it(
    "answers 20 concurrent calls after the controller restarts, over one new connection",
    scoped(
      () => recording(WebSocketTransport.make()),
      (transport) =>
        Effect.gen(function* () {
          const first = yield* Scope.make()
          const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:0"] }).pipe(Scope.provide(first))
          const address = controller.address
          const client = yield* Client.make({ controller: address, direct: false, timeoutMs: 5_000 })
          yield* client.invoke(CrankStatus, {})
          // The controller restarts on the same port.
          yield* Scope.close(first, Exit.void)
          yield* Controller.make({ addresses: [address] })
          const exits = yield* Effect.forEach(
            Array.from({ length: 20 }, () => client.invoke(CrankStatus, {})),
            Effect.exit,
            { concurrency: "unbounded" },
          )
          expect(exits.filter(Exit.isFailure)).toEqual([])
          expect(transport.attempts(address)).toBe(2)
        }),
    ),
  )

  it(
    "answers TIMEOUT within the request's deadline when the controller's address accepts TCP but never upgrades",
    scoped(
      () => WebSocketTransport.make(),
      () =>
        Effect.gen(function* () {
          const first = yield* Scope.make()
          const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:0"] }).pipe(Scope.provide(first))
          const client = yield* Client.make({ controller: controller.address, direct: false })
          yield* client.invoke(CrankStatus, {})
          yield* Scope.close(first, Exit.void)
          // Something else now holds the port: it accepts and says nothing.
          yield* Effect.promise(() => silentServer(portOf(controller.address)))
          const started = Date.now()
          const error = yield* Effect.flip(client.invoke(CrankStatus, {}, { timeoutMs: 300 }))
          const elapsed = Date.now() - started
          expect(error.code).toBe("TIMEOUT")
          // The request's own 300 ms deadline ended it (not the transport's 10 s handshake timeout): its message says so.
          expect(error.message).toMatch(/\b300 ms\b/)
          expect(elapsed).toBeGreaterThanOrEqual(250)
        }),
    ),
  )

  it(
    "answers TIMEOUT within the request's deadline when a worker in the table accepts TCP but never upgrades",
    scoped(
      () => WebSocketTransport.make(),
      () =>
        Effect.gen(function* () {
          const port = yield* Effect.promise(() => silentServer())
          const relayed: Array<number> = []
          const routes = yield* DirectRoutes.make({
            refreshMs: 3_600_000,
            relay: (invoke) => Effect.sync((): Reply => (relayed.push(invoke.timeoutMs), { _tag: "Result", id: invoke.id, output: "relayed" })),
            fetch: Effect.succeed({
              workers: [{ id: "w", address: `ws://127.0.0.1:${port}`, capabilities: [{ id: "x.y", version: "1.0.0", idempotent: false }] }],
            }),
          })
          const started = Date.now()
          const reply = yield* routes.call({ _tag: "Invoke", id: "r1", capability: "x.y", range: "^1", input: null, timeoutMs: 300 })
          const elapsed = Date.now() - started
          expect(reply).toMatchObject({ _tag: "Failure", id: "r1", code: "TIMEOUT" })
          // The request's own 300 ms deadline ended it (not the transport's 10 s handshake timeout): its message says so.
          expect(reply._tag === "Failure" ? reply.message : "").toMatch(/\b300 ms\b/)
          expect(elapsed).toBeGreaterThanOrEqual(250)
          expect(relayed).toEqual([])
        }),
    ),
  )
})
