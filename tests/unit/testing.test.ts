import { CrankError, defineWorker, implement, startMesh } from "crank-mesh"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { describe, expect, it } from "vitest"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"

describe("the test kit", () => {
  it("callHandler runs a handler through validation, without a controller", async () => {
    await expect(callHandler(hello, HelloGreet, { message: "hi", options: { exclamations: 2, uppercase: true } })).resolves.toEqual({
      greeting: "HELLO, HI!!",
      worker: "test-hello",
    })
    const bad = await callHandler(hello, HelloGreet, { message: "hi", options: { exclamations: 11 } }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(CrankError)
    expect((bad as CrankError).code).toBe("INVALID_INPUT")
    expect((bad as CrankError).message).toContain("between 0 and 10")
  })

  it("callHandler reports a handler defect as INTERNAL", async () => {
    const broken = defineWorker({
      name: "broken",
      implements: [
        implement(HelloGreet, () => {
          throw new Error("boom")
        }),
      ],
    })
    const error = await callHandler(broken, HelloGreet, { message: "x" }).catch((e: unknown) => e)
    expect((error as CrankError).code).toBe("INTERNAL")
    expect((error as CrankError).message).toContain("boom")
  })

  it("startTestMesh runs a real in-process mesh behind a Promise facade", async () => {
    const mesh = await startTestMesh([{ definition: hello, replicas: 2 }])
    try {
      const workers = new Set<string>()
      for (let i = 0; i < 4; i++) workers.add((await mesh.invoke(HelloGreet, { message: `n${i}` })).worker)
      expect(workers.size).toBe(2)
      const status = await mesh.status()
      expect(status.workers.map((w) => w.state)).toEqual(["healthy", "healthy"])
      expect(status.capabilities.map((c) => `${c.id}@${c.version}`)).toEqual(["hello.greet@1.0.0"])
      const missing = await mesh.invoke("hello.greet@^2", { message: "x" }).catch((e: unknown) => e)
      expect((missing as CrankError).code).toBe("NO_WORKER")
    } finally {
      await mesh.stop()
    }
  })

  it("startMesh rejects a worker whose start fails, leaving nothing running", async () => {
    const twice = () =>
      defineWorker({
        name: "dup",
        implements: [implement(HelloGreet, () => ({ greeting: "", worker: "" })), implement(HelloGreet, () => ({ greeting: "", worker: "" }))],
      })
    expect(twice).toThrow(/implements hello.greet@1.0.0 twice/)
    const mesh = await startMesh({ workers: [hello], tunables: { heartbeatIntervalMs: 20, staleAfterMs: 100, evictAfterMs: 200 }, logLevel: "Warn" })
    await mesh.stop()
    await expect(mesh.invoke(HelloGreet, { message: "late" })).rejects.toBeInstanceOf(CrankError)
  })
})

describe("placement", () => {
  it("refuses to define a worker that cannot host a capability's placement", async () => {
    const { defineCapability } = await import("../../src/index.ts")
    const { Schema } = await import("effect")
    const Render = defineCapability({
      id: "gfx.render",
      version: "1.0.0",
      input: Schema.String,
      output: Schema.String,
      placement: { gpu: true, labels: { zone: "a" } },
    })
    const handler = implement(Render, (s) => s)
    expect(() => defineWorker({ name: "cpu", implements: [handler] })).toThrow(/requires a GPU/)
    expect(() => defineWorker({ name: "gpu-b", implements: [handler], placement: { gpu: true, labels: { zone: "b" } } })).toThrow(/label zone=a/)
    expect(defineWorker({ name: "gpu-a", implements: [handler], placement: { gpu: true, labels: { zone: "a" } } }).name).toBe("gpu-a")
  })
})
