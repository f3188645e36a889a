/**
 * The spam model: a message's words (wink-nlp's tokenizer), a multinomial naive Bayes classifier over them
 * (wink-naive-bayes-text-classifier), trained on labelled messages, evaluated on others, saved as JSON and loaded
 * back. The worker (index.ts, through modelFile.ts) and `npm run eval:email` (evaluate.ts) both use it, so the
 * figures in the README are the served model's.
 */
import { createRequire } from "node:module"
import { setImmediate as nextTurn } from "node:timers/promises"
import { Schema } from "effect"
import englishModel from "wink-eng-lite-web-model"
import winkNaiveBayes from "wink-naive-bayes-text-classifier"
import winkNLP from "wink-nlp"
import type { ClassifyOutput, Label, ModelIdentity } from "./capability.ts"

export interface LabelledMessage {
  readonly subject: string
  readonly text: string
  readonly label: Label
}

export type Classification = Omit<ClassifyOutput, "model">

export interface SpamModel {
  readonly identity: ModelIdentity
  readonly classify: (subject: string, text: string) => Classification
  /** The document modelFile.ts writes, made on demand (it is as large as the vocabulary). */
  readonly save: () => SavedModel
}

const require = createRequire(import.meta.url)
const versionOf = (name: string): string => `${name}@${(require(`${name}/package.json`) as { version: string }).version}`

const libraries = ["wink-nlp", "wink-eng-lite-web-model", "wink-naive-bayes-text-classifier"].map(versionOf).join(", ")

/**
 * What a saved model was made with: a file with another recipe is trained again. The leading number changes
 * whenever `wordsOf` or the classifier's configuration does; the versions, whenever a library does.
 */
export const recipe = `1: wink-nlp word tokens lower-cased, subject words prefixed; multinomial naive Bayes, smoothing 1; ${libraries}`

export const SavedModel = Schema.Struct({
  recipe: Schema.String,
  corpus: Schema.String,
  trainedOn: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
  trainedAt: Schema.String,
  /** wink's own export, `[config, samples, counts, words, vocabulary]`, checked by its `importJSON`. */
  classifier: Schema.Unknown,
})
export type SavedModel = typeof SavedModel.Type

// The tokenizer alone: the empty pipeline skips sentence splitting, negation, POS tagging and entities, which
// word counts do not use (and which would triple the training time).
const nlp = winkNLP(englishModel, [])
const { its } = nlp

const words = (text: string): Array<string> => {
  if (text.length === 0) return []
  const tokens = nlp.readDoc(text).tokens()
  const types = tokens.out(its.type) as Array<string>
  return (tokens.out(its.normal) as Array<string>).filter((_, i) => types[i] === "word")
}

/**
 * The features of a message: its words lower-cased (numbers, punctuation, URLs and addresses left out), the
 * subject's prefixed with `subject:` so that a word weighs on its own there. Stop words stay: they carry style.
 *
 * @example
 * ```ts
 * wordsOf("Free offer", "Click here!") // ["subject:free", "subject:offer", "click", "here"]
 * ```
 */
export const wordsOf = (subject: string, text: string): Array<string> => [...words(subject).map((word) => `subject:${word}`), ...words(text)]

const spamProbability = (log2Odds: number): number => 1 / (1 + 2 ** -log2Odds)

const fromClassifier = (classifier: winkNaiveBayes.Classifier, identity: ModelIdentity): SpamModel => {
  const samples = classifier.stats().labelWiseSamples
  // What is left when no word of a message is in the vocabulary: the training mix of spam and ham.
  const priorLog2Odds = Math.log2((samples.spam ?? 0) / (samples.ham ?? 0))
  if (!Number.isFinite(priorLog2Odds)) throw new Error(`a spam model needs both labels, it has ${JSON.stringify(samples)}`)
  return {
    identity,
    classify: (subject, text) => {
      const odds = classifier.computeOdds(wordsOf(subject, text))
      const words = odds[0]?.[0] !== "unknown"
      const log2Odds = words ? (odds.find(([label]) => label === "spam")?.[1] ?? 0) : priorLog2Odds
      // Each computed from the odds, not as 1 - the other, so that a tiny probability is not rounded to 0.
      const scores = { spam: spamProbability(log2Odds), ham: spamProbability(-log2Odds) }
      // A tie is ham: calling a good mail spam costs more than letting a spam through.
      const label: Label = scores.spam > scores.ham ? "spam" : "ham"
      return { label, confidence: scores[label], scores, basis: words ? "words" : "prior" }
    },
    save: () => ({ recipe, ...identity, classifier: JSON.parse(classifier.exportJSON()) }),
  }
}

/** Messages between two yields to the event loop: training is CPU work, and other workers may share the process. */
const messagesPerTurn = 50

/** A model trained on `messages`, consolidated and ready to classify. */
export const train = async (messages: Iterable<LabelledMessage>, source: { readonly corpus: string; readonly trainedAt: Date }): Promise<SpamModel> => {
  const classifier = winkNaiveBayes()
  classifier.defineConfig({ considerOnlyPresence: false, smoothingFactor: 1 })
  let trainedOn = 0
  for (const message of messages) {
    classifier.learn(wordsOf(message.subject, message.text), message.label)
    if (++trainedOn % messagesPerTurn === 0) await nextTurn()
  }
  classifier.consolidate()
  return fromClassifier(classifier, { corpus: source.corpus, trainedOn, trainedAt: source.trainedAt.toISOString() })
}

/** A saved model back in service; throws when wink refuses its classifier. */
export const load = (saved: SavedModel): SpamModel => {
  const classifier = winkNaiveBayes()
  classifier.importJSON(JSON.stringify(saved.classifier))
  classifier.consolidate()
  return fromClassifier(classifier, { corpus: saved.corpus, trainedOn: saved.trainedOn, trainedAt: saved.trainedAt })
}

export interface Evaluation {
  readonly messages: number
  /** Rows are the true label, columns the predicted one. */
  readonly confusion: { readonly [actual in Label]: { readonly [predicted in Label]: number } }
  readonly accuracy: number
  /** Of the messages called spam, the share that is spam (NaN when none was). */
  readonly spamPrecision: number
  /** Of the spam, the share called spam (NaN when there was none). */
  readonly spamRecall: number
  /** Messages none of whose words the model knew: labelled by the prior. */
  readonly byPrior: number
}

/** `model` on `messages` it was not trained on: the confusion matrix and the figures drawn from it. */
export const evaluate = async (model: SpamModel, messages: Iterable<LabelledMessage>): Promise<Evaluation> => {
  const confusion = { spam: { spam: 0, ham: 0 }, ham: { spam: 0, ham: 0 } }
  let count = 0
  let byPrior = 0
  for (const message of messages) {
    const { label, basis } = model.classify(message.subject, message.text)
    confusion[message.label][label]++
    if (basis === "prior") byPrior++
    if (++count % messagesPerTurn === 0) await nextTurn()
  }
  return {
    messages: count,
    confusion,
    accuracy: (confusion.spam.spam + confusion.ham.ham) / count,
    spamPrecision: confusion.spam.spam / (confusion.spam.spam + confusion.ham.spam),
    spamRecall: confusion.spam.spam / (confusion.spam.spam + confusion.spam.ham),
    byPrior,
  }
}
