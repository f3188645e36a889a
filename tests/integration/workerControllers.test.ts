/**
 * `crank worker --controller A,B`: a worker process given several controllers (a federation, docs/federation.md)
 * dials the first, and moves on to the next in turn when a dial or a registration fails. The list comes from the
 * flag or from its twin CRANK_CONTROLLER_URL. Real processes on loopback, plain ws:// (`--insecure`).
 */
import { describe, expect, it } from "vitest"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { useMeshClients } from "../support/meshClient.ts"
import { until } from "../support/poll.ts"
import { type CrankProcess, freePort, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const connect = useMeshClients()

const timingArgs = ["--heartbeat-ms", "100", "--stale-after-ms", "400", "--evict-after-ms", "2000"]

const startController = async (port: number): Promise<CrankProcess> => {
  const controller = processes.start(["controller", "--insecure", "--port", String(port), ...timingArgs], { name: `controller :${port}` })
  await controller.waitForLine(`controller listening on ws://127.0.0.1:${port}`, 20_000)
  return controller
}

/** Waits until the controller at `url` has `workerId` healthy. */
const healthyAt = async (url: string, workerId: string, timeoutMs = 20_000): Promise<void> => {
  const client = await connect(url)
  let last: unknown
  await until(
    `${workerId} healthy at ${url}`,
    async () => {
      const status = await client.status()
      last = status.workers.map((w) => [w.id, w.state])
      return status.workers.some((w) => w.id === workerId && w.state === "healthy")
    },
    { timeoutMs, show: () => last },
  )
}

describe("crank worker with several controllers", () => {
  it("skips a controller that is not there, and moves to the next when its controller is killed", { timeout: 90_000 }, async () => {
    const [deadPort, portA, portB] = [await freePort(), await freePort(), await freePort()]
    const [dead, a, b] = [deadPort, portA, portB].map((port) => `ws://127.0.0.1:${port}`) as [string, string, string]
    const controllerA = await startController(portA)
    await startController(portB)

    // The flag: nothing listens on the first address, so the worker registers with the second.
    processes.start(["worker", "examples/hello", "--node", "skips", "--controller", `${dead},${a}`], { name: "worker skips" })
    // The flag again, A then B: registered with A; A is SIGKILLed; the worker redials A, fails, and goes to B.
    processes.start(["worker", "examples/hello", "--node", "moves", "--controller", `${a},${b}`], { name: "worker moves" })
    // The environment twin, with a space after the comma as a person might write it.
    processes.start(["worker", "examples/hello", "--node", "twin"], { env: { CRANK_CONTROLLER_URL: `${dead}, ${b}` }, name: "worker twin" })

    await healthyAt(a, "skips/hello-1")
    await healthyAt(a, "moves/hello-1")
    await healthyAt(b, "twin/hello-1")
    const before = await (await connect(b)).status()
    expect(before.workers.map((w) => w.id)).not.toContain("moves/hello-1")

    await controllerA.stop("SIGKILL")
    await healthyAt(b, "moves/hello-1")
    // The worker whose list was [dead, A] has nowhere to go: it is not at B.
    const after = await (await connect(b)).status()
    expect(after.workers.map((w) => w.id).sort()).toEqual(["moves/hello-1", "twin/hello-1"])
    // Both serve there: a few requests through B reach both workers (B's relay spreads them).
    const clientB = await connect(b)
    const servedBy = new Set<string>()
    for (let i = 0; i < 40 && servedBy.size < 2; i++) servedBy.add((await clientB.invoke(HelloGreet, { message: `hi ${i}` })).worker)
    expect([...servedBy].sort()).toEqual(["moves/hello-1", "twin/hello-1"])
  })

  it("refuses a list that mixes ws:// and wss:// (exit 2)", { timeout: 30_000 }, async () => {
    const result = await processes.run(["worker", "examples/hello", "--controller", "ws://127.0.0.1:1,wss://127.0.0.1:2"], { timeoutMs: 20_000 })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/all wss:\/\/ or all ws:\/\//)
  })
})
