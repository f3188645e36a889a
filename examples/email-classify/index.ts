/**
 * The email-classify worker: `email.classify@1.0.0`. Its `started` hook loads the spam model cached in the worker's
 * data directory, or trains it from the SpamAssassin corpus's training split and caches it there (modelFile.ts):
 * the first start takes seconds, later ones a fraction of one. Run it with `npx crank dev examples/email-classify`.
 */
import { defineWorker, implement, type WorkerEnvironment } from "crank-mesh"
import { EmailClassify } from "./capability.ts"
import { loadOrTrain } from "./modelFile.ts"
import { corpusName, loadSpamAssassin } from "./spamAssassin.ts"
import type { SpamModel } from "./spamModel.ts"

/**
 * The models in service, by data directory. Replicas of a worker on one node share its directory: they share one
 * model too (one training, one copy in memory), released when the last of them stops.
 */
const models = new Map<string, { readonly model: Promise<SpamModel>; holders: number }>()

const release = (dataDir: string): void => {
  const entry = models.get(dataDir)
  if (entry !== undefined && --entry.holders === 0) models.delete(dataDir)
}

const started = async ({ dataDir }: WorkerEnvironment): Promise<void> => {
  let entry = models.get(dataDir)
  if (entry === undefined) {
    const loaded = loadOrTrain(dataDir, { corpus: corpusName, messages: () => loadSpamAssassin("train") })
    entry = { model: loaded.then(({ model }) => model), holders: 0 }
    models.set(dataDir, entry)
  }
  entry.holders++
  try {
    await entry.model
  } catch (error) {
    // A failed start is retried by the supervisor: it must train again, not find this failure.
    release(dataDir)
    throw error
  }
}

export const classify = implement(EmailClassify, async ({ subject = "", text }, context) => {
  const entry = models.get(context.dataDir)
  // Unreachable through the runtime, which runs `started` before routing anything here: a bug, so INTERNAL.
  if (entry === undefined) throw new Error(`no spam model for ${context.dataDir}: the worker's started hook has not run`)
  const model = await entry.model
  return { ...model.classify(subject, text), model: model.identity }
})

export default defineWorker({
  name: "email-classify",
  implements: [classify],
  started,
  stopped: ({ dataDir }) => release(dataDir),
})
