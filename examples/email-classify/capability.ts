/**
 * `email.classify@1.0.0`: an email's subject and plain text, classified as spam or ham by a naive Bayes model
 * trained on the SpamAssassin public corpus (spamModel.ts, spamAssassin.ts).
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"

/** The longest subject accepted, in characters. */
export const maxSubjectLength = 1_000
/** The longest text accepted, in characters; the corpus's messages are cut to the same length for training. */
export const maxTextLength = 100_000

export const ClassifyInput = Schema.Struct({
  subject: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(maxSubjectLength))),
  /** The body as plain text (an HTML-only mail converted to text first, as email.parse does); may be empty. */
  text: Schema.String.check(Schema.isMaxLength(maxTextLength)),
})
export type ClassifyInput = typeof ClassifyInput.Type

export const Label = Schema.Literals(["spam", "ham"])
export type Label = typeof Label.Type

const Probability = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

export const ModelIdentity = Schema.Struct({
  /** The corpus and package version it was trained on. */
  corpus: Schema.String,
  /** How many messages it was trained on: the corpus's training split. */
  trainedOn: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
  /** When it was trained (ISO 8601): the same on every start that loads the cached model. */
  trainedAt: Schema.String,
})
export type ModelIdentity = typeof ModelIdentity.Type

export const ClassifyOutput = Schema.Struct({
  label: Label,
  /** The probability of `label` under the model: at least 0.5. Naive Bayes is overconfident; read it as a ranking. */
  confidence: Probability,
  /** The probability of each label under the model; they add up to 1. */
  scores: Schema.Struct({ spam: Probability, ham: Probability }),
  /** `words`: from the message's words; `prior`: none of them was in the model's vocabulary, only the training mix was left. */
  basis: Schema.Literals(["words", "prior"]),
  model: ModelIdentity,
})
export type ClassifyOutput = typeof ClassifyOutput.Type

export const EmailClassify = defineCapability({
  id: "email.classify",
  version: "1.0.0",
  name: "Classify email as spam or ham",
  description:
    "Classifies an email (subject and plain text) as spam or ham with a multinomial naive Bayes model over its words (wink-naive-bayes-text-classifier, wink-nlp's tokenizer), trained on the SpamAssassin public corpus (2002-2003, English). Returns the label, its probability, both scores, and the model's identity.",
  input: ClassifyInput,
  output: ClassifyOutput,
  idempotent: true,
  tags: ["example", "email", "nlp"],
  estimatedDurationMs: 10,
})
