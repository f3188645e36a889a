/** Lifecycle tunables from flags or their environment twins, for `crank dev` and `crank controller`. */
import type { Tunables } from "../../actors/Tunables.ts"
import { pickNumber } from "./options.ts"

export const timingOptions = {
  "heartbeat-ms": { type: "string" },
  "stale-after-ms": { type: "string" },
  "evict-after-ms": { type: "string" },
  "max-connections-per-host": { type: "string" },
} as const

/** The tunables the flags set; the rest keep their defaults. */
export const tunablesFrom = (values: Record<string, unknown>): Partial<Tunables> => {
  const heartbeatIntervalMs = pickNumber(values["heartbeat-ms"], "heartbeat")
  const staleAfterMs = pickNumber(values["stale-after-ms"], "stale")
  const evictAfterMs = pickNumber(values["evict-after-ms"], "evict")
  const maxConnectionsPerHost = pickNumber(values["max-connections-per-host"], "perHost")
  return {
    ...(maxConnectionsPerHost === undefined ? {} : { maxConnectionsPerHost }),
    ...(heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs }),
    ...(staleAfterMs === undefined ? {} : { staleAfterMs }),
    ...(evictAfterMs === undefined ? {} : { evictAfterMs }),
  }
}
