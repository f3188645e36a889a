/**
 * The dashboard in a real headless Chromium (the one inside the `@sparticuz/chromium` npm package, through
 * playwright-core), against a real mesh on a free loopback port: the controller and three workers in this
 * process, and one `crank worker` as a separate process so it can be SIGKILLed. The page must show each change
 * pushed to it, without polling; docs/dashboard.png is taken from it.
 *
 * Every wait is bounded; every spawned process is killed after its test or the file (`useProcesses`), whatever
 * happened.
 */
import { statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { awaitWorkers } from "../../actors/awaitWorkers.ts"
import type { Controller } from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import helloWorker from "../../examples/hello/index.ts"
import { makeControllerHttp } from "../../src/dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../src/http/httpUrl.ts"
import * as Node from "../../src/Node.ts"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { launchChromium } from "../support/chromium.ts"
import { heldWorker, TestHold } from "../support/heldWorker.ts"
import { until } from "../support/poll.ts"
import { type CrankProcess, useProcesses } from "../support/processes.ts"

// The picture in docs/ is refreshed on request (CRANK_UPDATE_DOCS=1 npm test), so a test run leaves the tree clean.
const screenshot =
  process.env.CRANK_UPDATE_DOCS === "1"
    ? fileURLToPath(new URL("../../docs/dashboard.png", import.meta.url))
    : join(tmpdir(), `crank-dashboard-${process.pid}.png`)

/**
 * Stale is immediate on a dropped connection; the stale window and eviction are far longer than the test, so a
 * worker going stale here was noticed by its connection (never a heartbeat timeout), and its row stays.
 */
const timings = { heartbeatIntervalMs: 200, staleAfterMs: 600_000, evictAfterMs: 600_000 }

const processes = useProcesses()

const row = (id: string, state?: string) => `#workers .worker[data-worker-id="${id}"]${state === undefined ? "" : `[data-state="${state}"]`}`

describe("dashboard (Chromium)", () => {
  const scope = Effect.runSync(Scope.make())
  const held = heldWorker("held")
  let browser: Browser
  let page: Page
  let node: Node.CrankNode
  let controller: Controller
  let base: string
  let remote: CrankProcess
  const requested: Array<string> = []

  beforeAll(async () => {
    const browserStarting = launchChromium()
    await Effect.runPromise(
      Effect.gen(function* () {
        node = yield* Node.start({
          nodeId: "dev",
          controller: {
            addresses: ["ws://127.0.0.1:0", "memory://controller"],
            logTransitions: false,
            http: (controller) =>
              Effect.map(
                makeControllerHttp(() => controller),
                (served) => served.handle,
              ),
          },
          controllerAddress: "memory://controller",
          workers: [{ definition: helloWorker, replicas: 2 }, held.definition],
          workerListen: "memory://",
        })
        controller = node.controller()!
      }).pipe(
        withTunables({ ...timings, drainDeadlineMs: 20_000 }),
        Effect.provideService(Transport, combine(MemoryTransport.make(), WebSocketTransport.make())),
        Scope.provide(scope),
      ),
    )
    base = httpUrlOf(controller.address)!
    remote = processes.start(["worker", "examples/hello", "--controller", controller.address, "--node", "remote-1"])
    await Effect.runPromise(awaitWorkers(controller, (ws) => ws.filter((w) => w.state === "healthy").length === 4, 20_000))
    browser = await browserStarting
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    page.on("request", (request) => requested.push(new URL(request.url()).pathname))
    // A few requests, so the counts on the page are not all zero.
    await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(node.client({ timeoutMs: 5_000 }), (client) =>
          Effect.forEach(["ada", "grace", "edsger", "barbara", "tony", "leslie"], (message) => client.invoke(HelloGreet, { message }), { discard: true }),
        ),
      ),
    )
  }, 120_000)

  afterAll(async () => {
    held.release()
    await browser?.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("shows every worker healthy, with its lifecycle drawn from the machine", async () => {
    await page.goto(base)
    await page.waitForSelector(row("remote-1/hello-1", "healthy"), { timeout: 15_000 })
    for (const id of ["dev/hello-1", "dev/hello-2", "dev/held-1"]) await page.waitForSelector(row(id, "healthy"), { timeout: 10_000 })
    expect(await page.textContent(`${row("remote-1/hello-1")} .badge`)).toBe("healthy")
    // The strip has one segment per state of the real machine, the current one lit.
    expect(await page.$$eval(`${row("remote-1/hello-1")} .strip i`, (els) => els.length)).toBe(6)
    expect(await page.$$eval(`${row("remote-1/hello-1")} .strip i.on`, (els) => els.map((e) => e.getAttribute("title")?.split(":")[0]))).toEqual(["healthy"])
    expect(await page.$$eval("#machine svg g.node.state", (els) => els.length)).toBe(6)
    await page.waitForSelector("#connection.live", { timeout: 10_000 })
  })

  it("filters by text", async () => {
    await page.fill("#filter", "held")
    await page.waitForFunction(() => document.querySelectorAll("#workers .worker").length === 1, undefined, { timeout: 10_000 })
    expect(await page.textContent("#shown")).toBe("1 of 4 workers")
    await page.fill("#filter", "")
    await page.waitForFunction(() => document.querySelectorAll("#workers .worker").length === 4, undefined, { timeout: 10_000 })
  })

  it("shows a SIGKILLed worker process going stale on its dropped connection", async () => {
    const watcher = processes.start(["watch", "--json", "--controller", controller.address])
    await watcher.waitForLine(/^watching /, 15_000)
    remote.child.kill("SIGKILL")
    await page.waitForSelector(row("remote-1/hello-1", "stale"), { timeout: 15_000 })
    expect(await page.textContent(`${row("remote-1/hello-1")} .badge`)).toBe("stale")
    // crank watch printed the same transition, as JSON: the dropped connection, not a heartbeat timeout.
    const printed = JSON.parse(await watcher.waitForLine(/"to":"stale"/, 10_000))
    expect(printed).toMatchObject({ workerId: "remote-1/hello-1", from: "healthy", to: "stale", event: "DISCONNECTED" })
    watcher.child.kill("SIGINT")
  })

  it("shows a drained worker draining (its machine lit there), then gone", async () => {
    const answer = Effect.runPromise(Effect.scoped(Effect.flatMap(node.client({ timeoutMs: 20_000 }), (c) => c.invoke(TestHold, {}))))
    await until("the held request in flight", () => held.held() === 1)
    await Effect.runPromise(controller.drain("dev/held-1", 20_000))
    await page.waitForSelector(row("dev/held-1", "draining"), { timeout: 10_000 })
    await page.click(row("dev/held-1"))
    await page.waitForSelector('#detail-state[data-state="draining"]', { timeout: 10_000 })
    expect(await page.textContent("#machine svg g.node.state.current title")).toBe("draining")
    expect(await page.textContent("#timeline li:first-child .to")).toBe("draining")
    expect(await page.textContent("#next")).toContain("DRAINED → stopped")
    // The picture the docs show, once the rows' change highlight has faded.
    await page.waitForFunction(() => document.getAnimations().length === 0, undefined, { timeout: 10_000 })
    await page.screenshot({ path: screenshot })
    expect(statSync(screenshot).size).toBeGreaterThan(10_000)

    held.release()
    expect(await answer).toEqual({ worker: "dev/held-1" })
    await page.waitForSelector(row("dev/held-1"), { state: "detached", timeout: 10_000 })
    await page.waitForSelector('#gone [data-worker-id="dev/held-1"]', { timeout: 10_000 })
  })

  it("never polled: one event stream, and each file (the page's ES modules included) fetched once", () => {
    const counts = new Map<string, number>()
    for (const path of requested) counts.set(path, (counts.get(path) ?? 0) + 1)
    expect(Object.fromEntries(counts)).toEqual({
      "/": 1,
      "/styles.css": 1,
      "/app.js": 1,
      "/model.js": 1,
      "/render.js": 1,
      "/detail.js": 1,
      "/dom.js": 1,
      "/format.js": 1,
      "/connect.js": 1,
      "/api/machine.json": 1,
      "/api/diagram.svg": 1,
      "/api/events": 1,
    })
  })
})
