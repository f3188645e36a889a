/**
 * The spam model's cache in a worker's data directory: `model.json`. Loaded when it was made from the same corpus
 * and recipe; otherwise (missing, unreadable, or stale) trained again and written atomically, a temporary file
 * renamed over the old one, so a crash or a concurrent replica never leaves half a model behind.
 */
import { randomUUID } from "node:crypto"
import { readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Schema } from "effect"
import { type LabelledMessage, load, recipe, SavedModel, type SpamModel, train } from "./spamModel.ts"

export const modelFileName = "model.json"

/** Where the training messages come from: the corpus's name (part of the model's identity) and its messages. */
export interface TrainingSource {
  readonly corpus: string
  readonly messages: () => Promise<Iterable<LabelledMessage>>
}

/** The model saved in `dataDir`, or why it cannot be used. */
export const readModel = async (dataDir: string, corpus: string): Promise<SpamModel | { readonly stale: string }> => {
  let text: string
  try {
    text = await readFile(join(dataDir, modelFileName), "utf8")
  } catch (error) {
    return { stale: `no readable ${modelFileName}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }
  }
  try {
    const saved = Schema.decodeUnknownSync(Schema.fromJsonString(SavedModel))(text)
    if (saved.recipe !== recipe) return { stale: `made with recipe "${saved.recipe}", not "${recipe}"` }
    if (saved.corpus !== corpus) return { stale: `trained on ${saved.corpus}, not ${corpus}` }
    return load(saved)
  } catch (error) {
    return { stale: `${modelFileName} is not a model: ${error instanceof Error ? error.message : String(error)}` }
  }
}

/** Writes `model` to `dataDir` as a whole: to a temporary file first, then renamed. */
export const writeModel = async (dataDir: string, model: SpamModel): Promise<void> => {
  const temporary = join(dataDir, `${modelFileName}.${randomUUID()}.tmp`)
  try {
    await writeFile(temporary, JSON.stringify(model.save()))
    await rename(temporary, join(dataDir, modelFileName))
  } finally {
    await rm(temporary, { force: true })
  }
}

/**
 * Trainings under way in this process, by corpus: two workers that need the same model at once (email.classify and
 * streaming.email.classify starting together in `npm start`) share one training, and each caches the result.
 */
const trainings = new Map<string, Promise<SpamModel>>()

/**
 * The model cached in `dataDir`, or one trained from `source` (or by a training of the same corpus already under
 * way in this process) and cached there. `trained` says which, and `stale` why the cache was not used.
 */
export const loadOrTrain = async (
  dataDir: string,
  source: TrainingSource,
  now: () => Date = () => new Date(),
): Promise<{ readonly model: SpamModel; readonly trained: false } | { readonly model: SpamModel; readonly trained: true; readonly stale: string }> => {
  const cached = await readModel(dataDir, source.corpus)
  if (!("stale" in cached)) return { model: cached, trained: false }
  let training = trainings.get(source.corpus)
  if (training === undefined) {
    training = (async () => train(await source.messages(), { corpus: source.corpus, trainedAt: now() }))()
    trainings.set(source.corpus, training)
    // Forgotten once settled: a later start reads the cache, and a failed training is tried afresh.
    void training.then(
      () => trainings.delete(source.corpus),
      () => trainings.delete(source.corpus),
    )
  }
  const model = await training
  await writeModel(dataDir, model)
  return { model, trained: true, stale: cached.stale }
}
