/**
 * Raising a capability's own errors: the codes its contract declares, checked by the compiler.
 *
 * `crankError` builds the runtime's codes; a handler builds its capability's with `context.error(code, message)`
 * (see `implement`) or, outside the handler (a helper, a library), with `declaredError(capability, code,
 * message)`. Both take only a code the capability declares, or `INVALID_INPUT` (input the schema could not
 * express as invalid, such as an end date before the start date), and take `retriable` from the declared spec.
 */
import type { Capability, ErrorSpec } from "./Capability.ts"
import { CrankError, crankError } from "./CrankError.ts"

/** The codes a handler of a capability declaring `E` may fail with. */
export type DeclaredCode<E extends string> = E | "INVALID_INPUT"

/**
 * A `CrankError` with a code the capability declares, its retriability from the declared spec. Yield it in
 * `Effect.gen`, return it through `Effect.fail`, or throw or reject with it from a Promise handler: all reach
 * the caller the same way.
 *
 * @example
 * ```ts
 * if (b === 0) return yield* declaredError(Divide, "DIVIDE_BY_ZERO", "cannot divide by zero")
 * ```
 */
export const declaredError = <E extends string>(capability: Capability<any, any, E>, code: DeclaredCode<NoInfer<E>>, message: string): CrankError => {
  if (code === "INVALID_INPUT") return crankError("INVALID_INPUT", message)
  const spec = specOf(capability, code)
  // Only reachable past the type checker (a cast, plain JS): the runtime answers it as INTERNAL, and logs it.
  return new CrankError({ code, message, retriable: spec?.retriable ?? false })
}

/** The declared spec for `code`, if the capability declares it. */
export const specOf = (capability: Capability, code: string): ErrorSpec | undefined => {
  for (const spec of capability.errors) if (spec.code === code) return spec
  return undefined
}
