/**
 * Controller traffic on the federation's subjects with 3 controllers and N workers, in one process over a real
 * nats-server on a free loopback port. Not a test: it prints figures (docs/federation.md quotes them).
 *
 *   npx tsx tests/interop/federationTraffic.ts          (CRANK_FED_WORKERS=30,300 by default; 4 s windows)
 *
 * Each controller gets N/3 workers of its own capability (workers and clients reach it in memory; workers beat
 * every second). For each N it counts what each controller sent on the federation subjects (Alive, Delta, Snapshot)
 * while the workers join, then idle, then under load (a client per controller keeping 32 requests of 50 ms in
 * flight on its own capability, so in-flight figures keep changing). Every loop is bounded by time.
 */
import { Effect, Exit, Schema, Scope } from "effect"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import * as Federation from "../../actors/Federation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { defineCapability, defineWorker, implement } from "../../src/index.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { startNatsServer } from "../support/natsServer.ts"

const sizes = (process.env.CRANK_FED_WORKERS ?? "30,300").split(",").map(Number)
const windowMs = 4_000
const ids = ["a", "b", "c"] as const

const capabilityOf = (id: string) =>
  defineCapability({
    id: `load.${id}`,
    version: "1.0.0",
    description: "Sleeps ms.",
    input: Schema.Struct({ ms: Schema.Number }),
    output: Schema.Number,
  })

const measure = (natsUrl: string, workers: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const memory = MemoryTransport.make()
      const tunables = withTunables({ heartbeatIntervalMs: 1_000, staleAfterMs: 4_000 })
      const running = yield* Effect.forEach(ids, (id) =>
        Effect.gen(function* () {
          const federation = yield* Federation.make({ nats: natsUrl, controllerId: id })
          const controller = yield* Controller.make({ addresses: [`memory://controller-${id}`], elsewhere: federation.elsewhere })
          yield* federation.join(controller)
          return { id, federation, controller }
        }).pipe(tunables, Effect.provideService(Transport, memory), Effect.orDie),
      )
      const sent = () => running.map((r) => r.federation.traffic().sent)
      const window = (from: ReadonlyArray<{ messages: number; bytes: number }>, ms: number) =>
        sent().map((now, i) => ({
          messagesPerSecond: ((now.messages - from[i]!.messages) * 1_000) / ms,
          bytesPerSecond: ((now.bytes - from[i]!.bytes) * 1_000) / ms,
        }))
      yield* Effect.sleep(1_500)

      const beforeJoin = sent()
      const workerScope = yield* Scope.make()
      for (const id of ids) {
        const capability = capabilityOf(id)
        const definition = defineWorker({ name: `load-${id}`, implements: [implement(capability, ({ ms }) => Effect.as(Effect.sleep(ms), ms))] })
        for (let w = 0; w < workers / ids.length; w++) {
          yield* Worker.start(definition, { controller: `memory://controller-${id}`, workerId: `w-${id}-${w}` }).pipe(
            tunables,
            Effect.provideService(Transport, memory),
            Scope.provide(workerScope),
            Effect.orDie,
          )
        }
      }
      const joinStarted = Date.now()
      for (let i = 0; i < 200 && running.some((r) => r.controller.workers().filter((w) => w.state === "healthy").length < workers / ids.length); i++) {
        yield* Effect.sleep(50)
      }
      yield* Effect.sleep(1_000)
      const join = window(beforeJoin, Date.now() - joinStarted)
      const joinMessages = sent().map((now, i) => now.messages - beforeJoin[i]!.messages)

      const beforeIdle = sent()
      yield* Effect.sleep(windowMs)
      const idle = window(beforeIdle, windowMs)

      const clients = yield* Effect.forEach(ids, (id) =>
        Client.make({ controller: `memory://controller-${id}` }).pipe(Effect.provideService(Transport, memory)),
      )
      const until = Date.now() + windowMs
      let requests = 0
      const beforeLoad = sent()
      yield* Effect.forEach(
        ids.flatMap((id, i) => Array.from({ length: 32 }, () => ({ id, client: clients[i]! }))),
        ({ id, client }) =>
          Effect.gen(function* () {
            while (Date.now() < until) {
              yield* Effect.ignore(client.invoke(capabilityOf(id), { ms: 50 }))
              requests++
            }
          }),
        { concurrency: "unbounded", discard: true },
      )
      const load = window(beforeLoad, windowMs)
      yield* Scope.close(workerScope, Exit.void)
      return { workers, joinMessages, join, idle, load, requestsPerSecond: (requests * 1_000) / windowMs }
    }),
  )

const server = await startNatsServer()
try {
  for (const workers of sizes) {
    const result = await Effect.runPromise(measure(server.url, workers))
    const avg = (rows: ReadonlyArray<{ messagesPerSecond: number; bytesPerSecond: number }>) => ({
      messagesPerSecond: (rows.reduce((s, r) => s + r.messagesPerSecond, 0) / rows.length).toFixed(2),
      bytesPerSecond: (rows.reduce((s, r) => s + r.bytesPerSecond, 0) / rows.length).toFixed(0),
    })
    console.log(
      JSON.stringify({
        workers: result.workers,
        perController: {
          joinMessages: result.joinMessages,
          idle: avg(result.idle),
          load: avg(result.load),
        },
        requestsPerSecond: result.requestsPerSecond.toFixed(0),
      }),
    )
  }
} finally {
  await server.stop()
}
