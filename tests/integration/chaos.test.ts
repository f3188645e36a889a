/**
 * Chaos across processes, on loopback, bounded in count and time: a controller and three workers in processes of
 * their own, a client in this one with thousands of requests in flight over time, while one worker is SIGKILLed
 * and restarted, another is drained (SIGTERM) and restarted, and the controller is SIGKILLed and restarted.
 * Every request ends exactly once, with a result or a typed error; every idempotent one succeeds; a
 * non-idempotent one fails only with a code that says it may have run (`UNAVAILABLE`) or never ran; nothing is
 * left pending; and the mesh ends with all three workers healthy.
 */
import { Cause, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { isCrankError } from "../../capabilities/CrankError.ts"
import { ChaosRead, ChaosWrite } from "../support/chaosWorker.ts"
import { useMeshClients } from "../support/meshClient.ts"
import { until } from "../support/poll.ts"
import { type CrankProcess, freePort, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const connect = useMeshClients()
// Lenient enough that a loaded machine (two shared cores) does not make a healthy worker look stale.
const timing = ["--heartbeat-ms", "1000", "--stale-after-ms", "8000", "--evict-after-ms", "30000"]

describe("chaos", () => {
  it("loses nothing and runs nothing twice while workers and the controller die, drain and come back", async () => {
    const port = await freePort()
    const url = `ws://127.0.0.1:${port}`
    const startController = async () => {
      const controller = processes.start(["controller", "--insecure", "--port", String(port), ...timing], { name: "controller" })
      await controller.waitForLine(`controller listening on ${url}`)
      return controller
    }
    const startWorker = (node: string): CrankProcess =>
      processes.start(["worker", "tests/support/chaosWorker.ts", "--node", node, "--drain-deadline", "5000"], {
        env: { CRANK_CONTROLLER_URL: url },
        name: node,
      })
    let controller = await startController()
    const workers = { w1: startWorker("w1"), w2: startWorker("w2"), w3: startWorker("w3") }
    const client = await connect(url)
    const allHealthy = () =>
      until("three workers healthy", async () => (await client.status()).workers.filter((w) => w.state === "healthy").length === 3, { timeoutMs: 20_000 })
    await allHealthy()

    const total = 3_000
    const lanes = 64
    const outcomes: Array<{ readonly capability: string; readonly code: string }> = []
    let sent = 0
    const lane = async () => {
      while (sent < total) {
        const n = sent++
        const capability = n % 2 === 0 ? ChaosRead : ChaosWrite
        const exit = await client.settle(capability, { n, ms: 15 }, { timeoutMs: 10_000 })
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        outcomes.push({ capability: capability.id, code: error === undefined ? "OK" : isCrankError(error) ? error.code : `untyped: ${String(error)}` })
      }
    }
    const load = Promise.all(Array.from({ length: lanes }, lane))
    const done = () => outcomes.length

    // 1. A worker is SIGKILLed mid-flight, then comes back under the same id.
    await until("10% answered", () => done() >= total * 0.1, { timeoutMs: 30_000 })
    await workers.w1.stop("SIGKILL")
    workers.w1 = startWorker("w1")
    await allHealthy()
    // 2. Another drains on SIGTERM (in-flight work finishes, new work goes elsewhere), then comes back.
    expect(await workers.w2.stop("SIGTERM", 15_000)).toEqual({ code: 0, signal: null })
    workers.w2 = startWorker("w2")
    await allHealthy()
    // 3. The controller dies and is restarted on the same port; clients keep routing on their table meanwhile.
    await controller.stop("SIGKILL")
    controller = await startController()
    await load

    expect(outcomes).toHaveLength(total)
    const byCode = (capability: string) => {
      const counts: Record<string, number> = {}
      for (const o of outcomes) if (o.capability === capability) counts[o.code] = (counts[o.code] ?? 0) + 1
      return counts
    }
    // Every idempotent request succeeded: retried elsewhere when its worker died.
    expect(byCode("chaos.read")).toEqual({ OK: total / 2 })
    // A non-idempotent one either succeeded or failed as "may have run" (its worker died under it): never retried.
    const writes = byCode("chaos.write")
    console.info(`chaos: ${total} requests, reads ${JSON.stringify(byCode("chaos.read"))}, writes ${JSON.stringify(writes)}`)
    expect(Object.keys(writes).filter((code) => code !== "OK" && code !== "UNAVAILABLE")).toEqual([])
    expect(writes.OK).toBeGreaterThan(total / 2 - 200)
    await allHealthy()
    expect(controller.exitStatus()).toBeUndefined()
  }, 240_000)
})
