/**
 * `promtool check metrics` (Debian's `prometheus` package) on the real `/metrics` of a running mesh: a
 * `crank controller` process and a `crank worker` process on free loopback ports, after requests have been
 * served, so every family has series in it. What promtool accepts is what Prometheus scrapes.
 */
import { describe, expect, it } from "vitest"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { useMeshClients } from "../support/meshClient.ts"
import { until } from "../support/poll.ts"
import { freePort, useProcesses } from "../support/processes.ts"
import { readExposition } from "../support/prometheusText.ts"
import { promtoolCheck, requireProgram } from "../support/promtool.ts"

const processes = useProcesses()
const connect = useMeshClients()

const metricsOf = async (url: string): Promise<string> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}`)
  return response.text()
}

describe("promtool check metrics on a running mesh", () => {
  it("accepts the controller's and a worker process's /metrics, with requests counted in both", async () => {
    // A missing program fails here, with the command that installs it.
    requireProgram("promtool")
    const port = await freePort()
    const workerPort = await freePort()
    const url = `ws://127.0.0.1:${port}`
    processes.start(["worker", "examples/hello", "--node", "w1", "--controller", url, "--listen", `ws://127.0.0.1:${workerPort}`], { name: "worker w1" })
    const controller = processes.start(["controller", "--insecure", "--port", String(port), "--heartbeat-ms", "100", "--stale-after-ms", "5000"], {
      name: "controller",
    })
    await controller.waitForLine(`controller listening on ${url}`)
    const client = await connect(url)
    await until("w1/hello-1 healthy", async () => (await client.status()).workers.some((w) => w.id === "w1/hello-1" && w.state === "healthy"))
    for (const message of ["ada", "grace", "edsger"]) await client.invoke(HelloGreet, { message })

    // The controller learns the counts from heartbeats: wait (bounded) for all three.
    const ok = { capability: "hello.greet", version: "1.0.0", outcome: "OK" }
    const controllerText = await until("3 requests counted on the controller's /metrics", async () => {
      const text = await metricsOf(`http://127.0.0.1:${port}/metrics`)
      return readExposition(text).value("crank_requests_total", ok) === 3 && text
    })
    const workerText = await metricsOf(`http://127.0.0.1:${workerPort}/metrics`)
    expect(readExposition(workerText).value("crank_requests_total", { worker: "w1/hello-1", ...ok })).toBe(3)

    for (const [name, text] of [
      ["controller", controllerText],
      ["worker", workerText],
    ] as const) {
      const lint = promtoolCheck(text)
      expect(lint.output, `promtool check metrics complained about the ${name}'s /metrics:\n${lint.output}\n\n${text}`).toBe("")
      expect(lint.status).toBe(0)
    }
  })

  it("is a real judge: it rejects broken text", () => {
    requireProgram("promtool")
    const broken = promtoolCheck('# TYPE g gauge\ng{a="1"} twelve\n')
    expect(broken.status).not.toBe(0)
    expect(broken.output).not.toBe("")
  })
})
