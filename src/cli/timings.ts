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

export const timingsUsage = `  --heartbeat-ms MS    heartbeat interval told to workers (env CRANK_HEARTBEAT_MS; default 30000)
  --stale-after-ms MS  silence before a worker is stale (env CRANK_STALE_AFTER_MS; default 120000)
  --evict-after-ms MS  how long a stale worker is kept (env CRANK_EVICT_AFTER_MS; default 300000)`
