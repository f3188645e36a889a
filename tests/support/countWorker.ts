/**
 * A test-only worker with a streaming capability, for the CLI's `crank invoke --stream`: `test.count` streams
 * `{ n }` for n = 1..to. Run it with `crank dev tests/support/countWorker.ts`.
 */
import { Schema } from "effect"
import { defineCapability, defineWorker, implementStream } from "../../src/index.ts"

export const TestCount = defineCapability({
  id: "test.count",
  version: "1.0.0",
  description: "Streams { n } for n = 1..to.",
  input: Schema.Struct({ to: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 10_000 })) }),
  output: Schema.Struct({ n: Schema.Number }),
  stream: true,
})

export default defineWorker({
  name: "count",
  implements: [
    implementStream(TestCount, async function* ({ to }) {
      for (let n = 1; n <= to; n++) yield { n }
    }),
  ],
})
