/** `crank token`: create, list and revoke join tokens on the controller's host. Its usage text lives in the command table (../commands.ts). */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { crankError } from "../../../capabilities/CrankError.ts"
import { isRole, Roles } from "../../../trust/identity.ts"
import { type JoinTokenRecord, tokenStatus } from "../../../trust/JoinTokens.ts"
import type { TrustError } from "../../../trust/TrustError.ts"
import { openCa } from "../../trust/controllerAuthority.ts"
import { joinTokenOf } from "../../trust/joinToken.ts"
import type { CommandRun } from "../Command.ts"
import { parseDuration } from "../duration.ts"
import { dataRootOf } from "../meshAccess.ts"
import { parse, UsageError } from "../options.ts"
import { printJson, printLine, table } from "../output.ts"

/** A token store problem, as the CLI reports it: a revoke of an unknown id is the user's, the rest are the files'. */
const storeError = (error: TrustError) => crankError(error.reason === "token-unknown" ? "INVALID_INPUT" : "UNAVAILABLE", `${error.reason}: ${error.message}`)

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values, positionals } = parse(argv, {
      ttl: { type: "string" },
      role: { type: "string" },
      uses: { type: "string" },
      "data-dir": { type: "string" },
      json: { type: "boolean" },
    })
    const [action, ...rest] = positionals
    const { ca, created, directory, tokens } = yield* Effect.mapError(openCa(dataRootOf(values["data-dir"])), storeError)
    if (created) process.stderr.write(`made a new CA in ${directory} (the controller started on this directory will use it)\n`)
    const now = new Date(yield* Clock.currentTimeMillis)
    switch (action) {
      case "create": {
        if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`)
        const role = values.role ?? "worker"
        if (!isRole(role)) throw new UsageError(`--role must be one of ${Roles.join(", ")}; got "${role}"`)
        const ttlMs = parseDuration(values.ttl ?? "1h", "--ttl")
        const uses = values.uses === undefined ? undefined : Number(values.uses)
        if (uses !== undefined && !(Number.isInteger(uses) && uses >= 1)) throw new UsageError(`--uses must be a whole number ≥ 1; got "${values.uses}"`)
        const { token, record } = yield* Effect.mapError(tokens.create({ role, ttlMs, now, ...(uses === undefined ? {} : { uses }) }), storeError)
        const joinToken = joinTokenOf(token, ca.certificatePem)
        if (values.json) return printJson({ token: joinToken, ...record })
        // The token alone on stdout (T=$(crank token create)); what it is on stderr, for the person.
        printLine(joinToken)
        process.stderr.write(
          `token ${record.id}: joins as ${record.role} until ${record.expiresAt}, ${record.usesLeft === undefined ? "any number of times" : `${record.usesLeft} time${record.usesLeft === 1 ? "" : "s"}`}. Shown once: it is stored only as a hash.\n`,
        )
        return
      }
      case "list": {
        const records = yield* Effect.mapError(tokens.list(), storeError)
        const listed = records.map((record: JoinTokenRecord) => ({ ...record, status: tokenStatus(record, now) }))
        if (values.json) return printJson(listed)
        printLine(
          table(
            ["ID", "ROLE", "STATUS", "EXPIRES", "USES LEFT"],
            listed.map((r) => [r.id, r.role, r.status, r.expiresAt, r.usesLeft === undefined ? "any" : String(r.usesLeft)]),
          ),
        )
        return
      }
      case "revoke": {
        const [id, ...extra] = rest
        if (id === undefined || extra.length > 0) throw new UsageError("crank token revoke takes one token id (see crank token list)")
        const record = yield* Effect.mapError(tokens.revoke(id), storeError)
        if (values.json) return printJson(record)
        printLine(`revoked ${record.id} (${record.role}): it admits no one from now on`)
        return
      }
      default:
        throw new UsageError(action === undefined ? "missing create, list or revoke" : `unknown action "${action}": create, list or revoke`)
    }
  })
