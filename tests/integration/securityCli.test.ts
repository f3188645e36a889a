/**
 * The secure multi-node steps as the README gives them, through the `crank` command line on 127.0.0.1: a
 * controller (wss:// by default, its CA in a fresh data directory), `crank token create`, a worker joining with its
 * token, invokes with a client token, and what each role is refused, with the exit statuses and messages a person
 * reads. Then the dashboard's HTTP: open probes and metrics (with the refusals counted by reason), everything
 * else for operators only. Every process is killed after the file; every wait is bounded.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as https from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { until } from "../support/poll.ts"
import { type CrankProcess, freePort, repoRoot, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const dataDir = mkdtempSync(join(tmpdir(), "crank-secure-cli-"))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/** A GET or POST over https to the controller's port, trusting only its CA; the status, headers and body. */
const request = (
  url: string,
  options: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> =>
  new Promise((resolve, reject) => {
    const ca = readFileSync(join(dataDir, "controller", "ca.crt.pem"), "utf8")
    // The controller's certificate names `spiffe://crank/controller/controller`, not the host: checked by the CA only.
    const sent = https.request(
      url,
      { method: options.method ?? "GET", headers: options.headers, ca, checkServerIdentity: () => undefined, timeout: 5_000, agent: false },
      (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => void (body += chunk))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
      },
    )
    sent.on("error", reject)
    sent.end(options.body)
  })

describe("secure multi-node steps through the crank command line", () => {
  let port: number
  let probesPort: number
  let url: string
  let controller: CrankProcess
  let clientToken: string
  const crank = (args: ReadonlyArray<string>) => processes.run(args, { timeoutMs: 30_000 })

  beforeAll(async () => {
    port = await freePort()
    probesPort = await freePort()
    url = `wss://127.0.0.1:${port}`
    controller = processes.start(
      ["controller", "--port", String(port), "--data-dir", dataDir, "--heartbeat-ms", "200", "--probes-listen", `127.0.0.1:${probesPort}`],
      { name: "controller" },
    )
    await controller.waitForLine(`controller listening on ${url}`, 30_000)
    const workerToken = await crank(["token", "create", "--data-dir", dataDir])
    expect(workerToken.code).toBe(0)
    expect(workerToken.stdout.trim()).toMatch(/^crank1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.[0-9a-f]{64}$/)
    expect(workerToken.stderr).toMatch(/joins as worker until .*, any number of times/)
    processes.start(["worker", "examples/hello", "--token", workerToken.stdout.trim(), "--controller", url, "--node", "n1"], { name: "worker n1" })
    clientToken = (await crank(["token", "create", "--role", "client", "--data-dir", dataDir])).stdout.trim()
    // The operator's view, minted from the CA beside the controller (--data-dir): no token needed on its host.
    await until(
      "n1/hello-1 healthy",
      async () => {
        const status = await crank(["status", "--json", "--controller", url, "--data-dir", dataDir])
        return (
          status.code === 0 &&
          (JSON.parse(status.stdout) as { workers: Array<{ id: string; state: string }> }).workers.some((w) => w.id === "n1/hello-1" && w.state === "healthy")
        )
      },
      { timeoutMs: 60_000 },
    )
  }, 120_000)

  it("invokes with a client token; refuses the client's drain (FORBIDDEN, exit 16) and a wrong token (UNAUTHORIZED, exit 9)", async () => {
    const invoked = await crank(["invoke", "hello.greet", '{"message":"secure"}', "--json", "--controller", url, "--token", clientToken])
    expect(invoked.stderr).toBe("")
    expect(JSON.parse(invoked.stdout)).toEqual({ greeting: "Hello, secure", worker: "n1/hello-1" })

    const drain = await crank(["drain", "n1/hello-1", "--controller", url, "--token", clientToken])
    expect(drain.code).toBe(16)
    expect(drain.stderr).toMatch(/^error FORBIDDEN: client cli-[^ ]+ may not drain: it needs the operator role/)

    const wrong = await crank([
      "invoke",
      "hello.greet",
      "{}",
      "--controller",
      url,
      "--token",
      `${clientToken.slice(0, 30)}${"A".repeat(clientToken.length - 30 - 65)}${clientToken.slice(-65)}`,
    ])
    expect(wrong.code).toBe(9)
    expect(wrong.stderr).toMatch(/^error UNAUTHORIZED: join token refused \(token-wrong-secret\)/)

    const none = await crank(["status", "--controller", url, "--data-dir", join(dataDir, "elsewhere")])
    expect(none.code).toBe(9)
    expect(none.stderr).toMatch(/^error UNAUTHORIZED: the controller at wss:\/\/127\.0\.0\.1:\d+ admits only peers with a certificate from its CA/)

    const plain = await crank(["status", "--controller", `ws://127.0.0.1:${port}`])
    expect(plain.code).toBe(6)
    expect(plain.stderr).toMatch(/A secure controller drops plain ws:\/\/ at the TLS handshake/)

    const status = JSON.parse((await crank(["status", "--json", "--controller", url, "--token", clientToken])).stdout) as {
      workers: Array<{ id: string; state: string }>
    }
    expect(status.workers.map((w) => [w.id, w.state])).toEqual([["n1/hello-1", "healthy"]])
  }, 120_000)

  it("answers a secure worker's probes without a certificate (kubelet, Docker), and refuses such a peer's requests UNAUTHORIZED", async () => {
    const status = await crank(["status", "--json", "--controller", url, "--data-dir", dataDir])
    const address = (JSON.parse(status.stdout) as { workers: Array<{ id: string; address?: string }> }).workers.find((w) => w.id === "n1/hello-1")?.address
    expect(address).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    const probeUrl = (path: string) => `${address!.replace(/^wss:/, "https:")}${path}`
    // A probe presents no certificate and checks none (as kubelet's https probes): the listener lets it read pages.
    const probe = (path: string) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(probeUrl(path), { rejectUnauthorized: false, timeout: 5_000, agent: false }, (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          })
          .on("error", reject)
      })
    expect(await probe("/healthz")).toBe(200)
    expect(await probe("/readyz")).toBe(200)
    // The same peer on the data path: its request is refused, never served.
    const answer = await new Promise<{ code?: string; message?: string }>((resolve, reject) => {
      const socket = new WebSocket(address!, { rejectUnauthorized: false })
      socket.on("open", () =>
        socket.send(JSON.stringify({ _tag: "Invoke", id: "anon-1", capability: "hello.greet", range: "*", input: { message: "x" }, timeoutMs: 5_000 })),
      )
      socket.on("message", (data) => {
        resolve(JSON.parse(String(data)))
        socket.close()
      })
      socket.on("error", reject)
    })
    expect(answer).toMatchObject({ code: "UNAUTHORIZED", message: "worker n1/hello-1 serves only peers with a certificate from the mesh's CA" })
  })

  it("serves probes and metrics to anyone, with every refusal counted by reason; the dashboard and /api/* only to an operator", async () => {
    const base = `https://127.0.0.1:${port}`
    expect((await request(`${base}/healthz`)).status).toBe(200)
    expect((await request(`${base}/readyz`)).status).toBe(200)
    const metrics = await request(`${base}/metrics`)
    expect(metrics.status).toBe(200)
    for (const reason of ["forbidden", "unauthorized", "tls"]) expect(metrics.body).toMatch(new RegExp(`crank_refusals_total\\{reason="${reason}"\\} [1-9]`))
    // The same probes and metrics on their own plain HTTP address (--probes-listen), and nothing else there.
    const plain = async (path: string) => (await fetch(`http://127.0.0.1:${probesPort}${path}`)).status
    expect([await plain("/healthz"), await plain("/readyz"), await plain("/metrics"), await plain("/api/status"), await plain("/")]).toEqual([
      200, 200, 200, 404, 404,
    ])

    const anonymous = await request(`${base}/api/status`)
    expect(anonymous.status).toBe(401)
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: "UNAUTHORIZED" })
    const page = await request(`${base}/`, { headers: { accept: "text/html" } })
    expect(page.status).toBe(401)
    expect(page.body).toContain('<form method="post" action="/api/login">')
    expect((await request(`${base}/api/inspect`)).status).toBe(401)

    // A client's token is not an operator's.
    const asClient = await request(`${base}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ token: (await crank(["token", "create", "--role", "client", "--data-dir", dataDir])).stdout.trim() }),
    })
    expect(asClient.status).toBe(403)
    const operatorToken = (await crank(["token", "create", "--role", "operator", "--uses", "1", "--data-dir", dataDir])).stdout.trim()
    const login = await request(`${base}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ token: operatorToken }).toString(),
    })
    expect(login.status).toBe(200)
    expect(String(login.headers["set-cookie"])).toMatch(/^crank_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/)
    const { session } = JSON.parse(login.body) as { session: string }
    const status = await request(`${base}/api/status`, { headers: { authorization: `Bearer ${session}` } })
    expect(status.status).toBe(200)
    expect((JSON.parse(status.body) as { workers: Array<{ id: string }> }).workers.map((w) => w.id)).toEqual(["n1/hello-1"])
    const cookie = String(login.headers["set-cookie"]).split(";")[0]!
    expect((await request(`${base}/`, { headers: { cookie, accept: "text/html" } })).status).toBe(200)
    // Not opt-in here: /api/inspect stays off without --inspect, for an operator too.
    expect((await request(`${base}/api/inspect`, { headers: { cookie } })).status).toBe(404)
    // The single-use token is spent.
    const again = await request(`${base}/api/login`, { method: "POST", headers: { accept: "application/json" }, body: `token=${operatorToken}` })
    expect(again.status).toBe(401)
    expect(JSON.parse(again.body).message).toMatch(/token-used-up/)
  }, 120_000)

  it("watches as an operator minted beside the controller; lists and revokes tokens, and revokes the worker's certificate", async () => {
    const watch = processes.start(["watch", "--controller", url, "--data-dir", dataDir], { name: "watch" })
    await watch.waitForLine(`watching ${url}: 1 workers`, 30_000)
    await watch.stop("SIGINT")

    const listed = JSON.parse((await crank(["token", "list", "--json", "--data-dir", dataDir])).stdout) as Array<{ id: string; role: string; status: string }>
    expect(listed.filter((t) => t.role === "operator").map((t) => t.status)).toEqual(["used-up"])
    const client = clientToken.split(".")[1]!
    expect((await crank(["token", "revoke", client, "--data-dir", dataDir])).stdout).toMatch(/^revoked [0-9a-f]{16} \(client\)/)
    const revoked = await crank(["invoke", "hello.greet", "{}", "--controller", url, "--token", clientToken])
    expect(revoked.code).toBe(9)
    expect(revoked.stderr).toMatch(/token-revoked/)

    // Revoking the worker's certificate closes its link at once; it is refused each time it redials.
    const revoke = await crank(["revoke", "worker/n1", "--controller", url, "--data-dir", dataDir])
    expect(revoke.stdout).toMatch(/^revoked worker n1 until \d{4}-\d\d-\d\dT[\d:.]+Z; closed 1 connection\(s\)/)
    await until("n1/hello-1 no longer healthy", async () => {
      const status = await crank(["status", "--json", "--controller", url, "--data-dir", dataDir])
      return (JSON.parse(status.stdout) as { workers: Array<{ id: string; state: string }> }).workers.every((w) => w.state !== "healthy")
    })
    const metrics = await request(`https://127.0.0.1:${port}/metrics`)
    expect(metrics.body).toMatch(/crank_refusals_total\{reason="revoked"\} [1-9]/)
  }, 120_000)

  it("beside a CA, a command without --controller still reaches a plain crank dev on its port; an explicit wss:// is told what it met", async () => {
    // A directory where a secure controller once ran (its CA is there), now running npm start's plain mesh.
    const bin = ["node", join(repoRoot, "bin/crank.js")]
    const directory = mkdtempSync(join(tmpdir(), "crank-dev-beside-ca-"))
    try {
      expect((await crank(["token", "create", "--data-dir", join(directory, ".crank")])).code).toBe(0)
      const devPort = await freePort()
      const dev = processes.start(["dev", join(repoRoot, "examples/hello"), "--port", String(devPort), "--replicas", "1"], {
        cwd: directory,
        command: bin,
        name: "dev",
      })
      await dev.waitForLine("all 1 workers healthy", 60_000)
      const env = { CRANK_PORT: String(devPort) }
      const invoked = await processes.run(["invoke", "hello.greet", '{"message":"zero-config"}', "--json"], {
        cwd: directory,
        command: bin,
        env,
        timeoutMs: 30_000,
      })
      expect(JSON.parse(invoked.stdout)).toEqual({ greeting: "Hello, zero-config", worker: "dev/hello-1" })
      const explicit = await processes.run(["status", "--controller", `wss://127.0.0.1:${devPort}`], { cwd: directory, command: bin, env, timeoutMs: 30_000 })
      expect(explicit.code).toBe(6)
      expect(explicit.stderr).toMatch(/The controller there speaks plain ws:\/\/ \(crank dev, crank controller --insecure\)/)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  }, 120_000)

  it("keeps --insecure to loopback, and a secure controller's --token is a usage error", async () => {
    const anywhere = await crank(["controller", "--insecure", "--host", "0.0.0.0", "--port", "0"])
    expect(anywhere.code).toBe(2)
    expect(anywhere.stderr).toMatch(/^error USAGE: --insecure serves plain ws:\/\/ with no access control, so only on a loopback host/)
    const shared = await crank(["controller", "--token", "s3cret", "--port", "0", "--data-dir", dataDir])
    expect(shared.code).toBe(2)
    expect(shared.stderr).toMatch(/--token is the shared registration token of an --insecure controller/)
  }, 60_000)
})
