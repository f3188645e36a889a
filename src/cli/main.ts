/**
 * `crank`: the command line's entry. Answers `--help` from the table of commands without loading anything
 * else (a help costs a Node start-up, not Effect's), and otherwise loads the command and runs it (execute.ts).
 */
import { commands } from "./commands.ts"
import { environment } from "./environment.ts"

const overview = `crank: a capability mesh of Effect actors

Usage: crank <command> [options]     crank <command> --help

Commands:
${commands.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`).join("\n")}

Environment: ${Object.values(environment).join(", ")}`

/** Exit status for a bad command line (exitCodes.ts has the rest). */
const usageStatus = 2

const [name, ...rest] = process.argv.slice(2)
const command = commands.find((c) => c.name === name)
if (name === undefined || name === "--help" || name === "-h" || name === "help") {
  process.stdout.write(`${overview}\n`)
  if (name === undefined) process.exitCode = usageStatus
} else if (command === undefined) {
  process.stderr.write(`error USAGE: unknown command "${name}"\n\n${overview}\n`)
  process.exitCode = usageStatus
} else if (rest.includes("--help") || rest.includes("-h")) {
  process.stdout.write(`${command.usage}\n`)
} else {
  const { execute } = await import("./execute.ts")
  execute(command, rest)
}
