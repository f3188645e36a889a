/**
 * The controller against peers that misbehave over a real WebSocket: malformed advertisements, half-open links,
 * one connection posing as many workers, floods, workers that never finish draining, and callers reusing ids.
 */
import { Effect, Exit, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import * as Controller from "../../actors/Controller.ts"
import { defaults, type Timings, withTunables } from "../../actors/Tunables.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { until } from "../support/poll.ts"

let scope: Scope.Closeable | undefined
const sockets: Array<WebSocket> = []
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  scope = undefined
})

const startController = async (timings?: Timings, token?: string) => {
  scope = Effect.runSync(Scope.make())
  return Effect.runPromise(
    Controller.make({ addresses: ["ws://127.0.0.1:0"], ...(token ? { token } : {}) }).pipe(
      withTunables(timings ?? {}),
      Effect.provideService(Transport, WebSocketTransport.make()),
      Scope.provide(scope),
    ),
  )
}

/** A raw peer that records every frame it receives and how it was closed. */
const peer = async (url: string) => {
  const ws = new WebSocket(url)
  sockets.push(ws)
  const frames: Array<Record<string, unknown>> = []
  let closed: { code: number; reason: string } | undefined
  ws.on("message", (data) => frames.push(JSON.parse(String(data))))
  ws.on("close", (code, reason) => (closed = { code, reason: String(reason) }))
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)))
  return { ws, frames, closed: () => closed, send: (frame: unknown) => ws.send(JSON.stringify(frame)) }
}

const capability = (version: string) => ({
  id: "demo.x",
  version,
  name: "x",
  description: "",
  errors: [],
  idempotent: false,
  tags: [],
  placement: {},
  inputSchema: {},
  outputSchema: {},
})
const register = (workerId: string, versions: Array<string> = ["1.0.0"], token?: string) => ({
  _tag: "Register",
  protocolVersion: 1,
  workerId,
  nodeId: "n",
  capabilities: versions.map(capability),
  maxInFlight: 4,
  ...(token ? { token } : {}),
})

describe("the controller against misbehaving peers", () => {
  it("refuses an advertisement with a version that is not semver, and keeps registering others", async () => {
    const controller = await startController()
    const evil = await peer(controller.address)
    evil.send(register("evil", ["1.0.0", "not-semver"]))
    await until(`evil.frames.length > 0`, () => evil.frames.length > 0)
    expect(evil.frames[0]).toMatchObject({ _tag: "Failure", code: "BAD_FRAME" })
    expect(String(evil.frames[0]!.message)).toContain("not a semver version")
    const good = await peer(controller.address)
    good.send(register("good"))
    await until(`good.frames.some((f) => f._tag === "Registered")`, () => good.frames.some((f) => f._tag === "Registered"))
    expect(controller.workers().map((w) => w.id)).toEqual(["good"])
  })

  it("does not make other workers wait while it drops a half-open link", async () => {
    const controller = await startController()
    const old = await peer(controller.address)
    old.send(register("w1"))
    await until(`old.frames.some((f) => f._tag === "Registered")`, () => old.frames.some((f) => f._tag === "Registered"))
    ;(old.ws as unknown as { _socket: { pause(): void } })._socket.pause() // it will never answer the close
    const fresh = await peer(controller.address)
    fresh.send(register("w1"))
    const other = await peer(controller.address)
    other.send(register("w2"))
    // The close handshake with the silent old connection allows 5 s: w2 registered inside 4 s means the mailbox
    // did not wait for it.
    await until("w2 registered while the old connection's close is still pending", () => other.frames.some((f) => f._tag === "Registered"), {
      timeoutMs: 4_000,
    })
  })

  it("lets one connection register one worker only", async () => {
    const controller = await startController()
    const p = await peer(controller.address)
    p.send(register("a"))
    p.send(register("b"))
    await until(`p.closed() !== undefined`, () => p.closed() !== undefined)
    expect(p.frames.find((f) => f._tag === "Failure")).toMatchObject({ code: "BAD_FRAME" })
    expect(p.closed()!.code).toBe(1008)
    await until(`controller.workers().every((w) => w.state !== "registered")`, () => controller.workers().every((w) => w.state !== "registered"))
    expect(controller.workers().map((w) => w.id)).toEqual(["a"])
  })

  it("tells a worker with a wrong token UNAUTHORIZED, as a complaint it can read over WebSocket", async () => {
    const controller = await startController(undefined, "s3cret")
    const p = await peer(controller.address)
    p.send(register("w", ["1.0.0"], "wrong"))
    await until(`p.closed() !== undefined`, () => p.closed() !== undefined)
    const complaint = p.frames.find((f) => f._tag === "Failure")
    expect(complaint).toMatchObject({ code: "UNAUTHORIZED" })
    expect(complaint).not.toHaveProperty("id")
    expect(p.closed()!.code).toBe(1008)
    expect(controller.workers()).toHaveLength(0)
  })

  it("cuts off a peer that floods control messages", async () => {
    const controller = await startController()
    const p = await peer(controller.address)
    p.send(register("w"))
    await until(`p.frames.some((f) => f._tag === "Registered")`, () => p.frames.some((f) => f._tag === "Registered"))
    for (let seq = 1; seq <= defaults.maxControlMessagesPerSecond + 50; seq++) {
      p.send({ _tag: "Heartbeat", workerId: "w", seq, inFlight: 0, completed: 0 })
    }
    await until(`p.closed() !== undefined`, () => p.closed() !== undefined)
    expect(p.closed()!.code).toBe(1008)
    expect(p.closed()!.reason).toContain("control messages")
  })

  it("evicts a draining worker that never deregisters once its deadline and a stale window have passed", async () => {
    const controller = await startController({ heartbeatIntervalMs: 20, staleAfterMs: 100, evictAfterMs: 10_000 })
    const p = await peer(controller.address)
    p.send(register("lingering"))
    await until(`p.frames.some((f) => f._tag === "Registered")`, () => p.frames.some((f) => f._tag === "Registered"))
    // It keeps its link and heartbeats, but never deregisters.
    let seq = 0
    const beats = setInterval(() => p.send({ _tag: "Heartbeat", workerId: "lingering", seq: ++seq, inFlight: 1, completed: 0 }), 20)
    try {
      await Effect.runPromise(controller.drain("lingering", 100))
      await until(`controller.worker("lingering")?.state === "draining"`, () => controller.worker("lingering")?.state === "draining")
      await until(`controller.worker("lingering") === undefined`, () => controller.worker("lingering") === undefined, { timeoutMs: 2_000 })
      expect(p.frames.some((f) => f._tag === "Drain")).toBe(true)
    } finally {
      clearInterval(beats)
    }
  })

  it("keeps two callers' requests apart when they reuse the same id through the relay", async () => {
    const controller = await startController()
    const worker = await peer(controller.address)
    worker.send(register("echo"))
    await until(`worker.frames.some((f) => f._tag === "Registered")`, () => worker.frames.some((f) => f._tag === "Registered"))
    worker.send({ _tag: "Heartbeat", workerId: "echo", seq: 1, inFlight: 0, completed: 0 })
    await until(`controller.worker("echo")?.state === "healthy"`, () => controller.worker("echo")?.state === "healthy")
    // The worker answers each Invoke with its own input, after both have arrived.
    const invokes: Array<Record<string, unknown>> = []
    worker.ws.on("message", (data) => {
      const frame = JSON.parse(String(data))
      if (frame._tag !== "Invoke") return
      invokes.push(frame)
      if (invokes.length === 2) for (const i of invokes) worker.send({ _tag: "Result", id: i.id, output: i.input })
    })
    const a = await peer(controller.address)
    const b = await peer(controller.address)
    const call = (from: typeof a, input: string) => from.send({ _tag: "Invoke", id: "1", capability: "demo.x", range: "^1", input, timeoutMs: 2_000 })
    call(a, "from a")
    call(b, "from b")
    await until(`a.frames.length > 0 && b.frames.length > 0`, () => a.frames.length > 0 && b.frames.length > 0)
    expect(a.frames[0]).toEqual({ _tag: "Result", id: "1", output: "from a" })
    expect(b.frames[0]).toEqual({ _tag: "Result", id: "1", output: "from b" })
    expect(new Set(invokes.map((i) => i.id)).size).toBe(2)
  })
})
