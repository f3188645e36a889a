/** `crank drain`: drain a worker: no new work, in-flight finishes, then it deregisters. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { CrankDrain } from "../../../capabilities/crank.ts"
import type { CommandRun } from "../Command.ts"
import { accessFlagsOf, accessOptions, connectMesh } from "../meshAccess.ts"
import { parse, pickNumber, UsageError } from "../options.ts"
import { printJson, printLine } from "../output.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, { ...accessOptions, deadline: { type: "string" }, json: { type: "boolean" } })
    const workerId = positionals[0]
    if (workerId === undefined) throw new UsageError("missing <worker-id> (see crank status)")
    const deadline = values.deadline === undefined ? undefined : Number(values.deadline)
    if (deadline !== undefined && !(deadline >= 0)) throw new UsageError("--deadline must be a non-negative number of milliseconds")
    const client = yield* connectMesh(accessFlagsOf(values), pickNumber(undefined, "timeout", 10_000)!)
    const answer = yield* client.invoke(CrankDrain, deadline === undefined ? { workerId } : { workerId, deadlineMs: deadline })
    if (values.json) printJson(answer)
    else printLine(`draining ${answer.workerId}`)
  })
