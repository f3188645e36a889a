/**
 * A test-only worker for multi-process tests: `test.slow` answers after sleeping `ms` milliseconds, so requests
 * are still in flight when a test signals the process. Run it with `crank worker tests/support/slowWorker.ts`.
 *
 * The capability is not idempotent on purpose: nothing may retry it behind the test's back, so a request lost
 * on a dying worker shows up as a failure instead of being quietly served twice.
 */
import { Effect, Schema } from "effect"
import { defineCapability, defineWorker, implement } from "../../src/index.ts"

export const SlowInput = Schema.Struct({ n: Schema.Number, ms: Schema.Number })
export const SlowOutput = Schema.Struct({ n: Schema.Number, worker: Schema.String })

export const TestSlow = defineCapability({
  id: "test.slow",
  version: "1.0.0",
  description: "Answers { n, worker } after sleeping ms milliseconds.",
  input: SlowInput,
  output: SlowOutput,
  idempotent: false,
})

export default defineWorker({
  name: "slow",
  implements: [implement(TestSlow, ({ n, ms }, { workerId }) => Effect.as(Effect.sleep(ms), { n, worker: workerId }))],
})
