/**
 * `npm run eval:email`: trains the spam model on the SpamAssassin corpus's training split, as the worker does, and
 * measures it on the held-out split: accuracy, spam precision and recall, the confusion matrix, and accuracy by
 * corpus group. Writes nothing; the figures go into README.md by hand, with the date.
 */
import { performance } from "node:perf_hooks"
import { corpusName, loadSpamAssassin } from "./spamAssassin.ts"
import { evaluate, recipe, train } from "./spamModel.ts"

const percent = (x: number): string => (Number.isNaN(x) ? "n/a" : `${(100 * x).toFixed(2)}%`)
const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`

let since = performance.now()
const corpus = await loadSpamAssassin()
const training = corpus.filter((message) => message.split === "train")
const heldOut = corpus.filter((message) => message.split === "heldOut")
console.log(`${corpusName}: ${corpus.length} messages read and parsed in ${seconds(since)}`)
console.log(`recipe: ${recipe}`)

since = performance.now()
const model = await train(training, { corpus: corpusName, trainedAt: new Date() })
const count = (messages: typeof corpus, label: string) => messages.filter((message) => message.label === label).length
console.log(`trained on ${training.length} messages (${count(training, "spam")} spam, ${count(training, "ham")} ham) in ${seconds(since)}`)

since = performance.now()
const result = await evaluate(model, heldOut)
console.log(`held out: ${heldOut.length} messages (${count(heldOut, "spam")} spam, ${count(heldOut, "ham")} ham), classified in ${seconds(since)}`)
console.log(`accuracy        ${percent(result.accuracy)}`)
console.log(`spam precision  ${percent(result.spamPrecision)}`)
console.log(`spam recall     ${percent(result.spamRecall)}`)
console.log(`by prior alone  ${result.byPrior} (no known word)`)
console.log("confusion (rows: actual, columns: predicted)")
console.log("             spam     ham")
for (const actual of ["spam", "ham"] as const) {
  console.log(`  ${actual.padEnd(6)} ${String(result.confusion[actual].spam).padStart(7)} ${String(result.confusion[actual].ham).padStart(7)}`)
}
// The corpus holds the same mail sent several times: copies on both sides of the split flatter the figures.
const trainingTexts = new Set(training.map((message) => message.text).filter((text) => text.trim() !== ""))
const unseen = heldOut.filter((message) => !trainingTexts.has(message.text))
const unseenResult = await evaluate(model, unseen)
console.log(
  `held out without a body identical to a training message's: ${unseen.length} messages, accuracy ${percent(unseenResult.accuracy)}, spam precision ${percent(unseenResult.spamPrecision)}, recall ${percent(unseenResult.spamRecall)}`,
)
console.log("accuracy by group")
for (const group of [...new Set(heldOut.map((message) => message.group))]) {
  const messages = heldOut.filter((message) => message.group === group)
  console.log(`  ${group.padEnd(11)} ${percent((await evaluate(model, messages)).accuracy).padStart(7)} of ${messages.length}`)
}
