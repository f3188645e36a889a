/**
 * The spam models in service in this process, by data directory: what a worker's `started` hook acquires (the
 * model cached there, or one trained from the SpamAssassin corpus's training split and cached, modelFile.ts), its
 * handlers use, and its `stopped` hook releases. email.classify and streaming.email.classify both serve this way.
 *
 * Replicas of a worker on one node share its directory: they share one model too (one training, one copy in
 * memory), released when the last of them stops.
 */
import { loadOrTrain } from "./modelFile.ts"
import { corpusName, loadSpamAssassin } from "./spamAssassin.ts"
import type { SpamModel } from "./spamModel.ts"

const models = new Map<string, { readonly model: Promise<SpamModel>; holders: number }>()

/** Gives back a hold on the model of `dataDir`; the last one lets it go. */
export const releaseModel = (dataDir: string): void => {
  const entry = models.get(dataDir)
  if (entry !== undefined && --entry.holders === 0) models.delete(dataDir)
}

/** Holds the model of `dataDir`, loading or training it first when no one holds it: for a `started` hook. */
export const acquireModel = async (dataDir: string): Promise<void> => {
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
    releaseModel(dataDir)
    throw error
  }
}

/** The model `acquireModel` holds for `dataDir`: for a handler. */
export const modelIn = (dataDir: string): Promise<SpamModel> => {
  const entry = models.get(dataDir)
  // Unreachable through the runtime, which runs `started` before routing anything here: a bug, so INTERNAL.
  if (entry === undefined) throw new Error(`no spam model for ${dataDir}: the worker's started hook has not run`)
  return entry.model
}
