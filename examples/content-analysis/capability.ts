/**
 * `content.philosophical_analysis@1.0.0`: sentences, key terms, sentiment and themes of an English text.
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"

/** The largest text the capability accepts, in UTF-16 code units (JavaScript string length). */
export const maxTextLength = 200_000

const Sentiment = Schema.Number.check(Schema.isBetween({ minimum: -1, maximum: 1 }))
const Count = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }))

export const AnalysisInput = Schema.Struct({
  /** The text to analyse: English, 1 to 200,000 characters, not only whitespace. */
  text: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(maxTextLength)),
  /** How many key terms to return, 1 to 100; 10 when absent. */
  maxKeyTerms: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 100 }))),
})
export type AnalysisInput = typeof AnalysisInput.Type

export const AnalysisOutput = Schema.Struct({
  sentences: Schema.Struct({
    count: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    /** Each sentence as it appears in the text, with its sentiment from -1 (negative) to 1 (positive). */
    items: Schema.Array(Schema.Struct({ text: Schema.String, sentiment: Sentiment })),
  }),
  /** The most frequent lemmas of nouns, proper nouns and adjectives, stop words removed: most frequent first. */
  keyTerms: Schema.Array(Schema.Struct({ term: Schema.String, count: Count })),
  /** The whole text's sentiment, from -1 to 1 (wink-nlp's lexicon-based score). */
  sentiment: Sentiment,
  /** Themes that fired: at least two distinct words of a theme's list occur (index.ts, `themes`). */
  themes: Schema.Array(Schema.Struct({ theme: Schema.String, words: Schema.Array(Schema.String) })),
})
export type AnalysisOutput = typeof AnalysisOutput.Type

export const PhilosophicalAnalysis = defineCapability({
  id: "content.philosophical_analysis",
  version: "1.0.0",
  name: "Philosophical analysis",
  description:
    "Splits an English text into sentences with their sentiment, lists its key terms, scores its overall sentiment (wink-nlp, lexicon-based) and detects philosophical themes by a stated word-list rule.",
  input: AnalysisInput,
  output: AnalysisOutput,
  idempotent: true,
  tags: ["example", "nlp"],
  estimatedDurationMs: 50,
})
