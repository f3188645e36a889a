/**
 * A page served from another origin, in a real headless Chromium, tries what the issue found it could do: open the
 * controller's WebSocket and drain a worker, and read the mesh's status. Both controllers refuse it: a plain one
 * (`--insecure`, as `crank dev` runs), and a secure one (`wss://`) in an operator's browser that holds an operator's
 * client certificate, so the page would otherwise ride on it. The attacker's page is on 127.0.0.1 too, on another
 * port: another origin, the same machine. A page of the controller's own origin, in the same browser, opens the
 * WebSocket (and, with the certificate, reads the API): what refuses the other page is the Origin check.
 */
import { mkdtempSync, rmSync } from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Clock, Effect, Exit, References, Scope } from "effect"
import type { Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import helloWorker from "../../examples/hello/index.ts"
import { makeControllerHttp } from "../../src/dashboard/controllerHttp.ts"
import { operatorAccess } from "../../src/dashboard/operatorAccess.ts"
import { httpUrlOf } from "../../src/http/httpUrl.ts"
import { openControllerAuthority } from "../../src/trust/controllerAuthority.ts"
import { localCertificate } from "../../src/trust/localCertificate.ts"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { launchChromium } from "../support/chromium.ts"
import { eventually } from "../support/poll.ts"

/** The attacker's page: tries the controller's WebSocket (sending a drain if it opens) and its status API. */
const attackerPage = `<!doctype html><html><body><script>
window.attempt = async (wsUrl, statusUrl, workerId) => {
  const ws = await new Promise((resolve) => {
    const socket = new WebSocket(wsUrl)
    socket.onopen = () => {
      socket.send(JSON.stringify({ _tag: "Invoke", id: "evil", capability: "crank.drain", range: "*", input: { workerId }, timeoutMs: 5000 }))
      resolve("open")
    }
    socket.onerror = () => resolve("error")
    socket.onclose = (event) => resolve("closed " + event.code)
  })
  let status
  try {
    const response = await fetch(statusUrl)
    status = "read " + response.status + " " + (await response.text()).slice(0, 200)
  } catch (error) {
    status = "blocked " + error.name
  }
  return { ws, status }
}
</script></body></html>`

/** The attacker page's `attempt`: what became of its WebSocket, and of its read of the status API. */
type Attempt = (wsUrl: string, statusUrl: string, workerId: string) => Promise<{ readonly ws: string; readonly status: string }>

/** Whether a page can open a WebSocket to `url`: run inside the page by Playwright. */
const opensWebSocket = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = new WebSocket(url)
    socket.onopen = () => {
      socket.close()
      resolve(true)
    }
    socket.onerror = () => resolve(false)
  })

const dirs: Array<string> = []

describe("a browser page from another origin (Chromium)", () => {
  const scope = Effect.runSync(Scope.make())
  let browser: Browser
  let attacker: http.Server
  let attackerUrl: string
  const inScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
    Effect.runPromise(
      effect.pipe(
        Scope.provide(scope),
        withTunables({ heartbeatIntervalMs: 100, staleAfterMs: 10_000 }),
        Effect.provideService(References.MinimumLogLevel, "None"),
      ),
    )

  beforeAll(async () => {
    const starting = launchChromium()
    attacker = http.createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" })
      response.end(attackerPage)
    })
    await new Promise<void>((resolve) => attacker.listen({ host: "127.0.0.1", port: 0 }, resolve))
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`
    browser = await starting
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await new Promise((resolve) => attacker?.close(resolve))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it("cannot open a plain controller's WebSocket to drain a worker, nor read its status; the controller's own page can", async () => {
    const { controller, worker } = await inScope(
      Effect.gen(function* () {
        let controller: Controller.Controller | undefined
        const transport = combine(
          MemoryTransport.make(),
          WebSocketTransport.make({ onRefusal: (reason, remote, detail) => controller?.refused(reason === "origin" ? "origin" : "tls", remote, detail) }),
        )
        controller = yield* Controller.make({
          addresses: ["ws://127.0.0.1:0", "memory://controller"],
          http: (c) =>
            Effect.map(
              makeControllerHttp(() => c),
              (surface) => surface.handle,
            ),
        }).pipe(Effect.provideService(Transport, transport))
        const worker = yield* Worker.start(helloWorker, { controller: "memory://controller", workerId: "dev/hello-1" }).pipe(
          Effect.provideService(Transport, transport),
        )
        yield* eventually("healthy", () => controller!.worker("dev/hello-1")?.state === "healthy")
        return { controller: controller!, worker }
      }),
    )
    const page = await browser.newPage()
    await page.goto(attackerUrl)
    const attempt = await page.evaluate(
      ([ws, status]) => (window as unknown as { attempt: Attempt }).attempt(ws!, status!, "dev/hello-1"),
      [controller.address, `${httpUrlOf(controller.address)}api/status`],
    )
    expect(attempt.ws).toBe("error")
    expect(attempt.status).toBe("blocked TypeError")
    expect(controller.refusals().get("origin")).toBe(1)
    expect(controller.worker("dev/hello-1")?.state).toBe("healthy")
    expect(worker.state()).toBe("healthy")

    // The same WebSocket from a page of the controller's own origin opens: the refusal above is the Origin check.
    const own = await browser.newPage()
    await own.goto(`${httpUrlOf(controller.address)}healthz`)
    expect(await own.evaluate(opensWebSocket, controller.address)).toBe(true)
    expect(controller.refusals().get("origin")).toBe(1)
    await page.close()
    await own.close()

    // A page that reached it through DNS rebinding is same-origin to the browser, but its Host names its own site.
    const port = new URL(controller.address).port
    const asked = (host: string) =>
      new Promise<number>((resolve, reject) =>
        http
          .get({ host: "127.0.0.1", port, path: "/api/status", headers: { host }, agent: false }, (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          })
          .on("error", reject),
      )
    expect(await asked(`attacker.example:${port}`)).toBe(403)
    expect(await asked(`localhost:${port}`)).toBe(200)
    expect(controller.refusals().get("origin")).toBe(2)
  }, 60_000)

  it("cannot ride on an operator's client certificate: a secure controller refuses the other origin's WebSocket and hides its API", async () => {
    const { controller, operator } = await inScope(
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "crank-origin-"))
        dirs.push(dir)
        const authority = yield* openControllerAuthority(dir, 3_600_000)
        let controller: Controller.Controller | undefined
        const transport = WebSocketTransport.make({
          tls: { credentials: authority.cell.current, allowAnonymous: true },
          onRefusal: (reason, remote, detail) => controller?.refused(reason === "origin" ? "origin" : "tls", remote, detail),
        })
        const operators = operatorAccess(authority.tokens, yield* Clock.Clock)
        controller = yield* Controller.make({
          addresses: ["wss://127.0.0.1:0"],
          access: "certificates",
          signer: { ca: authority.ca, tokens: authority.tokens },
          http: (c) =>
            Effect.map(
              makeControllerHttp(() => c, { operators }),
              (surface) => surface.handle,
            ),
        }).pipe(Effect.provideService(Transport, transport))
        return { controller: controller!, operator: yield* localCertificate(authority.ca, { role: "operator", id: "ops" }, 3_600_000) }
      }),
    )
    const origin = httpUrlOf(controller.address)!.slice(0, -1)
    // An operator's browser: it holds an operator's client certificate for the controller, and trusts it. A page of
    // another origin open in the same browser is what must not ride on those credentials.
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [{ origin, cert: Buffer.from(operator.credentials.certificatePem), key: Buffer.from(operator.credentials.privateKeyPem) }],
    })
    const page = await context.newPage()
    await page.goto(attackerUrl)
    const attempt = await page.evaluate(
      ([ws, status]) => (window as unknown as { attempt: Attempt }).attempt(ws!, status!, "any"),
      [controller.address, `${origin}/api/status`],
    )
    expect(attempt.ws).toBe("error")
    expect(attempt.status).toBe("blocked TypeError")
    expect(controller.refusals().get("origin")).toBe(1)
    // The controller's own pages, in the same browser, may: the operator's certificate opens the API and the WebSocket.
    const own = await context.newPage()
    const response = await own.goto(`${origin}/api/status`)
    expect(response?.status()).toBe(200)
    expect(await own.evaluate(opensWebSocket, controller.address)).toBe(true)
    expect(controller.refusals().get("origin")).toBe(1)
    await context.close()
  }, 60_000)
})
