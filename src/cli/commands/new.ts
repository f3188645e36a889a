/** `crank new`: scaffold a worker: capability, handler, contract test, README. Its usage text lives in the command table (../commands.ts). */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import * as Effect from "effect/Effect"
import type { CommandRun } from "../Command.ts"
import { UsageError } from "../errors.ts"
import { parse } from "../options.ts"
import { printLine } from "../output.ts"
import { scaffoldWorker, workerNamePattern } from "../scaffold.ts"

export const run: CommandRun = (argv) =>
  Effect.sync(() => {
    const { values, positionals } = parse(argv, { in: { type: "string" } })
    const [kind, name, ...extra] = positionals
    if (kind !== "worker") throw new UsageError(kind === undefined ? "missing what to create (worker)" : `cannot create "${kind}": only "worker"`)
    if (name === undefined) throw new UsageError("missing <name> (e.g. wordstats)")
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`)
    if (!workerNamePattern.test(name)) throw new UsageError(`"${name}" is not a worker name: lower-case letters, digits and -, starting with a letter`)
    const folder = join(values.in ?? "workers", name)
    if (existsSync(folder)) throw new UsageError(`${folder} already exists; choose another name or --in folder`)
    mkdirSync(folder, { recursive: true })
    const files = scaffoldWorker(name)
    for (const file of files) writeFileSync(join(folder, file.path), file.contents)
    for (const file of files) printLine(`created ${relative(process.cwd(), join(folder, file.path))}`)
    printLine()
    printLine(`next: npx vitest run ${folder}    npx crank dev ${folder}`)
  })
