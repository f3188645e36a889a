/**
 * What `crank new worker <name>` writes: a worker folder with its capability, its handler, a contract test that
 * passes as generated, and a README. Pure: file names and contents, so the command (commands/new.ts) only writes
 * them and a test can read them.
 */

/** A worker name that is also a capability id segment: lower-case, starting with a letter. */
export const workerNamePattern = /^[a-z][a-z0-9-]*$/

const pascal = (name: string): string =>
  name
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("")

export interface ScaffoldFile {
  readonly path: string
  readonly contents: string
}

export const scaffoldWorker = (name: string): ReadonlyArray<ScaffoldFile> => {
  const capability = `${pascal(name)}Echo`
  return [
    {
      path: "capability.ts",
      contents: `/**
 * \`${name}.echo@1.0.0\`: the contract. Callers and the worker share it: the client infers types from it, the
 * worker validates input against it before the handler runs.
 */
import { defineCapability } from "crank-mesh"
import * as Schema from "effect/Schema"

export const ${capability} = defineCapability({
  id: "${name}.echo",
  version: "1.0.0",
  description: "Echoes a text back with its length.",
  input: Schema.Struct({ text: Schema.String }),
  output: Schema.Struct({ text: Schema.String, length: Schema.Number }),
  errors: [{ code: "EMPTY_TEXT", description: "The text is empty.", retriable: false }],
  idempotent: true,
})
`,
    },
    {
      path: "index.ts",
      contents: `/**
 * The ${name} worker. Run it alone with \`npx crank worker <this folder> --controller ws://127.0.0.1:7070\`, or with
 * a controller in one process: \`npx crank dev <this folder>\`.
 */
import { defineWorker, implement } from "crank-mesh"
import { ${capability} } from "./capability.ts"

export const echo = implement(${capability}, ({ text }, context) => {
  if (text.length === 0) throw context.error("EMPTY_TEXT", "nothing to echo: the text is empty")
  return { text, length: text.length }
})

export default defineWorker({ name: "${name}", implements: [echo] })
`,
    },
    {
      path: `${name}.test.ts`,
      contents: `/**
 * Contract tests for ${name}.echo: run by \`npm test\` beside the worker they test.
 */
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { describe, expect, it } from "vitest"
import { ${capability} } from "./capability.ts"
import worker from "./index.ts"

describe("${name}.echo", () => {
  it("echoes the text with its length", async () => {
    expect(await callHandler(worker, ${capability}, { text: "hello" })).toEqual({ text: "hello", length: 5 })
  })

  it("refuses input that fails the schema before the handler runs", async () => {
    await expect(callHandler(worker, ${capability}, { text: 42 } as never)).rejects.toMatchObject({ code: "INVALID_INPUT" })
  })

  it("fails with its declared error for an empty text", async () => {
    await expect(callHandler(worker, ${capability}, { text: "" })).rejects.toMatchObject({ code: "EMPTY_TEXT", retriable: false })
  })

  it("serves through a real in-process mesh", async () => {
    const mesh = await startTestMesh([worker])
    try {
      expect(await mesh.invoke(${capability}, { text: "mesh" })).toEqual({ text: "mesh", length: 4 })
    } finally {
      await mesh.stop()
    }
  })
})
`,
    },
    {
      path: "README.md",
      contents: `# ${name}

A Crank worker serving \`${name}.echo@1.0.0\` (capability.ts): it echoes a text back with its length, and fails with
its declared error \`EMPTY_TEXT\` for an empty one.

- Run it in one process with a controller: \`npx crank dev <this folder>\`
- Run it on its own node: \`npx crank worker <this folder> --controller ws://HOST:7070\`
- Call it: \`npx crank invoke ${name}.echo '{"text":"hi"}'\`
- Test it: \`${name}.test.ts\` beside it, run by \`npx vitest run\` (and by \`npm test\` in the crank-mesh repository).
`,
    },
  ]
}
