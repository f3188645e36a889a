/**
 * Three controllers federated over a real nats-server, each in its own `crank controller` process, with workers in
 * processes of their own: `crank worker examples/hello --controller <c1>,<c2>` (twice) and
 * `crank worker examples/document-convert --controller <c3>`. Runs the built CLI (`node bin/crank.js`, dist/):
 * `npm run test:interop` builds it first.
 *
 * Covered: `crank invoke` through c1 of a capability that lives only behind c3 is served; `crank status` (text and
 * `--json`) lists the federation's controllers and where each capability lives; c1 is SIGKILLed while a bounded
 * load loop of requests runs through c3, its workers re-register with c2 (the next on their list), and every
 * request of the loop is answered (failures only NO_WORKER or UNAVAILABLE while the workers move, sent again by
 * the loop, a bounded number of times).
 *
 * Federation timings are the CLI's defaults (an Alive a second, a peer silent for 3 s dropped); worker heartbeats
 * are 200 ms.
 */
import { Cause, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FederatedController, MeshStatus } from "../../capabilities/crank.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { type MeshClient, useMeshClients } from "../support/meshClient.ts"
import { type NatsServer, startNatsServer } from "../support/natsServer.ts"
import { until } from "../support/poll.ts"
import { type CrankProcess, freePort, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const connect = useMeshClients()

const timingArgs = ["--heartbeat-ms", "200", "--stale-after-ms", "800", "--evict-after-ms", "4000"]
/** The federation's stale period with the CLI's default timings (three 1 s Alives). */
const federationStaleMs = 3_000

let nats: NatsServer | undefined
beforeAll(async () => {
  nats = await startNatsServer()
})
afterAll(async () => {
  await nats?.stop()
})

const startController = async (id: string, port: number): Promise<CrankProcess> => {
  const controller = processes.start(["controller", "--insecure", "--federation", nats!.url, "--controller-id", id, "--port", String(port), ...timingArgs], {
    name: `controller ${id}`,
  })
  await controller.waitForLine(`federation ${id}: joined`, 30_000)
  return controller
}

/** What `controller`'s status says of the federation's controller `id`. */
const controllerIn = (status: MeshStatus, id: string): FederatedController | undefined => status.controllers?.find((c) => c.id === id)

const servesThere = (status: MeshStatus, id: string, capability: string, workers: number): boolean =>
  controllerIn(status, id)?.capabilities.some((c) => c.id === capability && c.workers === workers) === true && controllerIn(status, id)?.synced === true

/** Polls `client`'s status until `check` holds. */
const awaitStatus = (client: MeshClient, what: string, check: (status: MeshStatus) => boolean, timeoutMs = 30_000): Promise<MeshStatus> => {
  let last: unknown
  return until(
    what,
    async () => {
      const status = await client.status()
      last = { workers: status.workers.map((w) => [w.id, w.state]), controllers: status.controllers }
      return check(status) && status
    },
    { timeoutMs, show: () => last },
  )
}

const healthy = (status: MeshStatus, ids: ReadonlyArray<string>): boolean => ids.every((id) => status.workers.some((w) => w.id === id && w.state === "healthy"))

describe("three crank controller processes federated over nats-server", () => {
  it("serves a remote capability, shows the controllers, and moves a SIGKILLed controller's workers with no request lost", { timeout: 240_000 }, async () => {
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()]
    const [u1, u2, u3] = [p1, p2, p3].map((port) => `ws://127.0.0.1:${port}`) as [string, string, string]
    // Workers first: they wait for their controllers (registration retries with backoff).
    const insecure = { env: { CRANK_INSECURE: "1" } }
    processes.start(["worker", "examples/hello", "--node", "h1", "--controller", `${u1},${u2}`], { ...insecure, name: "worker h1" })
    processes.start(["worker", "examples/hello", "--node", "h2", "--controller", `${u1},${u2}`], { ...insecure, name: "worker h2" })
    processes.start(["worker", "examples/document-convert", "--node", "d3", "--controller", u3], { ...insecure, name: "worker d3" })
    const c1 = await startController("c1", p1)
    await startController("c2", p2)
    await startController("c3", p3)
    const hello = ["h1/hello-1", "h2/hello-1"]

    const [at1, at2, at3] = [await connect(u1), await connect(u2), await connect(u3)]
    await awaitStatus(at1, "hello workers healthy at c1", (s) => healthy(s, hello))
    await awaitStatus(at3, "d3 healthy at c3", (s) => healthy(s, ["d3/document-convert-1"]))
    await awaitStatus(at1, "c1 synced with c3's document.convert", (s) => servesThere(s, "c3", "document.convert", 1))
    await awaitStatus(at3, "c3 synced with c1's hello.greet", (s) => servesThere(s, "c1", "hello.greet", 2))

    // crank invoke through c1, for a capability that lives only behind c3.
    const invoked = await processes.run(
      [
        "invoke",
        "document.convert",
        JSON.stringify({ document: "# Title\n\nSome *text*.", from: "markdown", to: "html" }),
        "--controller",
        u1,
        "--insecure",
        "--json",
      ],
      { timeoutMs: 30_000 },
    )
    expect(invoked.code, invoked.stderr).toBe(0)
    expect(JSON.parse(invoked.stdout).document).toContain("<h1>Title</h1>")
    expect((await at1.status()).workers.map((w) => w.id)).not.toContain("d3/document-convert-1")

    // crank status on c1: the CONTROLLERS table, and the same in --json.
    const text = await processes.run(["status", "--controller", u1, "--insecure"], { timeoutMs: 30_000 })
    expect(text.code, text.stderr).toBe(0)
    const rows = text.stdout.split("\n")
    expect(rows.some((row) => /^CONTROLLER\s+STATE\s+HEARD\s+ADDRESS/.test(row))).toBe(true)
    expect(rows.find((row) => row.startsWith("c1 "))).toMatch(/this one.*hello\.greet@1\.0\.0 \(2\)/)
    expect(rows.find((row) => row.startsWith("c2 "))).toMatch(/synced .* ago +nats:\/\/127\.0\.0\.1:\d+\/controller-c2/)
    expect(rows.find((row) => row.startsWith("c3 "))).toMatch(/synced.*document\.convert@1\.0\.0 \(1\)/)
    const json = await processes.run(["status", "--controller", u1, "--insecure", "--json"], { timeoutMs: 30_000 })
    const controllers = (JSON.parse(json.stdout) as MeshStatus).controllers!
    expect(controllers.map((c) => c.id)).toEqual(["c1", "c2", "c3"])
    expect(controllers[0]).toMatchObject({ self: true, alive: true, synced: true })
    expect(controllers[2]).toMatchObject({ alive: true, synced: true, capabilities: [{ id: "document.convert", version: "1.0.0", workers: 1 }] })

    // The load loop, through c3 (which has no hello worker: every request is forwarded), while c1 is SIGKILLed.
    const total = 200
    const maxTries = 100
    const answers = new Map<number, string>()
    const failures = new Map<string, number>()
    let tries = 0
    let next = 0
    let killedAt: number | undefined
    let moved: Promise<number> | undefined
    const lane = async () => {
      while (next < total) {
        const n = next++
        for (let attempt = 1; ; attempt++) {
          tries++
          const exit = await at3.settle(HelloGreet, { message: `request ${n}` })
          if (Exit.isSuccess(exit)) {
            expect(exit.value.greeting).toContain(`request ${n}`)
            expect(answers.has(n)).toBe(false)
            answers.set(n, exit.value.worker)
            break
          }
          const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          const code = (error as { code?: string } | undefined)?.code ?? String(error)
          failures.set(code, (failures.get(code) ?? 0) + 1)
          // Only "it never ran" answers while the workers move; anything else fails the test here.
          expect(["NO_WORKER", "UNAVAILABLE"]).toContain(code)
          expect(attempt).toBeLessThan(maxTries)
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        if (answers.size === 30 && killedAt === undefined) {
          killedAt = performance.now()
          await c1.stop("SIGKILL")
          // Watched from the kill on: how long until c2 has both of c1's workers healthy.
          const since = killedAt
          moved = awaitStatus(at2, "hello workers healthy at c2", (s) => healthy(s, hello)).then(() => Math.round(performance.now() - since))
        }
      }
    }
    await Promise.all([lane(), lane(), lane(), lane()])

    expect(killedAt).toBeDefined()
    expect([...answers.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, n) => n))
    expect(new Set(answers.values())).toEqual(new Set(hello))
    const movedAfterMs = await moved!
    expect((await at2.status()).workers.map((w) => w.id).sort()).toEqual(hello)
    // c1 is gone from c3's view (silent past the stale period), and c2 now serves hello.greet there.
    const after = await awaitStatus(
      at3,
      "c3 dropped c1 and routes hello.greet to c2",
      (s) => controllerIn(s, "c1") === undefined && servesThere(s, "c2", "hello.greet", 2),
    )
    expect(after.controllers!.map((c) => c.id)).toEqual(["c3", "c2"])
    console.info(
      `federationProcesses: ${total} requests answered in ${tries} tries (retried: ${JSON.stringify(Object.fromEntries(failures))}); ` +
        `hello workers at c2 within ${movedAfterMs} ms of the SIGKILL (federation stale period ${federationStaleMs} ms)`,
    )

    // crank status on a survivor shows the controllers left.
    const survivor = await processes.run(["status", "--controller", u3, "--insecure"], { timeoutMs: 30_000 })
    expect(survivor.code, survivor.stderr).toBe(0)
    expect(survivor.stdout).toMatch(/^c3 +this one.*document\.convert@1\.0\.0 \(1\)/m)
    expect(survivor.stdout).toMatch(/^c2 +synced.*hello\.greet@1\.0\.0 \(2\)/m)
    expect(survivor.stdout).not.toMatch(/^c1 /m)
  })
})
