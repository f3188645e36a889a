/**
 * The smallest `Reflect` metadata API that `tsyringe` (a dependency of `@peculiar/x509`) insists on at import time.
 *
 * Why: tsyringe throws "tsyringe requires a reflect polyfill" unless `Reflect.getMetadata` exists, and the usual fix
 * (`import "reflect-metadata"` at every entry point) would leak into every program that touches trust/. x509 only
 * registers classes without constructor parameters, so tsyringe reads `design:paramtypes` (absent: none) and keeps
 * its own injection tokens; a WeakMap per target is all it needs. A real polyfill loaded earlier is left alone.
 *
 * Import this module only through `./x509.ts`, which evaluates it before `@peculiar/x509`.
 */

type MetadataTable = Map<unknown, unknown>

const tables = new WeakMap<object, Map<PropertyKey | undefined, MetadataTable>>()

const tableOf = (target: object, property: PropertyKey | undefined, create: boolean): MetadataTable | undefined => {
  let byProperty = tables.get(target)
  if (byProperty === undefined) {
    if (!create) return undefined
    byProperty = new Map()
    tables.set(target, byProperty)
  }
  let table = byProperty.get(property)
  if (table === undefined && create) {
    table = new Map()
    byProperty.set(property, table)
  }
  return table
}

const getOwnMetadata = (key: unknown, target: object, property?: PropertyKey): unknown => tableOf(target, property, false)?.get(key)

const getMetadata = (key: unknown, target: object, property?: PropertyKey): unknown => {
  // Inherited metadata, as reflect-metadata resolves it: the first object on the prototype chain that has the key.
  for (let current: object | null = target; current !== null; current = Object.getPrototypeOf(current)) {
    const table = tableOf(current, property, false)
    if (table?.has(key)) return table.get(key)
  }
  return undefined
}

const shim = {
  defineMetadata: (key: unknown, value: unknown, target: object, property?: PropertyKey): void => {
    tableOf(target, property, true)!.set(key, value)
  },
  getOwnMetadata,
  getMetadata,
  hasOwnMetadata: (key: unknown, target: object, property?: PropertyKey): boolean => tableOf(target, property, false)?.has(key) ?? false,
  hasMetadata: (key: unknown, target: object, property?: PropertyKey): boolean => getMetadata(key, target, property) !== undefined,
}

const reflect = Reflect as unknown as Record<string, unknown>
if (typeof reflect.getMetadata !== "function") {
  for (const [name, fn] of Object.entries(shim)) {
    Object.defineProperty(Reflect, name, { value: fn, writable: true, configurable: true, enumerable: false })
  }
}
