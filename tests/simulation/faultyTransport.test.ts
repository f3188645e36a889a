/**
 * The fault injector alone (transports/faultyTransport.ts): with no faults it passes everything through; with a seed,
 * the same faults fall on the same messages; a partition refuses dials across it and closes links, a silent one
 * leaves them open and loses what crosses; `layer` provides it as the `Transport` service.
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import type { ControlMessage } from "../../transports/Envelope.ts"
import * as FaultyTransport from "../../transports/faultyTransport.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"

const beat = (seq: number): ControlMessage => ({ _tag: "Heartbeat", workerId: "w", seq, inFlight: 0, completed: 0 })

/** Sends 200 heartbeats from node `a` to node `b` under `faults`; returns the sequence numbers `b` got, in order. */
const deliveries = (seed: number, faults: FaultyTransport.Faults) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const network = yield* FaultyTransport.make(MemoryTransport.make(), faults)
      const got: Array<number> = []
      yield* network.node("b").listen("memory://b", () => ({
        onMessage: (m) => void (m._tag === "Heartbeat" && got.push(m.seq)),
        onClose: () => {},
        serve: (invoke) => Effect.succeed({ _tag: "Result" as const, id: invoke.id, output: null }),
      }))
      const link = yield* network.node("a").connect("memory://b", () => ({ onMessage: () => {}, onClose: () => {}, serve: () => Effect.die("no") }))
      for (let i = 1; i <= 200; i++) yield* link.send(beat(i))
      yield* TestClock.adjust(10_000)
      return { got, stats: { ...network.stats() } }
    }).pipe(Effect.scoped, Random.withSeed(seed), Effect.provide(TestClock.layer())),
  )

describe("the fault injector", () => {
  it("passes everything through, in order, with no faults", async () => {
    const { got } = await deliveries(1, FaultyTransport.noFaults)
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
  })

  it("drops, duplicates, delays and reorders the same messages for the same seed", async () => {
    const faults = { ...FaultyTransport.noFaults, drop: 0.1, duplicate: 0.1, delay: 0.1, reorder: 0.1, maxDelayMs: 500 }
    const first = await deliveries(5, faults)
    expect(await deliveries(5, faults)).toEqual(first)
    expect(first.stats.dropped).toBeGreaterThan(0)
    expect(first.stats.duplicated).toBeGreaterThan(0)
    expect(first.stats.reordered).toBeGreaterThan(0)
    expect(first.got.length).toBe(200 - first.stats.dropped + first.stats.duplicated)
    expect(first.got).not.toEqual([...first.got].sort((x, y) => x - y))
    expect(await deliveries(6, faults)).not.toEqual(first)
  })

  it("partitions: dials across are refused and links closed; a silent partition loses messages on an open link", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const network = yield* FaultyTransport.make(MemoryTransport.make())
        const got: Array<number> = []
        yield* network.node("b").listen("memory://b", () => ({
          onMessage: (m) => void (m._tag === "Heartbeat" && got.push(m.seq)),
          onClose: () => {},
          serve: (invoke) => Effect.succeed({ _tag: "Result" as const, id: invoke.id, output: null }),
        }))
        const handlers = () => ({ onMessage: () => {}, onClose: () => {}, serve: () => Effect.die("no") })
        const first = yield* network.node("a").connect("memory://b", handlers)
        yield* network.partition(["a"])
        expect(first.isOpen()).toBe(false)
        expect((yield* Effect.flip(network.node("a").connect("memory://b", handlers))).reason).toBe("ConnectFailed")
        yield* network.heal
        const second = yield* network.node("a").connect("memory://b", handlers)
        yield* network.partition(["b"], { silent: true })
        yield* second.send(beat(1))
        expect(second.isOpen()).toBe(true)
        yield* network.heal
        yield* second.send(beat(2))
        expect(got).toEqual([2])
      }).pipe(Effect.scoped, Effect.provide(TestClock.layer())),
    ))

  it("is a Transport service through layer", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const transport = yield* Transport
        const listener = yield* transport.listen("memory://x", () => ({ onMessage: () => {}, onClose: () => {}, serve: () => Effect.die("no") }))
        expect(listener.address).toBe("memory://x")
      }).pipe(Effect.scoped, Effect.provide(FaultyTransport.layer(FaultyTransport.noFaults))),
    ))
})
