/**
 * No answer outgrows a frame: `crank.status` and `crank.routes` list workers in pages (1,000 and 2,000 at most, and
 * 4 MiB each), and their readers (the client's routing table, `client.status`, the dashboard) read every page.
 * 2,100 registered workers here, over the in-memory transport.
 */
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { descriptorOf } from "../../capabilities/Capability.ts"
import { CrankRoutes, CrankStatus } from "../../capabilities/crank.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { protocolVersion } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { settled } from "../support/poll.ts"

const count = 2_100

describe("paged answers", () => {
  it("lists 2,100 workers in pages, and the client's table and status read them all", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const transport = yield* Transport
        const controller = yield* Controller.make({ addresses: ["memory://controller"] })
        const hello = descriptorOf(HelloGreet)
        for (let i = 0; i < count; i++) {
          const workerId = `w${String(i).padStart(4, "0")}`
          const link = yield* transport.connect("memory://controller", () => ({ onMessage: () => {}, onClose: () => {}, serve: () => Effect.die("unused") }))
          yield* link.send({ _tag: "Register", protocolVersion, workerId, nodeId: "n", capabilities: [hello], address: `memory://${workerId}`, maxInFlight: 1 })
          yield* link.send({ _tag: "Heartbeat", workerId, seq: 1, inFlight: 0, completed: 0 })
        }
        yield* settled("all healthy", () => controller.routes().length === count, { maxYields: 10_000 })
        const client = yield* Client.make({ controller: "memory://controller", direct: false })

        const first = yield* client.invoke(CrankRoutes, {})
        expect(first.workers).toHaveLength(2_000)
        expect(first.next).toBe("w1999")
        const second = yield* client.invoke(CrankRoutes, { after: first.next! })
        expect(second.workers.map((w) => w.id)).toEqual(Array.from({ length: 100 }, (_, i) => `w${2_000 + i}`))
        expect(second.next).toBeUndefined()

        const page = yield* client.invoke(CrankStatus, {})
        expect(page.workers).toHaveLength(1_000)
        expect(page.next).toBe("w0999")
        const status = yield* client.status
        expect(status.workers.map((w) => w.id)).toEqual(Array.from({ length: count }, (_, i) => `w${String(i).padStart(4, "0")}`))
        expect(status.next).toBeUndefined()
        // Every page is far from the 16 MiB frame limit.
        expect(JSON.stringify(page).length).toBeLessThan(4 * 1024 * 1024)
      }).pipe(Effect.provideService(Transport, MemoryTransport.make()), Effect.scoped),
    ))
})
