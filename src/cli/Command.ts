/**
 * The shape of a `crank` subcommand: its name, a one-line summary for `crank --help`, the usage text for
 * `crank <name> --help`, and what it does. Failures are `CrankError`s (printed as `error CODE: message`,
 * exit status from exitCodes.ts) or `UsageError`s (exit 2, with the usage).
 */
import type { Effect, Scope } from "effect"
import type { CrankError } from "../../capabilities/CrankError.ts"

export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly run: (argv: ReadonlyArray<string>) => Effect.Effect<void, CrankError, Scope.Scope>
}
