import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import * as Client from "../../actors/Client.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"
import * as Node from "../../src/Node.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { until } from "../support/poll.ts"

const timings = { heartbeatIntervalMs: 20, staleAfterMs: 100, evictAfterMs: 200 }

/** A memory transport whose first `crashes` dials from workers die with a defect, as a bug in the worker actor would. */
const crashingTransport = (crashes: number): Transport & { dials: () => number } => {
  const inner = MemoryTransport.make()
  let dials = 0
  return {
    ...inner,
    connect: (address, handlers) =>
      Effect.suspend(() => {
        dials++
        return address === "memory://controller" && dials <= crashes ? Effect.die(new Error(`injected crash #${dials}`)) : inner.connect(address, handlers)
      }),
    dials: () => dials,
  }
}

const startNode = (transport: Transport, scope: Scope.Closeable, workers: Node.NodeOptions["workers"], supervision: Node.NodeOptions["supervision"] = {}) =>
  Effect.runPromise(
    Node.start({
      nodeId: "n",
      controller: { addresses: ["memory://controller"], logTransitions: false },
      workers,
      workerListen: "memory://",
      supervision: { onEvent: undefined, ...supervision },
    }).pipe(withTunables(timings), Effect.provideService(Transport, transport), Scope.provide(scope)),
  )

describe("a node under its root supervisor", () => {
  it("restarts a crashed worker actor, which registers again and serves", async () => {
    const transport = crashingTransport(1)
    const scope = Effect.runSync(Scope.make())
    try {
      const node = await startNode(transport, scope, [hello], { backoff: { initialMs: 1, maxMs: 5 } })
      const controller = node.controller()!
      await Effect.runPromise(awaitWorkers(controller, (ws) => ws.some((w) => w.id === "n/hello-1" && w.state === "healthy"), 5_000))
      const children = await Effect.runPromise(node.supervisor.children)
      expect(children.find((c) => c.id === "hello-1")?.restarts).toBe(1)
      expect(transport.dials()).toBeGreaterThanOrEqual(2)
      const client = await Effect.runPromise(
        Client.make({ controller: "memory://controller" }).pipe(Effect.provideService(Transport, transport), Scope.provide(scope)),
      )
      const out = await Effect.runPromise(client.invoke(HelloGreet, { message: "again" }))
      expect(out).toEqual({ greeting: "Hello, again", worker: "n/hello-1" })
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  it("drains its workers before stopping the controller when the scope closes", async () => {
    const transport = MemoryTransport.make()
    const scope = Effect.runSync(Scope.make())
    const node = await startNode(transport, scope, [{ definition: hello, replicas: 2 }])
    const controller = node.controller()!
    await Effect.runPromise(awaitWorkers(controller, (ws) => ws.filter((w) => w.state === "healthy").length === 2, 5_000))
    const seen: Array<string> = []
    const workers = node.workers()
    for (const w of workers) w.lifecycle.subscribe((s) => seen.push(`${w.id}:${String(s.value)}`))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    for (const w of workers) expect(w.state()).toBe("stopped")
    // Each went through draining on its way out: drained, not dropped.
    expect(seen.filter((s) => s.endsWith(":draining"))).toHaveLength(2)
    // The controller saw them deregister before it stopped: none is left registered.
    expect(controller.workers()).toHaveLength(0)
  })

  it("does not restart a worker that drained and stopped on purpose", async () => {
    const transport = MemoryTransport.make()
    const scope = Effect.runSync(Scope.make())
    try {
      const node = await startNode(transport, scope, [hello])
      const controller = node.controller()!
      await Effect.runPromise(awaitWorkers(controller, (ws) => ws.length === 1 && ws[0]!.state === "healthy", 5_000))
      await Effect.runPromise(controller.drain("n/hello-1", 1_000))
      await Effect.runPromise(awaitWorkers(controller, (ws) => ws.length === 0, 5_000))
      let last: unknown
      const child = await until(
        "the supervisor to see hello-1 stopped",
        async () => {
          const found = (await Effect.runPromise(node.supervisor.children)).find((c) => c.id === "hello-1")
          last = found
          return found?.status === "stopped" && found
        },
        { show: () => last },
      )
      expect(child).toMatchObject({ status: "stopped", restarts: 0 })
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
