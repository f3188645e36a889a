/**
 * The mesh over IPv6 loopback: `crank controller --host ::1`, a `crank worker` that dials `ws://[::1]:PORT` and
 * listens on `[::1]` for direct requests, and invokes from the CLI and from a client in the test process.
 * Every URL carries a bracketed literal, which is where IPv6 support usually breaks.
 */
import { describe, expect, it } from "vitest"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { useMeshClients } from "../support/meshClient.ts"
import { until } from "../support/poll.ts"
import { freePort, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const connect = useMeshClients()

describe("mesh over IPv6 loopback", () => {
  it("registers a worker and serves invokes on ws://[::1]", async () => {
    // Fails (rather than skips) on a machine without ::1: the mesh promises IPv6 loopback.
    const port = await freePort("::1")
    const url = `ws://[::1]:${port}`
    const worker = processes.start(["worker", "examples/hello", "--node", "v6", "--controller", url, "--listen", "ws://[::1]:0"], { name: "worker v6" })
    const controller = processes.start(
      ["controller", "--insecure", "--host", "::1", "--port", String(port), "--heartbeat-ms", "100", "--stale-after-ms", "400"],
      {
        name: "controller [::1]",
      },
    )
    await controller.waitForLine(`controller listening on ${url}`)

    const client = await connect(url)
    let last: unknown
    const status = await until(
      "the worker healthy",
      async () => {
        const s = await client.status()
        last = s.workers.map((w) => [w.id, w.state, w.address])
        return s.workers.some((w) => w.id === "v6/hello-1" && w.state === "healthy") && s
      },
      { show: () => last },
    )
    expect(status.controller.address).toBe(url)
    const view = status.workers.find((w) => w.id === "v6/hello-1")!
    // It advertises where clients dial it directly: an IPv6 URL.
    expect(view.address).toMatch(/^ws:\/\/\[::1\]:\d+$/)

    await expect(client.invoke(HelloGreet, { message: "six" })).resolves.toEqual({ greeting: "Hello, six", worker: "v6/hello-1" })

    const cli = await processes.run(["invoke", "hello.greet", '{"message":"over v6"}', "--json", "--controller", url])
    expect(cli.stderr).toBe("")
    expect(cli.code).toBe(0)
    expect(JSON.parse(cli.stdout)).toEqual({ greeting: "Hello, over v6", worker: "v6/hello-1" })
    expect(worker.exitStatus()).toBeUndefined()
  })
})
