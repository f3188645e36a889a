/**
 * Runs one `crank` command as an Effect under the Node runtime: SIGINT and SIGTERM interrupt it, so finalizers
 * drain workers and close connections, and the process exits once they have. Every failure becomes a typed
 * code on stderr (`error NO_WORKER: ...`) and a non-zero exit status (exitCodes.ts): this is the CLI's one
 * error mapping.
 */
import { runMain } from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { isCrankError } from "../../capabilities/CrankError.ts"
import type { Command } from "./Command.ts"
import { UsageError, WorkerModuleError } from "./errors.ts"
import { exitCodeOf, exitCodes } from "./exitCodes.ts"
import { cliTransport } from "./transport.ts"

const fail = (message: string, status: number): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(`${message}\n`)
    process.exitCode = status
  })

const program = (command: Command, argv: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.scoped(Effect.flatMap(Effect.promise(command.load), (run) => Effect.suspend(() => run(argv)))).pipe(
    Effect.provide(cliTransport),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.void
      const error = Cause.squash(cause)
      if (error instanceof UsageError) return fail(`error USAGE: ${error.message}\n\n${command.usage}`, exitCodes.USAGE!)
      if (error instanceof WorkerModuleError) return fail(`error WORKER_MODULE: ${error.message}`, exitCodes.WORKER_MODULE!)
      if (isCrankError(error)) return fail(`error ${error.code}: ${error.message}`, exitCodeOf(error.code))
      return fail(`error INTERNAL: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, exitCodes.INTERNAL!)
    }),
  )

export const execute = (command: Command, argv: ReadonlyArray<string>): void =>
  runMain(program(command, argv), {
    disableErrorReporting: true,
    // An interrupt (Ctrl-C, SIGTERM) after a clean drain is a normal exit.
    teardown: (exit, onExit) => onExit(typeof process.exitCode === "number" ? process.exitCode : Exit.isSuccess(exit) || Exit.hasInterrupts(exit) ? 0 : 1),
  })
