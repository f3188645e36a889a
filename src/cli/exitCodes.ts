/**
 * Process exit statuses of the `crank` CLI. Every failure also prints its typed code on stderr
 * (`error NO_WORKER: ...`), so scripts may match either.
 */
export const exitCodes: Record<string, number> = {
  USAGE: 2,
  INVALID_INPUT: 3,
  NO_WORKER: 4,
  TIMEOUT: 5,
  UNAVAILABLE: 6,
  OVERLOADED: 7,
  DRAINING: 8,
  UNAUTHORIZED: 9,
  BAD_FRAME: 10,
  INVALID_OUTPUT: 11,
  CANCELLED: 12,
  INTERNAL: 13,
  LIMIT_EXCEEDED: 15,
  FORBIDDEN: 16,
  /** The CLI's own: a worker module that cannot be loaded (`crank worker`, `crank dev`). */
  WORKER_MODULE: 14,
}

/** Codes a capability declares map to 1: the code itself is on stderr. */
export const exitCodeOf = (code: string): number => exitCodes[code] ?? 1
