/**
 * Contract and real-data tests for content.philosophical_analysis: run by `npm test` beside the worker they test.
 */
import type { CrankError } from "crank-mesh"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type AnalysisInput, AnalysisOutput, maxTextLength, PhilosophicalAnalysis } from "./capability.ts"
import worker from "./index.ts"

const analyse = (input: AnalysisInput) => callHandler(worker, PhilosophicalAnalysis, input)
const failure = (input: unknown) =>
  analyse(input as AnalysisInput).then(
    () => expect.unreachable("the input was accepted"),
    (error: CrankError) => error,
  )
const decodeOutput = Schema.decodeUnknownSync(AnalysisOutput)

// René Descartes, Meditations on First Philosophy (1641), Meditation II, tr. John Veitch (1853): public domain.
const descartes = `But I was persuaded that there was nothing in all the world, that there was no sky and no earth, neither
minds nor bodies; was I not, therefore, at the same time, persuaded that I did not exist? Far from it; I assuredly
existed, since I was persuaded. But there is I know not what being, who is possessed at once of the highest power
and the deepest cunning, who is constantly employing all his ingenuity in deceiving me. Doubtless, then, I exist,
since I am deceived; and, let him deceive me as he may, he can never bring it about that I am nothing, so long as I
shall be conscious that I am something. So that it must, in fine, be maintained, all things being maturely and
carefully considered, that this proposition I am, I exist, is necessarily true each time it is expressed by me, or
conceived in my mind.`

// David Hume, An Enquiry Concerning Human Understanding (1748), Section II: public domain.
const hume = `Every one will readily allow, that there is a considerable difference between the perceptions of the mind,
when a man feels the pain of excessive heat, or the pleasure of moderate warmth, and when he afterwards recalls to
his memory this sensation, or anticipates it by his imagination. These faculties may mimic or copy the perceptions
of the senses; but they never can entirely reach the force and vivacity of the original sentiment.`

// Aristotle, Nicomachean Ethics, Book II, tr. W. D. Ross (1908): public domain.
const aristotle = `Virtue, then, being of two kinds, intellectual and moral, intellectual virtue in the main owes both its
birth and its growth to teaching (for which reason it requires experience and time), while moral virtue comes about
as a result of habit. From this fact it is plain that none of the moral virtues arises in us by nature; for nothing
that exists by nature can form a habit contrary to its nature.`

const themesOf = (output: AnalysisOutput) => Object.fromEntries(output.themes.map(({ theme, words }) => [theme, words]))

describe("content.philosophical_analysis: the contract", () => {
  const validText = fc.string({ minLength: 1, maxLength: 400 }).filter((text) => text.trim().length > 0)
  const validInput = fc.record({ text: validText, maxKeyTerms: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: ["text"] })

  it("accepts valid inputs and its outputs decode with the output schema", async () => {
    await fc.assert(
      fc.asyncProperty(validInput, async (input) => {
        const output = decodeOutput(await analyse(input))
        expect(output.sentences.count).toBe(output.sentences.items.length)
        expect(output.keyTerms.length).toBeLessThanOrEqual(input.maxKeyTerms ?? 10)
      }),
      { numRuns: 60 },
    )
  })

  it("accepts a text of the largest size the schema allows", async () => {
    const text = `${hume} `.repeat(Math.ceil(maxTextLength / (hume.length + 1))).slice(0, maxTextLength)
    const output = decodeOutput(await analyse({ text, maxKeyTerms: 3 }))
    expect(output.sentences.count).toBeGreaterThan(100)
    expect(output.keyTerms).toHaveLength(3)
  })

  it("refuses invalid inputs with INVALID_INPUT", async () => {
    const invalid: ReadonlyArray<unknown> = [
      {},
      { text: 42 },
      { text: "" },
      { text: "x".repeat(maxTextLength + 1) },
      { text: "Being and existence", maxKeyTerms: 0 },
      { text: "Being and existence", maxKeyTerms: 101 },
      { text: "Being and existence", maxKeyTerms: 2.5 },
      { text: "Being and existence", maxKeyTerms: "3" },
      "just a string",
      null,
    ]
    for (const input of invalid) expect((await failure(input)).code, JSON.stringify(input)?.slice(0, 80)).toBe("INVALID_INPUT")
  })

  it("refuses a text of only whitespace with INVALID_INPUT, from the handler", async () => {
    const error = await failure({ text: " \n\t  " })
    expect(error).toMatchObject({ code: "INVALID_INPUT", retriable: false })
    expect(error.message).toContain("whitespace")
  })
})

describe("content.philosophical_analysis: real text", () => {
  it("finds the themes, sentences and key terms of Descartes' second Meditation", async () => {
    const output = await analyse({ text: descartes })
    expect(output.sentences.count).toBe(5)
    expect(output.sentences.items[0]?.text).toMatch(/^But I was persuaded that there was nothing in all the world/)
    const themes = themesOf(output)
    expect(Object.keys(themes).sort()).toEqual(["epistemology", "metaphysics", "mind"])
    expect(themes.metaphysics).toEqual(expect.arrayContaining(["being", "exist", "world"]))
    expect(themes.mind).toEqual(expect.arrayContaining(["mind", "conscious"]))
    expect(themes.epistemology).toEqual(expect.arrayContaining(["know", "true"]))
    expect(output.keyTerms.length).toBeGreaterThan(0)
    expect(output.keyTerms.map(({ term }) => term)).toContain("mind")
  })

  it("finds the mind in Hume and ethics in Aristotle, and no theme in a recipe", async () => {
    const humeThemes = themesOf(await analyse({ text: hume }))
    expect(humeThemes.mind).toEqual(expect.arrayContaining(["mind", "perception", "imagination", "sense"]))
    expect(humeThemes.ethics).toBeUndefined()

    const aristotleOutput = await analyse({ text: aristotle, maxKeyTerms: 3 })
    expect(themesOf(aristotleOutput).ethics).toEqual(["virtue", "moral"])
    expect(aristotleOutput.keyTerms[0]).toEqual({ term: "virtue", count: 4 }) // virtue, virtue, virtue, virtues

    const recipe = await analyse({ text: "Whisk two eggs with the flour. Pour the batter into a hot pan and cook it for a minute." })
    expect(recipe.themes).toEqual([])
  })

  it("gives a clearly positive and a clearly negative sentence sentiments of opposite signs", async () => {
    const output = await analyse({ text: "This is a wonderful, happy and beautiful day. The war was a terrible, cruel and hateful disaster." })
    const [positive, negative] = output.sentences.items
    expect(positive?.sentiment).toBeGreaterThan(0)
    expect(negative?.sentiment).toBeLessThan(0)
    expect((await analyse({ text: "I love this excellent, delightful book." })).sentiment).toBeGreaterThan(0)
    expect((await analyse({ text: "I hate this awful, miserable book." })).sentiment).toBeLessThan(0)
  })

  it("serves through a real in-process mesh", async () => {
    const mesh = await startTestMesh([worker])
    try {
      const output = decodeOutput(await mesh.invoke(PhilosophicalAnalysis, { text: descartes, maxKeyTerms: 5 }))
      expect(output.keyTerms).toHaveLength(5)
      expect(themesOf(output).mind).toBeDefined()
      await expect(mesh.invoke(PhilosophicalAnalysis, { text: "" })).rejects.toMatchObject({ code: "INVALID_INPUT" })
    } finally {
      await mesh.stop()
    }
  })
})
