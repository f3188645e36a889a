/**
 * How callers name what they want: a capability id and a semver range, written `hello.greet@^1`.
 *
 * Same major = compatible: a bare id means any version, and `selectVersion` picks the highest version that
 * satisfies the range, as npm does.
 */
import semver from "semver"
import { type Capability, isCapabilityId } from "./Capability.ts"
import { type CrankError, crankError } from "./CrankError.ts"

export interface CapabilityRef {
  readonly id: string
  readonly range: string
}

/**
 * Parses `id`, `id@range` or `id@x.y.z`. A malformed id or range is an `INVALID_INPUT` failure, not a throw,
 * because refs come from users (CLI arguments, frames).
 *
 * @example
 * ```ts
 * parseRef("hello.greet@^1") // { id: "hello.greet", range: "^1" }
 * ```
 */
export const parseRef = (text: string): CapabilityRef | CrankError => {
  const at = text.indexOf("@")
  const id = at === -1 ? text : text.slice(0, at)
  const range = at === -1 ? "*" : text.slice(at + 1)
  if (!isCapabilityId(id)) return crankError("INVALID_INPUT", `"${id}" is not a capability id (e.g. hello.greet)`)
  if (range.trim() === "" || semver.validRange(range) === null) {
    return crankError("INVALID_INPUT", `"${range}" is not a semver range (e.g. ^1, 1.2.x, >=1.0.0 <3)`)
  }
  return { id, range }
}

/** The default range for a capability object: compatible with its own major, as `^x.y.z` means. */
export const refOf = (capability: Capability): CapabilityRef => ({ id: capability.id, range: `^${capability.version}` })

export const formatRef = (ref: CapabilityRef): string => (ref.range === "*" ? ref.id : `${ref.id}@${ref.range}`)

export const satisfies = (version: string, range: string): boolean => semver.satisfies(version, range)

/** Highest first. */
export const compareVersionsDescending = (a: string, b: string): number => semver.rcompare(a, b)
