/**
 * Durations as people type them on a command line: `90s`, `15m`, `1h`, `7d`, `250ms`, or a bare number of
 * milliseconds (as `--timeout MS` takes them).
 *
 * @example
 * ```ts
 * parseDuration("1h")  // 3_600_000
 * parseDuration("500") // 500
 * ```
 */
import { UsageError } from "./errors.ts"

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds, or a `UsageError` naming the flag. */
export const parseDuration = (text: string, flag: string): number => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  const ms = match === null ? Number.NaN : Number(match[1]) * units[match[2] ?? "ms"]!
  if (!Number.isFinite(ms) || ms <= 0)
    throw new UsageError(`${flag} must be a positive duration such as 90s, 15m, 1h or 7d (a bare number is milliseconds); got "${text}"`)
  return Math.round(ms)
}
