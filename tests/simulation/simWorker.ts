/**
 * The simulation's test worker: `sim.count` (idempotent) and `sim.once` (not idempotent), each answering after
 * `ms` of (virtual) time. Every handler start is recorded by the request's `key`, so the harness can check that a
 * non-idempotent request ran at most once, and exactly once when its caller got a result.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { implement } from "../../actors/Implementation.ts"
import { defineWorker, type WorkerDefinition } from "../../actors/WorkerDefinition.ts"
import { defineCapability } from "../../capabilities/Capability.ts"

const Input = Schema.Struct({ key: Schema.String, ms: Schema.Number })
const Output = Schema.Struct({ key: Schema.String, worker: Schema.String })

export const SimCount = defineCapability({
  id: "sim.count",
  version: "1.0.0",
  description: "Idempotent: answers { key, worker } after ms milliseconds.",
  input: Input,
  output: Output,
  idempotent: true,
})

export const SimOnce = defineCapability({
  id: "sim.once",
  version: "1.0.0",
  description: "Not idempotent: answers { key, worker } after ms milliseconds; must never run twice for one key.",
  input: Input,
  output: Output,
  idempotent: false,
})

/** Handler starts per key, with the worker that ran them. */
export type Runs = Map<string, Array<string>>

export const simWorker = (runs: Runs): WorkerDefinition => {
  const record = (key: string, worker: string) => {
    const list = runs.get(key)
    if (list === undefined) runs.set(key, [worker])
    else list.push(worker)
  }
  const handler = ({ key, ms }: { readonly key: string; readonly ms: number }, { workerId }: { readonly workerId: string }) =>
    Effect.suspend(() => {
      record(key, workerId)
      return Effect.as(ms > 0 ? Effect.sleep(ms) : Effect.void, { key, worker: workerId })
    })
  return defineWorker({ name: "sim", implements: [implement(SimCount, handler), implement(SimOnce, handler)] })
}
