/** Types for wink-naive-bayes-text-classifier 2.2 (it ships none): the methods spamModel.ts calls, used without prep tasks. */
declare module "wink-naive-bayes-text-classifier" {
  namespace naiveBayesTextClassifier {
    interface Classifier {
      defineConfig(config: { readonly considerOnlyPresence?: boolean; readonly smoothingFactor?: number }): boolean
      /** With no prep tasks defined, the input is the message's tokens. */
      learn(tokens: ReadonlyArray<string>, label: string): boolean
      consolidate(): boolean
      /** Each label's log2 odds, highest first; `[["unknown", 0]]` when no token is in the vocabulary. */
      computeOdds(tokens: ReadonlyArray<string>): Array<[string, number]>
      stats(): { labelWiseSamples: Record<string, number>; labelWiseWords: Record<string, number>; vocabulary: number }
      exportJSON(): string
      importJSON(json: string): boolean
    }
  }
  function naiveBayesTextClassifier(): naiveBayesTextClassifier.Classifier
  export = naiveBayesTextClassifier
}
