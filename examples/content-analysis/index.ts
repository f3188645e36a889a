/**
 * The content-analysis worker: `content.philosophical_analysis@1.0.0` with wink-nlp and its English model.
 * Run it with a controller in one process: `npx crank dev examples/content-analysis`.
 */
import { defineWorker, implement } from "crank-mesh"
import model from "wink-eng-lite-web-model"
import winkNLP, { type ItsFunction } from "wink-nlp"
import { PhilosophicalAnalysis } from "./capability.ts"

// Loaded once per worker process, not per request.
const nlp = winkNLP(model)
const { its, as } = nlp
// wink-nlp 2.4's declarations type `its.lemma` with a signature its own `out` does not accept; it is a token helper.
const lemma = its.lemma as unknown as ItsFunction<string>

/**
 * The theme rule: a theme fires when at least `minThemeWords` distinct words of its list occur in the text, a
 * token matching a word by its lower-cased form or by its lemma ("knows" is "know", "causes" is "cause").
 */
export const minThemeWords = 2
export const themes: Readonly<Record<string, ReadonlyArray<string>>> = {
  ethics: ["good", "evil", "virtue", "vice", "ought", "duty", "moral", "morality", "justice", "happiness", "right", "wrong"],
  epistemology: ["knowledge", "know", "truth", "true", "false", "belief", "believe", "certain", "certainty", "doubt", "evidence", "reason"],
  metaphysics: ["being", "existence", "exist", "reality", "real", "cause", "effect", "substance", "essence", "nature", "god", "world"],
  mind: ["mind", "consciousness", "conscious", "thought", "think", "perception", "perceive", "self", "soul", "idea", "imagination", "sense"],
}

const keyPos = new Set(["NOUN", "PROPN", "ADJ"])

export const analyse = implement(PhilosophicalAnalysis, ({ text, maxKeyTerms = 10 }, context) => {
  if (text.trim().length === 0) throw context.error("INVALID_INPUT", "the text is only whitespace: nothing to analyse")
  const doc = nlp.readDoc(text)

  const sentiments = doc.sentences().out(its.sentiment) as Array<number>
  const items = (doc.sentences().out(its.value) as Array<string>).map((sentence, i) => ({ text: sentence, sentiment: sentiments[i] ?? 0 }))

  const words = doc.tokens().filter((token) => token.out(its.type) === "word")
  const terms = words.filter((token) => !token.out(its.stopWordFlag) && keyPos.has(token.out(its.pos))).out(lemma, as.freqTable) as Array<[string, number]>
  const keyTerms = terms
    .sort(([a, m], [b, n]) => n - m || a.localeCompare(b))
    .slice(0, maxKeyTerms)
    .map(([term, count]) => ({ term, count }))

  const seen = new Set<string>([...(words.out(its.normal) as Array<string>), ...(words.out(lemma) as Array<string>)])
  const found = Object.entries(themes)
    .map(([theme, list]) => ({ theme, words: list.filter((word) => seen.has(word)) }))
    .filter(({ words }) => words.length >= minThemeWords)

  return { sentences: { count: items.length, items }, keyTerms, sentiment: doc.out(its.sentiment) as number, themes: found }
})

export default defineWorker({ name: "content-analysis", implements: [analyse] })
