/**
 * The `Origin` check of a WebSocket listener, with real upgrades on 127.0.0.1 (ws:// and wss://): an upgrade from a
 * page of a foreign origin is refused with 403 and a reason, reported to `onRefusal` as "origin", and never reaches
 * `accept`; the listener's own origin, the loopback names at its port, listed origins and clients that send no
 * `Origin` (not browsers) pass. (A real browser's Origin is tested with the controller, in Chromium.)
 */
import { Effect, type Scope } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { type Credentials, wsClientOptions } from "../../trust/tlsOptions.ts"
import { Peer } from "./conformance.ts"
import { issue, makeCa } from "./tlsFixtures.ts"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

type Outcome = { readonly opened: true } | { readonly status: number; readonly body: string }

/** Opens a WebSocket as a browser would, with these headers; what the listener answered. */
const upgrade = (address: string, headers: Record<string, string>, options: WebSocket.ClientOptions = {}): Effect.Effect<Outcome> =>
  Effect.promise(
    () =>
      new Promise<Outcome>((resolve, reject) => {
        const socket = new WebSocket(address, { ...options, headers })
        socket.once("open", () => {
          socket.terminate()
          resolve({ opened: true })
        })
        socket.once("unexpected-response", (_request, response) => {
          let body = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => (body += chunk))
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
        })
        socket.once("error", (error) => {
          if (!/Unexpected server response/.test(error.message)) reject(error)
        })
      }),
  )

const listening = (address: string, options: WebSocketTransport.WebSocketTransportOptions = {}) =>
  Effect.gen(function* () {
    const refused: Array<{ reason: string; remoteAddress: string; detail: string }> = []
    const server = new Peer()
    const transport = WebSocketTransport.make({
      ...options,
      onRefusal: (reason, remoteAddress, detail) => void refused.push({ reason, remoteAddress, detail }),
    })
    const listener = yield* transport.listen(address, server.handlers)
    const port = Number(new URL(listener.address).port)
    return { listener, server, refused, port }
  })

describe("WebSocket upgrades and the Origin header", () => {
  it("refuses a page from another origin with 403 and a reason, reported as 'origin', before accept", () =>
    run(
      Effect.gen(function* () {
        const { listener, server, refused } = yield* listening("ws://127.0.0.1:0/mesh")
        const outcome = yield* upgrade(listener.address, { Origin: "https://evil.example" })
        expect(outcome).toEqual({ status: 403, body: expect.stringContaining('the page\'s origin "https://evil.example" is not allowed') })
        expect(refused).toEqual([
          { reason: "origin", remoteAddress: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+$/), detail: expect.stringContaining("evil.example") },
        ])
        expect(server.connections).toEqual([])
      }),
    ))

  it("lets through its own origin, the loopback names at its port, and clients that send no Origin", () =>
    run(
      Effect.gen(function* () {
        const { listener, server, refused, port } = yield* listening("ws://127.0.0.1:0")
        for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`, `HTTP://LOCALHOST:${port}`]) {
          expect(yield* upgrade(listener.address, { Origin: origin })).toEqual({ opened: true })
        }
        expect(yield* upgrade(listener.address, {})).toEqual({ opened: true })
        expect(refused).toEqual([])
        expect(server.connections).toHaveLength(5)
      }),
    ))

  it("refuses the same host at another port or scheme, Origin null, and a rebinding page whose Host names the attacker", () =>
    run(
      Effect.gen(function* () {
        const { listener, server, refused, port } = yield* listening("ws://127.0.0.1:0")
        const foreign: Array<Record<string, string>> = [
          { Origin: `http://127.0.0.1:${port + 1}` },
          { Origin: `https://127.0.0.1:${port}` },
          { Origin: "null" },
          // DNS rebinding: evil.example resolves to 127.0.0.1, and the page says so in both headers.
          { Origin: `http://evil.example:${port}`, Host: `evil.example:${port}` },
        ]
        for (const headers of foreign) expect(yield* upgrade(listener.address, headers)).toMatchObject({ status: 403 })
        expect(refused.map((refusal) => refusal.reason)).toEqual(["origin", "origin", "origin", "origin"])
        expect(server.connections).toEqual([])
      }),
    ))

  it("lets through the origins listed in allowedOrigins, compared after normalisation", () =>
    run(
      Effect.gen(function* () {
        const { listener, refused } = yield* listening("ws://127.0.0.1:0", { allowedOrigins: ["http://Dash.Example:80", "https://ops.example:8443"] })
        expect(yield* upgrade(listener.address, { Origin: "http://dash.example" })).toEqual({ opened: true })
        expect(yield* upgrade(listener.address, { Origin: "https://ops.example:8443" })).toEqual({ opened: true })
        expect(yield* upgrade(listener.address, { Origin: "http://ops.example:8443" })).toMatchObject({ status: 403 })
        expect(refused.map((refusal) => refusal.reason)).toEqual(["origin"])
      }),
    ))

  it("refuses an allowedOrigins entry that is not an http(s) origin when the transport is made", () => {
    expect(() => WebSocketTransport.make({ allowedOrigins: ["dash.example"] })).toThrow(/allowedOrigins: "dash.example" is not an http/)
  })

  describe("over wss://", () => {
    let controller: Credentials
    let worker: Credentials
    beforeAll(async () => {
      const ca = await makeCa()
      controller = await issue(ca, { role: "controller", id: "ctl" })
      worker = await issue(ca, { role: "worker", id: "w1" })
    })

    it("takes https:// at its own port as its own origin, and refuses http:// there", () =>
      run(
        Effect.gen(function* () {
          const { listener, server, refused, port } = yield* listening("wss://127.0.0.1:0", { tls: { credentials: () => controller } })
          const tlsOptions = wsClientOptions(worker, { role: "controller" })
          expect(yield* upgrade(listener.address, { Origin: `https://127.0.0.1:${port}` }, tlsOptions)).toEqual({ opened: true })
          expect(yield* upgrade(listener.address, { Origin: `http://127.0.0.1:${port}` }, tlsOptions)).toMatchObject({ status: 403 })
          expect(refused.map((refusal) => refusal.reason)).toEqual(["origin"])
          expect(server.connections).toHaveLength(1)
        }),
      ))
  })
})
