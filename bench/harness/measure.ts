/**
 * The measuring loops every scenario shares: sequential requests (rate and per-request latency) and `inFlight`
 * requests kept in flight (rate, and the latency of each request under that load). Each loop is bounded by a
 * count and by time, and warms up (bounded too) before it measures.
 */
import { Effect } from "effect"
import type { Figures } from "./Scenario.ts"

/** Requests kept in flight by the concurrent scenarios. */
export const inFlight = 256
/** At most this many requests per measurement, whatever the time budget. */
const maxRequests = 2_000_000
const maxWarmUp = 20_000

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const figuresOf = (samples: Float64Array, n: number, elapsedMs: number): Figures => {
  const sorted = samples.subarray(0, n).sort()
  return { perSecond: n / (elapsedMs / 1_000), p50Us: percentile(sorted, 0.5) * 1_000, p99Us: percentile(sorted, 0.99) * 1_000 }
}

/** Enough room for the samples `seconds` of requests at `ratePerSecond` could produce, within the bound. */
const samplesFor = (seconds: number, ratePerSecond: number) => new Float64Array(Math.min(maxRequests, Math.ceil(seconds * ratePerSecond) + 1_000))

/** Sequential Promise-returning requests: one at a time for `seconds`. */
export const sequentialAsync = async (call: () => Promise<unknown>, seconds: number): Promise<Figures> => {
  const warmUntil = performance.now() + Math.min(250, seconds * 250)
  for (let i = 0; i < maxWarmUp && performance.now() < warmUntil; i++) await call()
  const samples = samplesFor(seconds, 5_000_000)
  const started = performance.now()
  const deadline = started + seconds * 1_000
  let n = 0
  while (n < samples.length) {
    const t0 = performance.now()
    await call()
    const t1 = performance.now()
    samples[n++] = t1 - t0
    if (t1 >= deadline) break
  }
  return figuresOf(samples, n, performance.now() - started)
}

/** `inFlight` lanes of Promise-returning requests, each sending its next request when its last one is answered. */
export const concurrentAsync = async (call: () => Promise<unknown>, seconds: number, lanes = inFlight): Promise<Figures> => {
  const warmUntil = performance.now() + Math.min(250, seconds * 250)
  let warm = 0
  const warmLane = async () => {
    while (warm < maxWarmUp && performance.now() < warmUntil) {
      warm++
      await call()
    }
  }
  await Promise.all(Array.from({ length: lanes }, warmLane))
  const samples = samplesFor(seconds, 5_000_000)
  const started = performance.now()
  const deadline = started + seconds * 1_000
  let sent = 0
  let n = 0
  const lane = async () => {
    while (sent < samples.length && performance.now() < deadline) {
      sent++
      const t0 = performance.now()
      await call()
      samples[n++] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  return figuresOf(samples, n, performance.now() - started)
}

/** Sequential requests as Effects, run in one fiber. */
export const sequentialEffect = <E>(call: () => Effect.Effect<unknown, E>, seconds: number): Effect.Effect<Figures, E> =>
  Effect.gen(function* () {
    const warmUntil = performance.now() + Math.min(250, seconds * 250)
    for (let i = 0; i < maxWarmUp && performance.now() < warmUntil; i++) yield* call()
    const samples = samplesFor(seconds, 5_000_000)
    const started = performance.now()
    const deadline = started + seconds * 1_000
    let n = 0
    while (n < samples.length) {
      const t0 = performance.now()
      yield* call()
      const t1 = performance.now()
      samples[n++] = t1 - t0
      if (t1 >= deadline) break
    }
    return figuresOf(samples, n, performance.now() - started)
  })

/** `inFlight` fibers, each sending its next request when its last one is answered. */
export const concurrentEffect = <E>(call: () => Effect.Effect<unknown, E>, seconds: number, lanes = inFlight): Effect.Effect<Figures, E> =>
  Effect.gen(function* () {
    const warmUntil = performance.now() + Math.min(250, seconds * 250)
    let warm = 0
    const warmLane = Effect.gen(function* () {
      while (warm < maxWarmUp && performance.now() < warmUntil) {
        warm++
        yield* call()
      }
    })
    yield* Effect.all(
      Array.from({ length: lanes }, () => warmLane),
      { concurrency: "unbounded", discard: true },
    )
    const samples = samplesFor(seconds, 5_000_000)
    const started = performance.now()
    const deadline = started + seconds * 1_000
    let sent = 0
    let n = 0
    const lane = Effect.gen(function* () {
      while (sent < samples.length && performance.now() < deadline) {
        sent++
        const t0 = performance.now()
        yield* call()
        samples[n++] = performance.now() - t0
      }
    })
    yield* Effect.all(
      Array.from({ length: lanes }, () => lane),
      { concurrency: "unbounded", discard: true },
    )
    return figuresOf(samples, n, performance.now() - started)
  })

/** The payload every request-reply scenario sends: hello.greet's input. */
export const greetInput = { message: "world", options: { exclamations: 1 } }
/** What the anchors answer, the shape of hello.greet's output. */
export const greetOutput = (workerId: string) => ({ greeting: "Hello, world!", worker: workerId })
