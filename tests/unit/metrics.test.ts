/**
 * `/metrics` text from known views: values first (state gauges with zeros, summed request counters, cumulative
 * histogram buckets in seconds, ages, in-flight), then `promtool check metrics` on the same text, so what we
 * write is what Prometheus reads. A missing promtool fails these tests with the command to install it.
 */
import { describe, expect, it } from "vitest"
import { latencyBoundariesMs, type CapabilityStats } from "../../transports/Envelope.ts"
import { controllerMetrics, RequestTotals, sumStats, type MetricsWorker } from "../../src/dashboard/metrics.ts"
import { workerMetrics } from "../../src/dashboard/workerMetrics.ts"
import { installPromtool, promtoolCheck } from "../support/promtool.ts"

/** Per-bucket counts: `at` maps a bucket index to its count; the last index is the overflow bucket. */
const buckets = (at: Record<number, number>): Array<number> =>
  Array.from({ length: latencyBoundariesMs.length + 1 }, (_, i) => at[i] ?? 0)

const greet = (outcomes: Record<string, number>, at: Record<number, number>, sumMs: number): CapabilityStats => ({
  capability: "hello.greet",
  version: "1.0.0",
  outcomes,
  latencyBuckets: buckets(at),
  latencySumMs: sumMs,
})

const now = 1_800_000_000_000

const workers: ReadonlyArray<MetricsWorker> = [
  {
    id: "node-a/hello-1",
    state: "healthy",
    inFlight: 3,
    lastHeartbeatAt: now - 1_500,
    // 0.5 ms (bucket le=1), 3 ms (le=5), 20 ms (le=25), 20 s (overflow)
    stats: [greet({ OK: 3, TIMEOUT: 1 }, { 0: 1, 1: 1, 3: 1, 12: 1 }, 20_023.5)],
  },
  {
    id: "node-b/hello-2",
    state: "stale",
    inFlight: 0,
    lastHeartbeatAt: now - 130_000,
    stats: [
      greet({ OK: 2 }, { 1: 2 }, 6),
      { capability: "text.upper", version: "2.1.0", outcomes: { OK: 5, INVALID_INPUT: 1 }, latencyBuckets: buckets({ 0: 6 }), latencySumMs: 1.2 },
    ],
  },
  { id: 'odd "worker"\\x', state: "draining", inFlight: 1, lastHeartbeatAt: now, stats: [] },
]

/** The samples of a metrics text, keyed by `name{labels}` exactly as written. */
const samples = (text: string): Map<string, number> => {
  const map = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const space = line.lastIndexOf(" ")
    map.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return map
}

const expectPromtoolClean = (text: string): void => {
  const result = promtoolCheck(text)
  expect(result.output, `promtool check metrics complained:\n${result.output}\n\n${text}`).toBe("")
  expect(result.status).toBe(0)
}

describe("controller metrics", () => {
  const text = controllerMetrics({ workers, now })
  const values = samples(text)

  it("counts workers in every lifecycle state, zeros included", () => {
    expect(values.get('crank_workers{state="starting"}')).toBe(0)
    expect(values.get('crank_workers{state="registered"}')).toBe(0)
    expect(values.get('crank_workers{state="healthy"}')).toBe(1)
    expect(values.get('crank_workers{state="stale"}')).toBe(1)
    expect(values.get('crank_workers{state="draining"}')).toBe(1)
    expect(values.get('crank_workers{state="stopped"}')).toBe(0)
  })

  it("sums request outcomes per capability version across workers", () => {
    expect(values.get('crank_requests_total{capability="hello.greet",version="1.0.0",outcome="OK"}')).toBe(5)
    expect(values.get('crank_requests_total{capability="hello.greet",version="1.0.0",outcome="TIMEOUT"}')).toBe(1)
    expect(values.get('crank_requests_total{capability="text.upper",version="2.1.0",outcome="OK"}')).toBe(5)
    expect(values.get('crank_requests_total{capability="text.upper",version="2.1.0",outcome="INVALID_INPUT"}')).toBe(1)
    expect([...values.keys()].filter((k) => k.startsWith("crank_requests_total"))).toHaveLength(4)
  })

  it("writes cumulative latency buckets in seconds, +Inf, _sum and _count", () => {
    const bucket = (le: string) => values.get(`crank_request_duration_seconds_bucket{capability="hello.greet",version="1.0.0",le="${le}"}`)
    expect(bucket("0.001")).toBe(1)
    expect(bucket("0.005")).toBe(4) // 1 + 1 from hello-1, + 2 from hello-2
    expect(bucket("0.01")).toBe(4)
    expect(bucket("0.025")).toBe(5)
    expect(bucket("10")).toBe(5)
    expect(bucket("+Inf")).toBe(6)
    expect(values.get('crank_request_duration_seconds_count{capability="hello.greet",version="1.0.0"}')).toBe(6)
    expect(values.get('crank_request_duration_seconds_sum{capability="hello.greet",version="1.0.0"}')).toBeCloseTo(20.0295, 6)
    const les = [...values.keys()].filter((k) => k.startsWith('crank_request_duration_seconds_bucket{capability="hello.greet"')).length
    expect(les).toBe(latencyBoundariesMs.length + 1)
  })

  it("reports heartbeat ages in seconds and in-flight requests per worker, escaping label values", () => {
    expect(values.get('crank_worker_heartbeat_age_seconds{worker="node-a/hello-1"}')).toBe(1.5)
    expect(values.get('crank_worker_heartbeat_age_seconds{worker="node-b/hello-2"}')).toBe(130)
    expect(values.get('crank_worker_in_flight{worker="node-a/hello-1"}')).toBe(3)
    expect(values.get('crank_worker_in_flight{worker="odd \\"worker\\"\\\\x"}')).toBe(1)
  })

  it("has HELP and TYPE for every family", () => {
    for (const [name, type] of [
      ["crank_workers", "gauge"],
      ["crank_requests_total", "counter"],
      ["crank_request_duration_seconds", "histogram"],
      ["crank_worker_heartbeat_age_seconds", "gauge"],
      ["crank_worker_in_flight", "gauge"],
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, "m"))
      expect(text).toContain(`# TYPE ${name} ${type}\n`)
    }
  })

  it("passes promtool check metrics (populated and empty)", () => {
    expectPromtoolClean(text)
    expectPromtoolClean(controllerMetrics({ workers: [], now }))
  })
})

describe("RequestTotals", () => {
  it("keeps what a worker served after it leaves or restarts, so the counter never goes down", () => {
    const totals = new RequestTotals()
    const ok = (n: number) => [greet({ OK: n }, { 0: n }, n)]
    const okOf = (list: ReadonlyArray<CapabilityStats>) => list.find((s) => s.capability === "hello.greet")?.outcomes.OK
    expect(okOf(totals.observe([{ id: "a", stats: ok(4) }, { id: "b", stats: ok(1) }]))).toBe(5)
    // b drained and left: its 1 request stays counted.
    expect(okOf(totals.observe([{ id: "a", stats: ok(6) }]))).toBe(7)
    // a restarted: its counts began again from 2; the 6 before stay (1 + 6 + 2).
    expect(okOf(totals.observe([{ id: "a", stats: ok(2) }]))).toBe(9)
    expect(okOf(totals.observe([{ id: "a", stats: ok(3) }]))).toBe(10)
    expect(totals.observe([])[0]!.latencyBuckets[0]).toBe(10)
  })

  it("sums stats per capability version", () => {
    const summed = sumStats([[greet({ OK: 1 }, { 2: 1 }, 7)], [greet({ OK: 2, INTERNAL: 1 }, { 2: 3 }, 9)]])
    expect(summed).toEqual([greet({ OK: 3, INTERNAL: 1 }, { 2: 4 }, 16)])
  })
})

describe("worker process metrics", () => {
  const text = workerMetrics([
    { id: "node-a/hello-1", state: "healthy", inFlight: 2, completed: 41, stats: [greet({ OK: 40, INTERNAL: 1 }, { 0: 41 }, 12)] },
    { id: "node-a/hello-2", state: "draining", inFlight: 0, completed: 0, stats: [] },
  ])
  const values = samples(text)

  it("reports state, in-flight, completed and per-capability outcomes per worker", () => {
    expect(values.get('crank_worker_state{worker="node-a/hello-1",state="healthy"}')).toBe(1)
    expect(values.get('crank_worker_state{worker="node-a/hello-1",state="stale"}')).toBe(0)
    expect(values.get('crank_worker_state{worker="node-a/hello-2",state="draining"}')).toBe(1)
    expect(values.get('crank_worker_in_flight{worker="node-a/hello-1"}')).toBe(2)
    expect(values.get('crank_worker_requests_completed_total{worker="node-a/hello-1"}')).toBe(41)
    expect(values.get('crank_requests_total{worker="node-a/hello-1",capability="hello.greet",version="1.0.0",outcome="INTERNAL"}')).toBe(1)
    expect(values.get('crank_request_duration_seconds_count{worker="node-a/hello-1",capability="hello.greet",version="1.0.0"}')).toBe(41)
  })

  it("passes promtool check metrics", () => {
    expectPromtoolClean(text)
  })
})

describe("promtool", () => {
  it("is installed (the metrics tests above cannot pass without it)", () => {
    // promtoolCheck throws "promtool is not installed; install it: ..." when it is missing.
    expect(() => promtoolCheck("")).not.toThrow()
    expect(installPromtool).toBe("install it: apt-get install -y --no-install-recommends prometheus")
  })
})
