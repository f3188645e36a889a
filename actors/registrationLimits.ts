/**
 * What one registration may cost the controller: a peer on the network is bounded before anything it says is
 * kept (one oversized `Register` once made `crank.status` outgrow a frame for everyone). Pure: a `Register` and
 * the limits in, the reason for refusing it (or nothing) out; the controller answers `LIMIT_EXCEEDED` with it and
 * closes the connection.
 */
import type { Register } from "../transports/Envelope.ts"
import type { Tunables } from "./Tunables.ts"

export type RegistrationLimits = Pick<Tunables, "maxCapabilitiesPerWorker" | "maxIdLength" | "maxTextLength" | "maxDescriptorBytes">

/** Which limit a registration breaks: counted by reason in `/metrics`. */
export type LimitReason = "capabilities" | "id" | "text" | "descriptor"

export interface Refusal {
  readonly reason: LimitReason
  readonly message: string
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? "")

/**
 * @example
 * ```ts
 * refusalOf(register, { maxCapabilitiesPerWorker: 256, maxIdLength: 128, maxTextLength: 4096, maxDescriptorBytes: 65536 })
 * // { reason: "capabilities", message: "worker w1 advertises 300 capabilities; the limit is 256" }
 * ```
 */
export const refusalOf = (register: Register, limits: RegistrationLimits): Refusal | undefined => {
  const who = register.workerId.length <= limits.maxIdLength ? `worker ${register.workerId}` : "a worker"
  const tooLong = (what: string, text: string, max: number, reason: LimitReason): Refusal | undefined =>
    text.length > max ? { reason, message: `${who}: ${what} is ${text.length} characters; the limit is ${max}` } : undefined
  const count = register.capabilities.length
  if (count > limits.maxCapabilitiesPerWorker) {
    return { reason: "capabilities", message: `${who} advertises ${count} capabilities; the limit is ${limits.maxCapabilitiesPerWorker}` }
  }
  const ids = tooLong("its worker id", register.workerId, limits.maxIdLength, "id") ?? tooLong("its node id", register.nodeId, limits.maxIdLength, "id")
  if (ids !== undefined) return ids
  for (const capability of register.capabilities) {
    const refused =
      tooLong(`capability id ${capability.id.slice(0, 40)}`, capability.id, limits.maxIdLength, "id") ??
      tooLong(`the name of ${capability.id}`, capability.name, limits.maxTextLength, "text") ??
      tooLong(`the description of ${capability.id}`, capability.description, limits.maxTextLength, "text")
    if (refused !== undefined) return refused
    // Everything else it carries (schemas, declared errors, tags) is bounded by its size as a whole.
    const bytes = jsonBytes(capability)
    if (bytes > limits.maxDescriptorBytes) {
      return {
        reason: "descriptor",
        message: `${who}: the advertisement of ${capability.id} is ${bytes} bytes of JSON; the limit is ${limits.maxDescriptorBytes}`,
      }
    }
  }
  return undefined
}
