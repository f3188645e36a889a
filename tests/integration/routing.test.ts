/**
 * Routing strategies and breakers on a whole mesh in one process (controller, workers and clients on one
 * `MemoryTransport`), through the client's direct path and the controller's relay: placement, prefer-local,
 * per-call and per-capability strategies, and a breaker that stops routing to a failing worker.
 */
import { Effect, Schema, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { implement } from "../../actors/Implementation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { defineWorker, type WorkerDefinition } from "../../actors/WorkerDefinition.ts"
import { defineCapability } from "../../capabilities/Capability.ts"
import { CrankStatus } from "../../capabilities/crank.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"

const tunables = {
  heartbeatIntervalMs: 20,
  staleAfterMs: 500,
  evictAfterMs: 1_000,
  registerBackoffInitialMs: 5,
  registerBackoffMaxMs: 20,
  breakerFailures: 3,
  breakerCoolDownMs: 60_000,
}

const Served = Schema.Struct({ worker: Schema.String })
const Echo = defineCapability({ id: "demo.echo", version: "1.0.0", input: Schema.Struct({ userId: Schema.String }), output: Served })
const Infer = defineCapability({
  id: "ml.infer",
  version: "1.0.0",
  input: Schema.Struct({}),
  output: Served,
  placement: { labels: { gpu: "true" } },
})
const Sticky = defineCapability({
  id: "demo.sticky",
  version: "1.0.0",
  input: Schema.Struct({ userId: Schema.String }),
  output: Served,
  routing: { strategy: "affinity", key: (input: { readonly userId: string }) => input.userId },
})
/** Fails with a defect (INTERNAL) on workers named `bad`. */
const Flaky = defineCapability({ id: "demo.flaky", version: "1.0.0", input: Schema.Struct({}), output: Served })

const served = (_: unknown, { workerId }: { readonly workerId: string }) => ({ worker: workerId })

const mesh = Effect.gen(function* () {
  const transport = MemoryTransport.make()
  const controller = yield* Controller.make({ addresses: ["memory://controller"] }).pipe(withTunables(tunables), Effect.provideService(Transport, transport))
  const start = (definition: WorkerDefinition, name: string, nodeId = "n1") =>
    Worker.start(definition, { controller: controller.address, listen: `memory://${name}`, nodeId }).pipe(
      withTunables(tunables),
      Effect.provideService(Transport, transport),
    )
  const client = (options: Partial<Client.ClientOptions> = {}) =>
    Client.make({ controller: controller.address, timeoutMs: 2_000, ...options }).pipe(
      withTunables({ breakerFailures: 3, breakerCoolDownMs: 60_000 }),
      Effect.provideService(Transport, transport),
    )
  const healthy = (n: number) => awaitWorkers(controller, (ws) => ws.filter((w) => w.state === "healthy").length === n, 5_000)
  return { controller, start, client, healthy }
})

const scoped =
  <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  () =>
    Effect.runPromise(Effect.scoped(body).pipe(Effect.asVoid))

const tally = (ids: ReadonlyArray<string>) => {
  const counts: Record<string, number> = {}
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1
  return counts
}

const times = <A, E>(n: number, effect: Effect.Effect<A, E>) => Effect.forEach(Array.from({ length: n }), () => effect)

describe("routing on a mesh", () => {
  it(
    "routes a capability requiring a GPU only to the GPU worker, and keeps the GPU worker for such work (direct and relay)",
    scoped(
      Effect.gen(function* () {
        const { start, client, healthy } = yield* mesh
        const gpu = yield* start(
          defineWorker({ name: "gpu", placement: { labels: { gpu: "true" } }, implements: [implement(Infer, served), implement(Echo, served)] }),
          "gpu",
        )
        // Built by hand, past defineWorker's check: a worker that claims ml.infer without the label.
        const rogue = yield* start({ name: "plain", implementations: [implement(Infer, served), implement(Echo, served)] }, "plain")
        yield* healthy(2)
        for (const c of [yield* client(), yield* client({ direct: false })]) {
          const infer = yield* times(20, c.invoke(Infer, {}))
          expect(tally(infer.map((o) => o.worker))).toEqual({ [gpu.id]: 20 })
          const echo = yield* times(20, c.invoke(Echo, { userId: "u" }))
          expect(tally(echo.map((o) => o.worker))).toEqual({ [rogue.id]: 20 })
          const placed = yield* times(20, c.invoke(Echo, { userId: "u" }, { placement: { gpu: true } }))
          expect(tally(placed.map((o) => o.worker))).toEqual({ [gpu.id]: 20 })
        }
      }),
    ),
  )

  it(
    "a call asking for a placement no worker offers is NO_WORKER, saying what it asked (direct and relay)",
    scoped(
      Effect.gen(function* () {
        const { start, client, healthy } = yield* mesh
        yield* start(defineWorker({ name: "echo", implements: [implement(Echo, served)] }), "echo")
        yield* healthy(1)
        for (const c of [yield* client(), yield* client({ direct: false })]) {
          const error = yield* Effect.flip(c.invoke(Echo, { userId: "u" }, { placement: { gpu: true } }))
          expect(error.code).toBe("NO_WORKER")
          expect(error.message).toContain('offering {"gpu":true}')
        }
      }),
    ),
  )

  it(
    "prefers a healthy worker on the caller's node (direct and relay), and goes elsewhere when there is none",
    scoped(
      Effect.gen(function* () {
        const { start, client, healthy } = yield* mesh
        const definition = defineWorker({ name: "echo", implements: [implement(Echo, served)] })
        const far = yield* start(definition, "far", "n1")
        const near = yield* start(definition, "near", "n2")
        yield* healthy(2)
        for (const local of [yield* client({ nodeId: "n2" }), yield* client({ nodeId: "n2", direct: false })]) {
          expect(tally((yield* times(10, local.invoke(Echo, { userId: "u" }))).map((o) => o.worker))).toEqual({ [near.id]: 10 })
        }
        const elsewhere = yield* client({ nodeId: "n9" })
        expect(tally((yield* times(10, elsewhere.invoke(Echo, { userId: "u" }))).map((o) => o.worker))).toEqual({ [far.id]: 5, [near.id]: 5 })
      }),
    ),
  )

  it(
    "keeps a key on one worker: per call ({ strategy, key }) and by the capability's routing (direct and relay)",
    scoped(
      Effect.gen(function* () {
        const { start, client, healthy } = yield* mesh
        const definition = defineWorker({ name: "echo", implements: [implement(Echo, served), implement(Sticky, served)] })
        for (const name of ["a", "b", "c"]) yield* start(definition, name)
        yield* healthy(3)
        const c = yield* client()
        // Through the relay too: the request carries the key the client took from the input.
        const relay = yield* client({ direct: false })
        for (const user of ["ann", "bob", "cyd", "dee"]) {
          const perCall = yield* times(6, c.invoke(Echo, { userId: user }, { strategy: "affinity", key: user }))
          expect(new Set(perCall.map((o) => o.worker)).size).toBe(1)
          const byCapability = yield* times(6, c.invoke(Sticky, { userId: user }))
          expect(new Set(byCapability.map((o) => o.worker)).size).toBe(1)
          const relayed = yield* times(6, relay.invoke(Sticky, { userId: user }))
          expect(new Set(relayed.map((o) => o.worker)).size).toBe(1)
          const relayedPerCall = yield* times(6, relay.invoke(Echo, { userId: user }, { strategy: "affinity", key: user }))
          expect(new Set(relayedPerCall.map((o) => o.worker)).size).toBe(1)
        }
        // Without a strategy, round-robin spreads the same input over all three.
        expect(new Set((yield* times(6, c.invoke(Echo, { userId: "ann" }))).map((o) => o.worker)).size).toBe(3)
        // least-in-flight per call: every worker idle, ties go round-robin.
        expect(new Set((yield* times(6, c.invoke(Echo, { userId: "ann" }, { strategy: "least-in-flight" }))).map((o) => o.worker)).size).toBe(3)
      }),
    ),
  )

  it(
    "opens a failing worker's breaker after 3 INTERNAL failures: then every request goes to the healthy one (direct and relay), and crank.status says so",
    scoped(
      Effect.gen(function* () {
        const { start, client, healthy, controller } = yield* mesh
        const flaky = (name: string) =>
          defineWorker({
            name,
            implements: [
              implement(Flaky, (_: unknown, { workerId }: { readonly workerId: string }) => {
                if (name === "bad") throw new Error("broken")
                return { worker: workerId }
              }),
            ],
          })
        const bad = yield* start(flaky("bad"), "bad")
        const good = yield* start(flaky("good"), "good")
        yield* healthy(2)
        const relay = yield* client({ direct: false })
        const direct = yield* client()
        for (const [label, c] of [
          ["direct", direct],
          ["relay", relay],
        ] as const) {
          const outcomes = yield* times(
            12,
            c.invoke(Flaky, {}).pipe(
              Effect.map((o) => o.worker),
              Effect.catch((e) => Effect.succeed(e.code)),
            ),
          )
          // Round-robin sends every other request to `bad` until its breaker opens at the third failure (the
          // relay's breaker counts for both clients' relayed requests; the direct one is the client's own).
          expect(tally(outcomes).INTERNAL, label).toBe(3)
          expect(outcomes.slice(6), label).toEqual(Array(6).fill(good.id))
        }
        const status = yield* relay.invoke(CrankStatus, {})
        expect(status.workers.find((w) => w.id === bad.id)?.breaker).toBe("open")
        expect(status.workers.find((w) => w.id === good.id)?.breaker).toBe("closed")
        expect(controller.workers().length).toBe(2)
      }),
    ),
  )
})
