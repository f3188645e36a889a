/**
 * Placement: a capability may require what its worker offers (`placement: { gpu: true }`, labels). The
 * controller checks each registration's advertised capabilities against the worker's own placement (carried in
 * `Register`) and routes a capability only to workers that meet its requirement, whatever the worker claims.
 */
import type { Placement } from "../../capabilities/Capability.ts"

/**
 * Whether a worker offering `offered` may host a capability requiring `required`: a GPU when asked (`gpu:
 * true`, or the label `gpu=true`), and every required label with the same value.
 *
 * @example
 * ```ts
 * meets({ gpu: true }, { labels: { gpu: "true" } }) // true
 * meets({ gpu: true }, {}) // false
 * ```
 */
export const meets = (required: Placement | undefined, offered: Placement | undefined): boolean => {
  if (required === undefined) return true
  if (required.gpu === true && offered?.gpu !== true && offered?.labels?.gpu !== "true") return false
  const labels = required.labels
  if (labels !== undefined) {
    for (const label in labels) if (offered?.labels?.[label] !== labels[label]) return false
  }
  return true
}
