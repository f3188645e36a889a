/** Lifecycle timings from flags or their environment twins, for `crank dev` and `crank controller`. */
import type { Timings } from "../../actors/defaults.ts"
import { pickNumber } from "./options.ts"

export const timingOptions = {
  "heartbeat-ms": { type: "string" },
  "stale-after-ms": { type: "string" },
  "evict-after-ms": { type: "string" },
} as const

export const timingsFrom = (values: Record<string, unknown>): Partial<Timings> => {
  const heartbeatIntervalMs = pickNumber(values["heartbeat-ms"], "heartbeat")
  const staleAfterMs = pickNumber(values["stale-after-ms"], "stale")
  const evictAfterMs = pickNumber(values["evict-after-ms"], "evict")
  return {
    ...(heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs }),
    ...(staleAfterMs === undefined ? {} : { staleAfterMs }),
    ...(evictAfterMs === undefined ? {} : { evictAfterMs }),
  }
}
