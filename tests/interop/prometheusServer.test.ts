/**
 * A real Prometheus server (Debian's `prometheus` package) scraping a running controller: a `crank controller`
 * process on a free loopback port with a `crank worker` process of two replicas, and `prometheus` started by the
 * test on another free port, with a generated config (scrape every second) and a temporary storage directory.
 * PromQL through its HTTP API must then answer what the mesh is: two healthy workers, and the requests served.
 * Every wait is bounded; the server and the mesh are stopped after the test, pass or fail.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { useMeshClients } from "../support/meshClient.ts"
import { until } from "../support/poll.ts"
import { freePort, useProcesses } from "../support/processes.ts"
import { requireProgram } from "../support/promtool.ts"

const processes = useProcesses()
const connect = useMeshClients()

interface Sample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: readonly [number, string]
}

/** One instant PromQL query through the HTTP API; throws unless Prometheus answered `success` with a vector. */
const query = async (base: string, promql: string): Promise<ReadonlyArray<Sample>> => {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5_000) })
  const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<Sample> } }
  if (body.status !== "success" || body.data?.resultType !== "vector") throw new Error(`${promql}: ${JSON.stringify(body)}`)
  return body.data.result
}

/** The single value of a query, as a number, or undefined while it has none. */
const scalar = async (base: string, promql: string): Promise<number | undefined> => {
  const result = await query(base, promql)
  return result.length === 1 ? Number(result[0]!.value[1]) : undefined
}

describe("a Prometheus server scraping the controller", () => {
  let server: ChildProcess | undefined
  let output = ""
  let storage: string | undefined

  afterAll(async () => {
    if (server !== undefined && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server!.once("close", resolve))
      server.kill("SIGTERM")
      const timer = setTimeout(() => server!.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(timer)
    }
    if (storage !== undefined) rmSync(storage, { recursive: true, force: true })
  })

  it("answers PromQL about the workers with the mesh's real numbers", async () => {
    // A missing program fails here, with the command that installs it.
    requireProgram("prometheus")
    const port = await freePort()
    const url = `ws://127.0.0.1:${port}`
    processes.start(["worker", "examples/hello", "--node", "w1", "--replicas", "2", "--controller", url], { name: "worker w1" })
    const controller = processes.start(["controller", "--insecure", "--port", String(port), "--heartbeat-ms", "200", "--stale-after-ms", "5000"], {
      name: "controller",
    })
    await controller.waitForLine(`controller listening on ${url}`)
    const client = await connect(url)
    await until("both replicas healthy", async () => (await client.status()).workers.filter((w) => w.state === "healthy").length === 2)
    for (const message of ["ada", "grace", "edsger", "barbara", "tony"]) await client.invoke(HelloGreet, { message })

    storage = mkdtempSync(join(tmpdir(), "crank-prometheus-"))
    const promPort = await freePort()
    const config = join(storage, "prometheus.yml")
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: crank",
        "    metrics_path: /metrics",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${port}"]`,
        "",
      ].join("\n"),
    )
    server = spawn(
      "prometheus",
      [`--config.file=${config}`, `--storage.tsdb.path=${join(storage, "data")}`, `--web.listen-address=127.0.0.1:${promPort}`, "--log.level=warn"],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    server.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    server.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    const base = `http://127.0.0.1:${promPort}`
    const show = () => ({ exit: server?.exitCode ?? server?.signalCode ?? null, output: output.slice(-2_000) })

    // Ready, then the controller scraped successfully at least once.
    await until("prometheus ready", async () => (await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200, {
      timeoutMs: 30_000,
      show,
    })
    expect(
      await until("the controller scraped (up == 1)", async () => (await scalar(base, 'up{job="crank"}')) === 1 && true, { timeoutMs: 30_000, show }),
    ).toBe(true)

    // The number of healthy workers, as Prometheus stored it from the controller.
    const healthy = await until('a sample of crank_workers{state="healthy"}', () => scalar(base, 'crank_workers{job="crank",state="healthy"}'), {
      timeoutMs: 30_000,
      show,
    })
    expect(healthy).toBe(2)
    expect(await scalar(base, 'sum(crank_workers{job="crank"})')).toBe(2)
    expect(await scalar(base, 'crank_workers{job="crank",state="stale"}')).toBe(0)
    // Both replicas report in-flight gauges of their own, under their ids.
    const perWorker = await query(base, 'crank_worker_in_flight{job="crank"}')
    expect(perWorker.map((s) => s.metric.worker).sort()).toEqual(["w1/hello-1", "w1/hello-2"])
    // The five requests, once a heartbeat has carried them to the controller and a scrape to Prometheus.
    const served = await until(
      "5 hello.greet requests in Prometheus",
      async () => (await scalar(base, 'sum(crank_requests_total{job="crank",capability="hello.greet",outcome="OK"})')) === 5 && 5,
      { timeoutMs: 30_000, show },
    )
    expect(served).toBe(5)
    expect(await scalar(base, 'sum(crank_request_duration_seconds_count{job="crank",capability="hello.greet"})')).toBe(5)
  })
})
