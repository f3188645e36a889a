import { describe, expect, it } from "vitest"
import { Breaker } from "../../actors/breaker.ts"
import { type Routable, Router } from "../../actors/Router.ts"

interface FakeWorker extends Routable {
  routable: boolean
}

const worker = (id: string, ...capabilities: ReadonlyArray<string>): FakeWorker => ({
  id,
  routable: true,
  capabilities: capabilities.map((key) => {
    const [capId, version] = key.split("@") as [string, string]
    return { id: capId, version }
  }),
})

const picks = (router: Router<FakeWorker>, capability: string, range: string, n: number): Array<string | undefined> =>
  Array.from({ length: n }, () => router.pick(capability, range)?.id)

/** Three versions of one capability, two workers each for 1.0.0 and 1.2.0, one for 2.0.0. */
const mesh = () => {
  const router = new Router<FakeWorker>()
  const workers = {
    a10: worker("a10", "hello.greet@1.0.0"),
    b10: worker("b10", "hello.greet@1.0.0"),
    a12: worker("a12", "hello.greet@1.2.0"),
    b12: worker("b12", "hello.greet@1.2.0"),
    a20: worker("a20", "hello.greet@2.0.0"),
  }
  // Added in an order that is not version order, so the router must sort.
  for (const w of [workers.a10, workers.a20, workers.a12, workers.b10, workers.b12]) router.add(w)
  return { router, workers }
}

describe("Router", () => {
  it("routes ^1 to the highest compatible version (1.2.0), round-robin among its workers", () => {
    const { router } = mesh()
    expect(picks(router, "hello.greet", "^1", 4)).toEqual(["a12", "b12", "a12", "b12"])
  })

  it("falls back to 1.0.0 workers when every 1.2.0 worker is unroutable", () => {
    const { router, workers } = mesh()
    workers.a12.routable = false
    expect(picks(router, "hello.greet", "^1", 2)).toEqual(["b12", "b12"])
    workers.b12.routable = false
    expect(picks(router, "hello.greet", "^1", 4)).toEqual(["a10", "b10", "a10", "b10"])
    // And back to 1.2.0 once one of them is routable again.
    workers.b12.routable = true
    expect(picks(router, "hello.greet", "^1", 2)).toEqual(["b12", "b12"])
  })

  it("routes ^2 only to 2.0.0 and * to the highest version", () => {
    const { router, workers } = mesh()
    expect(picks(router, "hello.greet", "^2", 3)).toEqual(["a20", "a20", "a20"])
    expect(picks(router, "hello.greet", "*", 2)).toEqual(["a20", "a20"])
    workers.a20.routable = false
    expect(router.pick("hello.greet", "^2")).toBeUndefined()
    // `*` then takes the next highest version.
    expect(router.pick("hello.greet", "*")?.id).toBe("a12")
  })

  it("honours exact versions and ranges that match nothing", () => {
    const { router } = mesh()
    expect(picks(router, "hello.greet", "1.0.0", 2)).toEqual(["a10", "b10"])
    expect(picks(router, "hello.greet", "~1.2.0", 2)).toEqual(["a12", "b12"])
    expect(router.pick("hello.greet", "^3")).toBeUndefined()
    expect(router.pick("hello.greet", ">=1.3.0 <2")).toBeUndefined()
  })

  it("round-robins fairly among equal workers", () => {
    const router = new Router<FakeWorker>()
    const ws = ["w1", "w2", "w3"].map((id) => worker(id, "demo.echo@1.0.0"))
    for (const w of ws) router.add(w)
    const counts = new Map<string, number>()
    for (const id of picks(router, "demo.echo", "^1", 300)) counts.set(id!, (counts.get(id!) ?? 0) + 1)
    expect(Object.fromEntries(counts)).toEqual({ w1: 100, w2: 100, w3: 100 })
  })

  it("skips unroutable workers without losing the rotation", () => {
    const router = new Router<FakeWorker>()
    const [w1, w2, w3] = ["w1", "w2", "w3"].map((id) => worker(id, "demo.echo@1.0.0")) as [FakeWorker, FakeWorker, FakeWorker]
    for (const w of [w1, w2, w3]) router.add(w)
    w2.routable = false
    expect(picks(router, "demo.echo", "*", 4)).toEqual(["w1", "w3", "w1", "w3"])
    w1.routable = false
    w3.routable = false
    expect(router.pick("demo.echo", "*")).toBeUndefined()
  })

  it("removes workers (and the version group once empty)", () => {
    const { router, workers } = mesh()
    router.remove(workers.a12)
    expect(picks(router, "hello.greet", "^1", 2)).toEqual(["b12", "b12"])
    router.remove(workers.b12)
    expect(picks(router, "hello.greet", "^1", 2)).toEqual(["a10", "b10"])
    expect(router.candidates("hello.greet", "^1").map((w) => w.id)).toEqual(["a10", "b10"])
    router.remove(workers.a10)
    router.remove(workers.b10)
    router.remove(workers.a20)
    expect(router.pick("hello.greet", "*")).toBeUndefined()
    expect(router.candidates("hello.greet", "*")).toEqual([])
    // Removing twice, or a worker never added, is harmless.
    router.remove(workers.a20)
    router.remove(worker("ghost", "hello.greet@1.0.0"))
    expect(router.pick("hello.greet", "*")).toBeUndefined()
  })

  it("sees workers added after a range was already resolved", () => {
    const router = new Router<FakeWorker>()
    router.add(worker("old", "hello.greet@1.0.0"))
    expect(router.pick("hello.greet", "^1")?.id).toBe("old")
    router.add(worker("new", "hello.greet@1.5.0"))
    expect(router.pick("hello.greet", "^1")?.id).toBe("new")
  })

  it("adding the same worker twice does not double its share", () => {
    const router = new Router<FakeWorker>()
    const a = worker("a", "demo.echo@1.0.0")
    const b = worker("b", "demo.echo@1.0.0")
    router.add(a)
    router.add(a)
    router.add(b)
    expect(picks(router, "demo.echo", "*", 4)).toEqual(["a", "b", "a", "b"])
  })

  it("returns undefined when no worker serves the capability", () => {
    const router = new Router<FakeWorker>()
    expect(router.pick("hello.greet", "*")).toBeUndefined()
    router.add(worker("w", "demo.echo@1.0.0"))
    expect(router.pick("hello.greet", "*")).toBeUndefined()
    expect(router.candidates("hello.greet", "*")).toEqual([])
  })

  it("indexes a worker under every capability it advertises", () => {
    const router = new Router<FakeWorker>()
    const multi = worker("multi", "hello.greet@1.0.0", "demo.echo@2.1.0")
    router.add(multi)
    expect(router.pick("hello.greet", "^1")?.id).toBe("multi")
    expect(router.pick("demo.echo", "^2")?.id).toBe("multi")
    router.remove(multi)
    expect(router.pick("hello.greet", "*")).toBeUndefined()
    expect(router.pick("demo.echo", "*")).toBeUndefined()
  })

  it("delegates the choice within the highest version to the call's strategy", () => {
    const { router, workers } = mesh()
    const busy = { ...workers.a12, pending: 5 }
    const idle = { ...workers.b12, pending: 0 }
    const r = new Router<FakeWorker>()
    for (const w of [workers.a10, busy, idle]) r.add(w)
    expect(picks(r, "hello.greet", "^1", 3)).toEqual(["a12", "b12", "a12"])
    for (let i = 0; i < 3; i++) expect(r.pick("hello.greet", "^1", 0, { strategy: "least-in-flight" })?.id).toBe("b12")
    // Affinity: one key, one worker.
    const first = router.pick("hello.greet", "^1", 0, { strategy: "affinity", key: "user-7" })!.id
    for (let i = 0; i < 5; i++) expect(router.pick("hello.greet", "^1", 0, { strategy: "affinity", key: "user-7" })?.id).toBe(first)
  })

  it("uses the capability's own strategy when the call names none", () => {
    const r = new Router<FakeWorker>()
    const a = { ...worker("a"), capabilities: [{ id: "demo.echo", version: "1.0.0", strategy: "least-in-flight" as const }], pending: 3 }
    const b = { ...worker("b"), capabilities: [{ id: "demo.echo", version: "1.0.0", strategy: "least-in-flight" as const }], pending: 1 }
    r.add(a)
    r.add(b)
    expect(picks(r, "demo.echo", "*", 3)).toEqual(["b", "b", "b"])
    expect(r.pick("demo.echo", "*", 0, { strategy: "round-robin" })?.id).toBe("a")
  })

  it("skips a worker whose breaker is open, probes it after the cool-down, and skips `except`", () => {
    const r = new Router<FakeWorker & { breaker: Breaker }>()
    const [a, b] = ["a", "b"].map((id) => ({ ...worker(id, "demo.echo@1.0.0"), breaker: new Breaker({ failures: 2, coolDownMs: 100 }) })) as [
      FakeWorker & { breaker: Breaker },
      FakeWorker & { breaker: Breaker },
    ]
    r.add(a)
    r.add(b)
    a.breaker.record("failure", 0)
    a.breaker.record("failure", 0)
    expect([1, 2, 3].map(() => r.pick("demo.echo", "*", 50)?.id)).toEqual(["b", "b", "b"])
    expect(r.pick("demo.echo", "*", 50, undefined, b)).toBeUndefined()
    // Past the cool-down a gets one probe (half-open); until it answers, b takes the rest.
    expect([1, 2, 3].map(() => r.pick("demo.echo", "*", 100)?.id).sort()).toEqual(["a", "b", "b"])
    expect(a.breaker.name).toBe("half-open")
    a.breaker.record("success", 101)
    expect([1, 2].map(() => r.pick("demo.echo", "*", 102)?.id).sort()).toEqual(["a", "b"])
  })

  it("routes a capability requiring a GPU only to workers labelled so, and keeps GPU workers for such work", () => {
    const r = new Router<FakeWorker>()
    const caps = [
      { id: "ml.infer", version: "1.0.0", placement: { labels: { gpu: "true" } } },
      { id: "demo.echo", version: "1.0.0", placement: {} },
    ]
    const gpu = { ...worker("gpu"), capabilities: caps, placement: { labels: { gpu: "true" } } }
    const plain = { ...worker("plain"), capabilities: caps }
    r.add(gpu)
    r.add(plain)
    expect(picks(r, "ml.infer", "*", 4)).toEqual(["gpu", "gpu", "gpu", "gpu"])
    // The GPU worker is reserved: a call that does not ask for a GPU never takes it.
    expect(picks(r, "demo.echo", "*", 4)).toEqual(["plain", "plain", "plain", "plain"])
    expect(r.candidates("demo.echo", "*").map((w) => w.id)).toEqual(["plain", "gpu"])
    gpu.routable = false
    expect(r.pick("ml.infer", "*")).toBeUndefined()
  })

  it("routes a call asking for a placement only to workers offering it; a GPU worker only to calls asking for one", () => {
    const r = new Router<FakeWorker>()
    const gpu = { ...worker("gpu", "image.classify@1.0.0"), placement: { gpu: true } }
    const cpu = worker("cpu", "image.classify@1.0.0")
    const zoned = { ...worker("zoned", "image.classify@1.0.0"), placement: { labels: { zone: "a" } } }
    for (const w of [gpu, cpu, zoned]) r.add(w)
    const asking = (placement: object) => Array.from({ length: 4 }, () => r.pick("image.classify", "^1", 0, { placement })?.id)
    expect(asking({ gpu: true })).toEqual(["gpu", "gpu", "gpu", "gpu"])
    expect(new Set(picks(r, "image.classify", "^1", 6))).toEqual(new Set(["cpu", "zoned"]))
    expect(asking({ labels: { zone: "a" } })).toEqual(["zoned", "zoned", "zoned", "zoned"])
    expect(r.pick("image.classify", "^1", 0, { placement: { labels: { zone: "b" } } })).toBeUndefined()
    gpu.routable = false
    expect(r.pick("image.classify", "^1", 0, { placement: { gpu: true } })).toBeUndefined()
    // Removing the only unreserved workers leaves plain calls with none: the GPU worker stays reserved.
    gpu.routable = true
    r.remove(cpu)
    r.remove(zoned)
    expect(r.pick("image.classify", "^1")).toBeUndefined()
    expect(r.pick("image.classify", "^1", 0, { placement: { gpu: true } })?.id).toBe("gpu")
  })

  it("prefers the caller's node when a routable worker is there", () => {
    const r = new Router<FakeWorker>()
    const far = { ...worker("far", "demo.echo@1.0.0"), nodeId: "n1" }
    const near = { ...worker("near", "demo.echo@1.0.0"), nodeId: "n2" }
    r.add(far)
    r.add(near)
    expect(picks(r, "demo.echo", "*", 2)).toEqual(["far", "near"])
    for (let i = 0; i < 3; i++) expect(r.pick("demo.echo", "*", 0, { node: "n2" })?.id).toBe("near")
    near.routable = false
    expect(r.pick("demo.echo", "*", 0, { node: "n2" })?.id).toBe("far")
  })
})
