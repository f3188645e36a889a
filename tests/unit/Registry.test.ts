/**
 * The controller's registry as plain functions: each step takes what happened and when, and returns the
 * commands for the shell (send, close, publish). No fibers, no clock: time is the number passed in.
 */
import { describe, expect, it } from "vitest"
import { type Command, Registry } from "../../actors/Registry.ts"
import { defaults } from "../../actors/Tunables.ts"
import { descriptorOf } from "../../capabilities/Capability.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { protocolVersion, type Register } from "../../transports/Envelope.ts"

class Link {
  open = true
  constructor(readonly name: string) {}
  readonly isOpen = () => this.open
}

const timings = {
  heartbeatIntervalMs: 100,
  staleAfterMs: 400,
  evictAfterMs: 1_000,
  transitionHistory: 20,
  maxCapabilitiesPerWorker: defaults.maxCapabilitiesPerWorker,
  maxIdLength: defaults.maxIdLength,
  maxTextLength: defaults.maxTextLength,
  maxDescriptorBytes: defaults.maxDescriptorBytes,
}
const register = (workerId: string, extra: Partial<Register> = {}): Register => ({
  _tag: "Register",
  protocolVersion,
  workerId,
  nodeId: "n1",
  capabilities: [descriptorOf(HelloGreet)],
  address: `memory://${workerId}`,
  maxInFlight: 10,
  ...extra,
})
const beat = (workerId: string, seq: number) => ({ _tag: "Heartbeat", workerId, seq, inFlight: 0, completed: seq }) as const

const published = (commands: ReadonlyArray<Command<Link>>) =>
  commands.flatMap((c) => (c._tag === "Published" ? [`${c.transition.workerId}: ${c.transition.from} → ${c.transition.to} (${c.transition.event})`] : []))
const sent = (commands: ReadonlyArray<Command<Link>>) => commands.flatMap((c) => (c._tag === "Send" ? [`${c.connection.name} ← ${c.message._tag}`] : []))
const closed = (commands: ReadonlyArray<Command<Link>>) =>
  commands.flatMap((c) => (c._tag === "Close" ? [`${c.connection.name} ${c.info.code} ${c.info.reason}`] : []))

describe("Registry", () => {
  it("registers, acknowledges heartbeats, and routes only a healthy worker", () => {
    const registry = new Registry<Link>(timings)
    const a = new Link("a")
    const joined = registry.step({ _tag: "Message", connection: a, message: register("w1") }, 0)
    expect(published(joined)).toEqual(["w1: starting → registered (REGISTERED)"])
    expect(sent(joined)).toEqual(["a ← Registered"])
    expect(registry.pick("hello.greet", "^1")).toBeUndefined()
    const first = registry.step({ _tag: "Message", connection: a, message: beat("w1", 1) }, 100)
    expect(published(first)).toEqual(["w1: registered → healthy (HEARTBEAT)"])
    expect(sent(first)).toEqual(["a ← HeartbeatAck"])
    expect(registry.pick("hello.greet", "^1")?.id).toBe("w1")
    // A heartbeat that changes nothing publishes nothing: it refreshes a timestamp.
    expect(published(registry.step({ _tag: "Message", connection: a, message: beat("w1", 2) }, 200))).toEqual([])
    expect(registry.routes()).toEqual([
      { id: "w1", address: "memory://w1", nodeId: "n1", capabilities: [{ id: "hello.greet", version: "1.0.0", idempotent: true }] },
    ])
  })

  it("marks a silent worker stale at the stale window and evicts it after the evict window, closing its link", () => {
    const registry = new Registry<Link>(timings)
    const a = new Link("a")
    registry.step({ _tag: "Message", connection: a, message: register("w1") }, 0)
    registry.step({ _tag: "Message", connection: a, message: beat("w1", 1) }, 0)
    expect(published(registry.step({ _tag: "Sweep" }, 399))).toEqual([])
    expect(published(registry.step({ _tag: "Sweep" }, 400))).toEqual(["w1: healthy → stale (HEARTBEAT_TIMEOUT)"])
    expect(registry.pick("hello.greet", "*")).toBeUndefined()
    expect(published(registry.step({ _tag: "Sweep" }, 1_399))).toEqual([])
    const evicted = registry.step({ _tag: "Sweep" }, 1_400)
    expect(published(evicted)).toEqual(["w1: stale → stopped (EVICTED)"])
    expect(closed(evicted)).toEqual(["a 1001 evicted"])
    expect(registry.workers()).toEqual([])
  })

  it("refuses a wrong token and a second worker id on one connection, with a complaint and a close", () => {
    const guarded = new Registry<Link>({ ...timings, token: "s3cret" })
    const a = new Link("a")
    const refused = guarded.step({ _tag: "Message", connection: a, message: register("w1", { token: "nope" }) }, 0)
    expect(sent(refused)).toEqual(["a ← Failure"])
    expect(closed(refused)).toEqual(["a 1008 worker w1: missing or wrong join token"])
    expect(guarded.workers()).toEqual([])

    const open = new Registry<Link>(timings)
    open.step({ _tag: "Message", connection: a, message: register("w1") }, 0)
    expect(closed(open.step({ _tag: "Message", connection: a, message: register("w2") }, 1))).toEqual([
      "a 1008 this connection already registered worker w1; register w2 on a connection of its own",
    ])
    expect(closed(open.step({ _tag: "Message", connection: new Link("b"), message: beat("w9", 1) }, 2))).toEqual(["b 1008 Heartbeat before Register"])
  })

  it("refuses a registration past a limit with LIMIT_EXCEEDED and its reason, keeps nothing of it, and counts it", () => {
    const registry = new Registry<Link>({ ...timings, maxCapabilitiesPerWorker: 2, maxTextLength: 50 })
    const many = register("w1", { capabilities: [1, 2, 3].map((n) => ({ ...descriptorOf(HelloGreet), id: `hello.greet${n}` })) })
    const refused = registry.step({ _tag: "Message", connection: new Link("a"), message: many }, 0)
    expect(refused.flatMap((c) => (c._tag === "Send" && c.message._tag === "Failure" ? [c.message.code] : []))).toEqual(["LIMIT_EXCEEDED"])
    expect(closed(refused)).toEqual(["a 1008 worker w1 advertises 3 capabilities; the limit is 2"])
    const wordy = register("w2", { capabilities: [{ ...descriptorOf(HelloGreet), description: "x".repeat(51) }] })
    expect(closed(registry.step({ _tag: "Message", connection: new Link("b"), message: wordy }, 0))).toEqual([
      "b 1008 worker w2: the description of hello.greet is 51 characters; the limit is 50",
    ])
    expect(registry.workers()).toEqual([])
    expect([...registry.refusals()]).toEqual([
      ["capabilities", 1],
      ["text", 1],
    ])
  })

  it("takes a reconnecting worker on its new link and closes the old one; a disconnect makes it stale at once", () => {
    const registry = new Registry<Link>(timings)
    const [a, b] = [new Link("a"), new Link("b")]
    registry.step({ _tag: "Message", connection: a, message: register("w1") }, 0)
    registry.step({ _tag: "Message", connection: a, message: beat("w1", 1) }, 0)
    registry.unroute(a)
    expect(registry.pick("hello.greet", "*")).toBeUndefined()
    expect(published(registry.step({ _tag: "Closed", connection: a }, 10))).toEqual(["w1: healthy → stale (DISCONNECTED)"])
    const back = registry.step({ _tag: "Message", connection: b, message: register("w1") }, 20)
    expect(published(back)).toEqual(["w1: stale → registered (REGISTERED)"])
    expect(registry.worker("w1")?.registeredAt).toBe(0)
    expect(registry.worker("w1")?.transitions.map((t) => t.event)).toEqual(["REGISTERED", "HEARTBEAT", "DISCONNECTED", "REGISTERED"])
  })

  it("drains on request: no routing, a Drain to the worker, evicted if it never deregisters past its deadline", () => {
    const registry = new Registry<Link>(timings)
    const a = new Link("a")
    registry.step({ _tag: "Message", connection: a, message: register("w1") }, 0)
    registry.step({ _tag: "Message", connection: a, message: beat("w1", 1) }, 0)
    const drain = registry.step({ _tag: "DrainRequested", workerId: "w1", deadlineMs: 500 }, 100)
    expect(published(drain)).toEqual(["w1: healthy → draining (DRAIN)"])
    expect(sent(drain)).toEqual(["a ← Drain"])
    expect(registry.pick("hello.greet", "*")).toBeUndefined()
    expect(published(registry.step({ _tag: "Sweep" }, 999))).toEqual([])
    expect(published(registry.step({ _tag: "Sweep" }, 1_000))).toEqual(["w1: draining → stopped (EVICTED)"])
  })

  it("a draining worker that deregisters stops, and is forgotten", () => {
    const registry = new Registry<Link>(timings)
    const a = new Link("a")
    registry.step({ _tag: "Message", connection: a, message: register("w1") }, 0)
    registry.step({ _tag: "Message", connection: a, message: { _tag: "Drain", workerId: "w1", deadlineMs: 100 } }, 1)
    expect(published(registry.step({ _tag: "Message", connection: a, message: { _tag: "Deregister", workerId: "w1", reason: "drained" } }, 2))).toEqual([
      "w1: draining → stopped (DRAINED)",
    ])
    expect(registry.has("w1")).toBe(false)
    expect(registry.catalog()).toEqual([])
  })

  it("skips a worker whose link closed when picking, and never hands back the one being retried", () => {
    const registry = new Registry<Link>(timings)
    const [a, b] = [new Link("a"), new Link("b")]
    for (const [link, id] of [
      [a, "w1"],
      [b, "w2"],
    ] as const) {
      registry.step({ _tag: "Message", connection: link, message: register(id) }, 0)
      registry.step({ _tag: "Message", connection: link, message: beat(id, 1) }, 0)
    }
    const first = registry.pick("hello.greet", "*")!
    expect(registry.pick("hello.greet", "*", first)?.id).not.toBe(first.id)
    a.open = false
    for (let i = 0; i < 4; i++) expect(registry.pick("hello.greet", "*")?.id).toBe("w2")
    expect([...registry.offers()].map((o) => `${o.workerId} ${o.state}`)).toEqual(["w1 unreachable", "w2 healthy"])
  })
})
