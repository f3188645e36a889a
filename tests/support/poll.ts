/**
 * Waiting for asynchronous state in tests without sleeping for a fixed time.
 *
 * - `eventually` (real time): re-checks every couple of milliseconds and fails after a bounded deadline.
 *   It reads the wall clock and waits with `setTimeout` directly, so it works whether or not the effect runs
 *   under a `TestClock`.
 * - `settled` (virtual time): lets forked fibers run by yielding, without moving any clock; fails after a
 *   bounded number of yields. Use it between `TestClock.adjust` steps.
 */
import { Effect } from "effect"

const describeFailure = (what: string, last: unknown): Error =>
  new Error(`condition not met: ${what}${last === undefined ? "" : ` (last seen: ${JSON.stringify(last)})`}`)

/** Polls `probe` until it returns something other than `undefined`/`false`, for at most `timeoutMs` real ms. */
export const eventually = <A>(
  what: string,
  probe: () => A | undefined | false,
  options: { readonly timeoutMs?: number; readonly show?: () => unknown } = {},
): Effect.Effect<A> =>
  Effect.promise(async () => {
    const deadline = Date.now() + (options.timeoutMs ?? 2_000)
    for (;;) {
      const value = probe()
      if (value !== undefined && value !== false) return value
      if (Date.now() > deadline) throw describeFailure(what, options.show?.())
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }).pipe(Effect.orDie)

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
