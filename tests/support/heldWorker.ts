/**
 * A worker whose `test.hold` requests wait until the test releases them: work that is reliably in flight, so a
 * drain stays in `draining` for as long as a test needs to look at it (no timing guesses).
 */
import { Schema } from "effect"
import type { WorkerDefinition } from "../../actors/WorkerDefinition.ts"
import { defineCapability, defineWorker, implement } from "../../src/index.ts"

export const TestHold = defineCapability({
  id: "test.hold",
  version: "1.0.0",
  description: "Answers once the test releases it.",
  input: Schema.Struct({}),
  output: Schema.Struct({ worker: Schema.String }),
})

export interface HeldWorker {
  readonly definition: WorkerDefinition
  /** Requests waiting now. */
  readonly held: () => number
  /** Lets every waiting (and future) request finish. */
  readonly release: () => void
}

export const heldWorker = (name = "held"): HeldWorker => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let held = 0
  return {
    definition: defineWorker({
      name,
      implements: [
        implement(TestHold, async (_input, { workerId }) => {
          held++
          try {
            await gate
          } finally {
            held--
          }
          return { worker: workerId }
        }),
      ],
    }),
    held: () => held,
    release,
  }
}
