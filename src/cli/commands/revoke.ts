/** `crank revoke`: refuse a worker's, client's or operator's certificate from now on. Its usage text lives in the command table (../commands.ts). */
import * as Effect from "effect/Effect"
import { CrankRevoke } from "../../../capabilities/crank.ts"
import { isRole, parseIdentityUri, Roles } from "../../../trust/identity.ts"
import type { CommandRun } from "../Command.ts"
import { accessFlagsOf, accessOptions, connectMesh } from "../meshAccess.ts"
import { parse, pickNumber, UsageError } from "../options.ts"
import { printJson, printLine } from "../output.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, { ...accessOptions, json: { type: "boolean" } })
    const [target, ...extra] = positionals
    if (target === undefined || extra.length > 0) throw new UsageError("crank revoke takes one identity: <role>/<id>, e.g. worker/n1 (a worker process's node)")
    const slash = target.indexOf("/")
    const role = target.slice(0, slash)
    const identity = slash > 0 && isRole(role) ? parseIdentityUri(`spiffe://crank/${target}`) : undefined
    if (identity === undefined || !isRole(identity.role)) throw new UsageError(`"${target}" is not <role>/<id> with a role of ${Roles.join(", ")}`)
    const client = yield* connectMesh(accessFlagsOf(values), pickNumber(undefined, "timeout", 10_000)!)
    const answer = yield* client.invoke(CrankRevoke, { role: identity.role, id: identity.id })
    if (values.json) return printJson(answer)
    printLine(`revoked ${answer.role} ${answer.id} until ${new Date(answer.until).toISOString()}; closed ${answer.closed} connection(s)`)
  })
