/**
 * Waiting for asynchronous state in tests without sleeping for a fixed time. The one real-time poller of the
 * suite is `eventually`; `until` is the same loop for Promise-style tests.
 *
 * - `eventually` (real time): re-checks a probe (sync or async) every few milliseconds and fails after a bounded
 *   deadline, with what it last saw. It reads the wall clock and waits with `setTimeout` directly, so it works
 *   whether or not the effect runs under a `TestClock`. A probe that throws (an HTTP request to a server that is
 *   restarting, say) counts as "not yet"; its last error is reported on timeout.
 * - `settled` (virtual time): lets forked fibers run by yielding, without moving any clock; fails after a
 *   bounded number of yields. Use it between `TestClock.adjust` steps.
 */
import { Effect } from "effect"

export interface EventuallyOptions {
  /** Real milliseconds before giving up (default 10 s: generous, since two shared cores can stall for a while). */
  readonly timeoutMs?: number
  /** What to print on failure: the state the probe was looking at. */
  readonly show?: () => unknown
}

const describeFailure = (what: string, last: unknown, error?: unknown, timeoutMs?: number): Error =>
  new Error(
    `condition not met${timeoutMs === undefined ? "" : ` within ${timeoutMs} ms`}: ${what}` +
      (last === undefined ? "" : ` (last seen: ${JSON.stringify(last)})`) +
      (error === undefined ? "" : ` (last error: ${error instanceof Error ? error.message : String(error)})`),
  )

const poll = async <A>(what: string, probe: () => A | undefined | false | Promise<A | undefined | false>, options: EventuallyOptions): Promise<A> => {
  const timeoutMs = options.timeoutMs ?? 10_000
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) throw describeFailure(what, options.show?.(), lastError, timeoutMs)
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
}

/** Polls `probe` until it returns something other than `undefined`/`false`, for at most `timeoutMs` real ms. */
export const eventually = <A>(
  what: string,
  probe: () => A | undefined | false | Promise<A | undefined | false>,
  options: EventuallyOptions = {},
): Effect.Effect<A> => Effect.promise(() => poll(what, probe, options))

/** `eventually` for Promise-style tests: resolves with the probe's value, rejects on the deadline. */
export const until = <A>(what: string, probe: () => A | undefined | false | Promise<A | undefined | false>, options: EventuallyOptions = {}): Promise<A> =>
  Effect.runPromise(eventually(what, probe, options))

/** Yields up to `maxYields` times until `probe` holds; virtual time does not move. */
export const settled = <A>(
  what: string,
  probe: () => A | undefined | false,
  options: { readonly maxYields?: number; readonly show?: () => unknown } = {},
): Effect.Effect<A> =>
  Effect.gen(function* () {
    const max = options.maxYields ?? 500
    for (let i = 0; i <= max; i++) {
      const value = probe()
      if (value !== undefined && value !== false) return value
      yield* Effect.yieldNow
    }
    return yield* Effect.die(describeFailure(what, options.show?.()))
  })

/** Lets other fibers run for `n` turns without moving any clock. */
export const yieldTimes = (n: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })
