/**
 * The catalog: what a mesh offers, one entry per capability version with the workers that serve it, ordered by
 * id and then highest version first (the order routing prefers). Built from what workers advertise; `crank
 * status`, `crank dev` and the dashboard print it.
 */
import { type CapabilityDescriptor, keyOf } from "./Capability.ts"
import { compareVersionsDescending } from "./CapabilityRef.ts"

export interface CatalogEntry {
  readonly descriptor: CapabilityDescriptor
  readonly workers: ReadonlyArray<string>
}

export type Catalog = ReadonlyArray<CatalogEntry>

/**
 * @example
 * ```ts
 * catalogOf([{ workerId: "w1", capabilities: [descriptorOf(HelloGreet)] }])
 * // [{ descriptor: { id: "hello.greet", version: "1.0.0", ... }, workers: ["w1"] }]
 * ```
 */
export const catalogOf = (advertised: Iterable<{ readonly workerId: string; readonly capabilities: ReadonlyArray<CapabilityDescriptor> }>): Catalog => {
  const byKey = new Map<string, { descriptor: CapabilityDescriptor; workers: Array<string> }>()
  for (const { workerId, capabilities } of advertised) {
    for (const descriptor of capabilities) {
      const key = keyOf(descriptor)
      const entry = byKey.get(key)
      if (entry === undefined) byKey.set(key, { descriptor, workers: [workerId] })
      else entry.workers.push(workerId)
    }
  }
  return [...byKey.values()].sort(
    (a, b) => a.descriptor.id.localeCompare(b.descriptor.id) || compareVersionsDescending(a.descriptor.version, b.descriptor.version),
  )
}
