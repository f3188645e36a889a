/**
 * `crank`: the command line. Parses the subcommand, runs it as an Effect under the Node runtime (SIGINT and
 * SIGTERM interrupt it, so finalizers drain workers and close connections), and turns failures into a typed
 * code on stderr and a non-zero exit status.
 */
import { Cause, Effect, Exit } from "effect"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { isCrankError } from "../../capabilities/CrankError.ts"
import type { Command } from "./Command.ts"
import { controller } from "./commands/controller.ts"
import { dev } from "./commands/dev.ts"
import { diagram } from "./commands/diagram.ts"
import { drain } from "./commands/drain.ts"
import { invoke } from "./commands/invoke.ts"
import { status } from "./commands/status.ts"
import { watch } from "./commands/watch.ts"
import { worker } from "./commands/worker.ts"
import { exitCodeOf, exitCodes } from "./exitCodes.ts"
import { environment, UsageError } from "./options.ts"

export const commands: ReadonlyArray<Command> = [dev, controller, worker, invoke, status, watch, drain, diagram]

const overview = `crank: a capability mesh of Effect actors

Usage: crank <command> [options]     crank <command> --help

Commands:
${commands.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`).join("\n")}

Environment: ${Object.values(environment).join(", ")}`

const fail = (message: string, status: number): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(`${message}\n`)
    process.exitCode = status
  })

const program = (argv: ReadonlyArray<string>): Effect.Effect<void> => {
  const [name, ...rest] = argv
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    return Effect.sync(() => process.stdout.write(`${overview}\n`)).pipe(
      Effect.andThen(name === undefined ? fail("", exitCodes.USAGE!) : Effect.void),
    )
  }
  const command = commands.find((c) => c.name === name)
  if (command === undefined) return fail(`error USAGE: unknown command "${name}"\n\n${overview}`, exitCodes.USAGE!)
  if (rest.includes("--help") || rest.includes("-h")) return Effect.sync(() => process.stdout.write(`${command.usage}\n`))
  return Effect.scoped(Effect.suspend(() => command.run(rest))).pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.void
      const error = Cause.squash(cause)
      if (error instanceof UsageError) return fail(`error USAGE: ${error.message}\n\n${command.usage}`, exitCodes.USAGE!)
      if (isCrankError(error)) return fail(`error ${error.code}: ${error.message}`, exitCodeOf(error.code))
      return fail(`error INTERNAL: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, exitCodes.INTERNAL!)
    }),
  )
}

runMain(program(process.argv.slice(2)), {
  disableErrorReporting: true,
  // An interrupt (Ctrl-C, SIGTERM) after a clean drain is a normal exit.
  teardown: (exit, onExit) => onExit(typeof process.exitCode === "number" ? process.exitCode : Exit.isSuccess(exit) || Exit.hasInterrupts(exit) ? 0 : 1),
})
