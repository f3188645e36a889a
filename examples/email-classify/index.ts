/**
 * The email-classify worker: `email.classify@1.0.0`. Its `started` hook loads the spam model cached in the worker's
 * data directory, or trains it from the SpamAssassin corpus's training split and caches it there (servedModels.ts,
 * modelFile.ts): the first start takes seconds, later ones a fraction of one. Run it with
 * `npx crank dev examples/email-classify`.
 */
import { defineWorker, implement } from "crank-mesh"
import { EmailClassify } from "./capability.ts"
import { acquireModel, modelIn, releaseModel } from "./servedModels.ts"

export const classify = implement(EmailClassify, async ({ subject = "", text }, context) => {
  const model = await modelIn(context.dataDir)
  return { ...model.classify(subject, text), model: model.identity }
})

export default defineWorker({
  name: "email-classify",
  implements: [classify],
  started: ({ dataDir }) => acquireModel(dataDir),
  stopped: ({ dataDir }) => releaseModel(dataDir),
})
