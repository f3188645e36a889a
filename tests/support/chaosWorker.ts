/**
 * A test-only worker for the chaos test: `chaos.read` is idempotent (a retry elsewhere is safe), `chaos.write` is
 * not (a request cut off mid-flight may have run: it must fail as such, never be run again behind the caller's
 * back). Both answer `{ n, worker }` after `ms` milliseconds, so requests are in flight when processes die.
 */
import { Effect, Schema } from "effect"
import { defineCapability, defineWorker, implement } from "../../src/index.ts"

const Input = Schema.Struct({ n: Schema.Number, ms: Schema.Number })
const Output = Schema.Struct({ n: Schema.Number, worker: Schema.String })

export const ChaosRead = defineCapability({ id: "chaos.read", version: "1.0.0", input: Input, output: Output, idempotent: true })
export const ChaosWrite = defineCapability({ id: "chaos.write", version: "1.0.0", input: Input, output: Output, idempotent: false })

const answer = ({ n, ms }: typeof Input.Type, { workerId }: { readonly workerId: string }) => Effect.as(Effect.sleep(ms), { n, worker: workerId })

export default defineWorker({ name: "chaos", implements: [implement(ChaosRead, answer), implement(ChaosWrite, answer)] })
