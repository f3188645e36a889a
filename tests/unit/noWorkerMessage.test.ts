import { describe, expect, it } from "vitest"
import { noWorkerMessage, type Offer } from "../../capabilities/noWorkerMessage.ts"

const offer = (workerId: string, id: string, version: string, state = "healthy"): Offer => ({ workerId, id, version, state })

describe("noWorkerMessage", () => {
  const mesh = [offer("w1", "hello.greet", "1.0.0"), offer("w2", "math.sum", "2.1.0"), offer("w2", "math.sum", "1.4.0")]

  it("an unknown id: the nearest ids", () => {
    expect(noWorkerMessage("hello.gret", "*", mesh)).toBe('no capability "hello.gret" in the mesh; did you mean hello.greet?')
    expect(noWorkerMessage("math.sun", "^1", [...mesh, offer("w3", "math.sin", "1.0.0")])).toBe(
      'no capability "math.sun" in the mesh; did you mean math.sin or math.sum?',
    )
  })

  it("an unknown id with nothing near: the ids that exist, a bounded list", () => {
    expect(noWorkerMessage("video.transcode", "*", mesh)).toBe('no capability "video.transcode" in the mesh; it offers hello.greet, math.sum')
    const many = Array.from({ length: 11 }, (_, n) => offer("w", `cap.number-${String(n).padStart(2, "0")}`, "1.0.0"))
    expect(noWorkerMessage("video.transcode", "*", many)).toBe(
      'no capability "video.transcode" in the mesh; it offers cap.number-00, cap.number-01, cap.number-02, cap.number-03, cap.number-04, cap.number-05, cap.number-06, cap.number-07 and 3 more',
    )
  })

  it("an empty mesh says so", () => {
    expect(noWorkerMessage("hello.greet", "^1", [])).toBe('no capability "hello.greet" in the mesh; no worker has registered any (is a worker running?)')
  })

  it("a range nothing matches: the versions that exist, highest first", () => {
    expect(noWorkerMessage("hello.greet", "^2", mesh)).toBe("hello.greet@^2: no version matches; the mesh has hello.greet 1.0.0")
    expect(noWorkerMessage("math.sum", "^3", mesh)).toBe("math.sum@^3: no version matches; the mesh has math.sum 2.1.0, 1.4.0")
  })

  it("versions that match but no routable worker: how many workers are in which state, each counted once", () => {
    const unhealthy = [
      offer("w1", "hello.greet", "1.0.0", "stale"),
      offer("w2", "hello.greet", "1.1.0", "draining"),
      offer("w2", "hello.greet", "1.0.0", "draining"),
      offer("w3", "hello.greet", "2.0.0", "healthy"),
    ]
    expect(noWorkerMessage("hello.greet", "^1", unhealthy)).toBe("no healthy worker serves hello.greet@^1 (1 stale, 1 draining)")
  })
})
