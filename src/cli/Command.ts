/**
 * The shape of a `crank` subcommand: its name, a one-line summary for `crank --help`, the usage text for
 * `crank <name> --help`, and how to load what it does.
 *
 * The table of commands (commands.ts) is plain text and loaders, so `crank --help` answers without loading
 * Effect, ws or any command's code; the command's module is imported only when it runs. Failures are
 * `CrankError`s (printed as `error CODE: message`, exit status from exitCodes.ts), `UsageError`s (exit 2, with
 * the usage) or `WorkerModuleError`s (a worker module that cannot be loaded).
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { CrankError } from "../../capabilities/CrankError.ts"
import type { Transport } from "../../transports/Transport.ts"

/** What a command does, given its arguments (the command name removed), on the CLI's transport (transport.ts). */
export type CommandRun = (argv: ReadonlyArray<string>) => Effect.Effect<void, CrankError, Scope.Scope | Transport>

export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  /** Imports the command's module and returns its `run`. */
  readonly load: () => Promise<CommandRun>
}
