/**
 * Interned capability descriptors: a thousand workers of one kind advertise the same descriptor (its JSON Schemas
 * are most of it), and the controller keeps one copy. Measured with `hello.greet` (841 bytes of JSON), heap per
 * registered worker in the registry: see bench/RESULTS.md ("scale").
 *
 * Keyed by the descriptor's JSON text, so only an identical advertisement is shared. The pool keeps at most
 * `maxEntries` distinct descriptors and starts afresh past that (a peer cycling through distinct advertisements
 * cannot grow it without bound; registrations already made keep their own objects).
 */
import type { CapabilityDescriptor } from "../capabilities/Capability.ts"

export class DescriptorPool {
  private readonly byJson = new Map<string, CapabilityDescriptor>()

  constructor(private readonly maxEntries = 10_000) {}

  /** The pooled descriptor equal to `descriptor`, or `descriptor` itself, now pooled. */
  intern(descriptor: CapabilityDescriptor): CapabilityDescriptor {
    const json = JSON.stringify(descriptor)
    const pooled = this.byJson.get(json)
    if (pooled !== undefined) return pooled
    if (this.byJson.size >= this.maxEntries) this.byJson.clear()
    this.byJson.set(json, descriptor)
    return descriptor
  }
}
