/**
 * The dashboard's Controllers section in a real headless Chromium (tests/support/chromium.ts), against a real
 * controller on a free loopback port with two hello workers in this process.
 *
 * Federating for real needs nats-server, which `npm test` does not have: the federated controller here is given
 * an `elsewhere` whose `controllers()` is the test's (the seam actors/Federation.ts fills). Its own entry is
 * computed as the federation computes it (`summaryOf` over the controller's live workers); its peers are the
 * test's and change while the page is open, so what the page shows is pushed through `crank.status` and the
 * snapshot stream, not read once. A second controller without `elsewhere` shows no Controllers section.
 */
import { Effect, Exit, References, Scope } from "effect"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Controller from "../../actors/Controller.ts"
import { summaryOf } from "../../actors/federation/localSummary.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import type { FederatedController, MeshStatus } from "../../capabilities/crank.ts"
import helloWorker from "../../examples/hello/index.ts"
import { makeControllerHttp } from "../../src/dashboard/controllerHttp.ts"
import { httpUrlOf } from "../../src/http/httpUrl.ts"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { launchChromium } from "../support/chromium.ts"
import { eventually } from "../support/poll.ts"

type Capabilities = FederatedController["capabilities"]
const cap = (id: string, version: string, workers: number): Capabilities[number] => ({ id, version, workers, inFlight: 0, maxInFlight: 4 * workers })

/** The peers the federated controller reports; the tests change them while the page is open. */
let peers: Array<FederatedController> = []

describe("dashboard Controllers section (Chromium)", () => {
  const scope = Effect.runSync(Scope.make())
  let browser: Browser
  let page: Page
  let federated: Controller.Controller
  let plain: Controller.Controller

  const start = (id: string, withElsewhere: boolean) =>
    Effect.gen(function* () {
      let controller: Controller.Controller | undefined
      const elsewhere: Controller.Elsewhere = {
        relay: () => undefined,
        relayStream: () => undefined,
        controllers: () => [
          {
            id,
            address: `nats://127.0.0.1:4222/controller-${id}`,
            self: true,
            alive: true,
            synced: true,
            lastHeardAt: Date.now(),
            capabilities: [...summaryOf(controller?.workers() ?? []).values()].map(({ capability, version, workers, inFlight, maxInFlight }) => ({
              id: capability,
              version,
              workers,
              inFlight,
              maxInFlight,
            })),
          },
          ...peers,
        ],
      }
      controller = yield* Controller.make({
        addresses: ["ws://127.0.0.1:0", `memory://${id}`],
        ...(withElsewhere ? { elsewhere } : {}),
        http: (c) =>
          Effect.map(
            makeControllerHttp(() => c),
            (surface) => surface.handle,
          ),
      })
      for (const replica of [1, 2]) yield* Worker.start(helloWorker, { controller: `memory://${id}`, workerId: `${id}/hello-${replica}` })
      yield* eventually(`${id}'s workers healthy`, () => controller!.workers().filter((w) => w.state === "healthy").length === 2)
      return controller
    })

  beforeAll(async () => {
    const browserStarting = launchChromium()
    peers = [
      {
        id: "c3",
        address: "nats://127.0.0.1:4222/controller-c3",
        alive: true,
        synced: true,
        lastHeardAt: Date.now(),
        capabilities: [cap("document.convert", "1.0.0", 1)],
      },
      { id: "c2", address: "nats://127.0.0.1:4222/controller-c2", alive: true, synced: false, lastHeardAt: Date.now(), capabilities: [] },
    ]
    ;[federated, plain] = await Effect.runPromise(
      Effect.all([start("c1", true), start("solo", false)]).pipe(
        withTunables({ heartbeatIntervalMs: 100, staleAfterMs: 10_000 }),
        Effect.provideService(Transport, combine(MemoryTransport.make(), WebSocketTransport.make())),
        Effect.provideService(References.MinimumLogLevel, "None"),
        Scope.provide(scope),
      ),
    )
    browser = await browserStarting
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  const rowOf = (id: string) => `#controllers tr[data-controller-id="${id}"]`
  const cells = (capability: string) =>
    page.$$eval(`#placement tr[data-capability="${capability}"] td[data-controller-id]`, (tds) =>
      tds.map((td) => `${td.dataset.controllerId}=${td.textContent}`),
    )

  it("lists the federation's controllers, this one first and marked, with where each capability lives", async () => {
    await page.goto(httpUrlOf(federated.address)!)
    await page.waitForSelector(`${rowOf("c2")}[data-status="syncing"]`, { timeout: 15_000 })
    expect(await page.isVisible("#controllers-section")).toBe(true)
    expect(await page.$$eval("#controllers tr", (trs) => trs.map((tr) => `${tr.dataset.controllerId}:${tr.dataset.status}`))).toEqual([
      "c1:self",
      "c2:syncing",
      "c3:synced",
    ])
    expect(await page.textContent(rowOf("c1"))).toContain("(this one)")
    expect(await page.textContent(`${rowOf("c3")} .rel`)).toMatch(/ ago$/)
    expect(await page.$$eval("#placement-head th", (ths) => ths.map((th) => th.textContent))).toEqual(["capability", "version", "c1 (this)", "c2", "c3"])
    expect(await cells("hello.greet@1.0.0")).toEqual(["c1=2", "c2=–", "c3=–"])
    expect(await cells("document.convert@1.0.0")).toEqual(["c1=–", "c2=–", "c3=1"])
    // The same controllers /api/status (crank.status) gives, in the federation's order (the page sorts peers by id).
    const status = (await (await fetch(`${httpUrlOf(federated.address)}api/status`)).json()) as MeshStatus
    expect(status.controllers?.map((c) => c.id)).toEqual(["c1", "c3", "c2"])
  })

  it("follows the federation as it changes, pushed with the periodic snapshots", async () => {
    peers = [
      { ...peers[0]!, alive: false },
      { ...peers[1]!, synced: true, lastHeardAt: Date.now(), capabilities: [cap("hello.greet", "1.0.0", 3)] },
    ]
    await page.waitForSelector(`${rowOf("c3")}[data-status="silent"]`, { timeout: 10_000 })
    await page.waitForSelector(`${rowOf("c2")}[data-status="synced"]`, { timeout: 10_000 })
    await page.waitForFunction(
      () => document.querySelector('#placement tr[data-capability="hello.greet@1.0.0"] td[data-controller-id="c2"]')?.textContent === "3",
      undefined,
      {
        timeout: 10_000,
      },
    )
    expect(await cells("hello.greet@1.0.0")).toEqual(["c1=2", "c2=3", "c3=–"])
  })

  it("shows no Controllers section for a controller that is not federated", async () => {
    const solo = await browser.newPage()
    await solo.goto(httpUrlOf(plain.address)!)
    await solo.waitForSelector('#workers .worker[data-worker-id="solo/hello-1"]', { timeout: 15_000 })
    expect(await solo.isHidden("#controllers-section")).toBe(true)
    expect(await solo.$$eval("#controllers tr", (trs) => trs.length)).toBe(0)
    await solo.close()
  })
})
