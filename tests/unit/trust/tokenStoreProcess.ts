/**
 * Another process using a token store, for JoinTokens.test.ts: `churn <dir> <token> <rounds>` creates a
 * single-use worker token and tries to redeem `<token>`, `rounds` times, printing `created <token>` and
 * `redeemed <outcome>` as it goes. Run as `node --import tsx tests/unit/trust/tokenStoreProcess.ts ...`.
 */
import { Effect } from "effect"
import * as JoinTokens from "../../../trust/JoinTokens.ts"

const [command, dir, shared, rounds] = process.argv.slice(2)
const now = new Date("2030-01-15T12:00:00.000Z")

const program = Effect.gen(function* () {
  if (command !== "churn") throw new Error(`unknown command ${command}`)
  const tokens = yield* JoinTokens.make(dir!)
  for (let round = 0; round < Number(rounds); round++) {
    const { token } = yield* tokens.create({ role: "worker", ttlMs: 3_600_000, uses: 1, now })
    process.stdout.write(`created ${token}\n`)
    const outcome = yield* Effect.result(tokens.redeem(shared!, now))
    process.stdout.write(`redeemed ${outcome._tag === "Success" ? "ok" : outcome.failure.reason}\n`)
  }
})

await Effect.runPromise(program)
