/**
 * Every example capability through `crank invoke`, as a user calls them: against `crank dev` (what `npm start` runs:
 * every example in one process), then against a controller and each example worker in a process of its own. Real
 * processes on 127.0.0.1; one data root for both phases, so the spam model is trained once (by the first phase).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import sharp from "sharp"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { until } from "../support/poll.ts"
import { type CrankProcess, freePort, repoRoot, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const dataRoot = mkdtempSync(join(tmpdir(), "crank-examples-cli-"))
afterAll(() => rmSync(dataRoot, { recursive: true, force: true }))

const fixture = (name: string) => readFileSync(join(repoRoot, "examples/email-parse/fixtures", name), "utf8")

interface Sample {
  readonly capability: string
  readonly input: unknown
  readonly stream?: boolean
  /** What the answer (or, for a stream, its items) must show. */
  readonly check: (answer: any) => void
}

let redPng = ""
beforeAll(async () => {
  redPng = (
    await sharp({ create: { width: 4, height: 4, channels: 3, background: "#ff0000" } })
      .png()
      .toBuffer()
  ).toString("base64")
})

const samples = (): ReadonlyArray<Sample> => [
  { capability: "hello.greet", input: { message: "cli" }, check: (a) => expect(a.greeting).toBe("Hello, cli") },
  {
    capability: "email.parse",
    input: { format: "mbox", source: fixture("three.mbox") },
    check: (a) => expect(a.messages).toHaveLength(3),
  },
  {
    capability: "email.classify",
    input: { subject: "Meeting notes", text: "Hi team, the notes from Tuesday's meeting are attached. Thanks, Ann" },
    check: (a) => expect(["spam", "ham"]).toContain(a.label),
  },
  {
    capability: "streaming.email.classify",
    input: { mbox: fixture("three.mbox") },
    stream: true,
    check: (items) => expect(items.map((item: { index: number }) => item.index)).toEqual([0, 1, 2]),
  },
  {
    capability: "document.convert",
    input: { document: "# Title\n\nSome *text*.", from: "markdown", to: "html" },
    check: (a) => expect(a.document).toContain("<h1>Title</h1>"),
  },
  { capability: "image.classify", input: { image: redPng }, check: (a) => expect(a).toMatchObject({ format: "png", width: 4, height: 4 }) },
  {
    capability: "content.philosophical_analysis",
    input: { text: "Know thyself. The unexamined life is not worth living." },
    check: (a) => expect(a.sentences.count).toBe(2),
  },
  {
    capability: "zettel.codex_repository",
    input: { op: "add", title: "From the CLI", body: "Added by crank invoke." },
    check: (a) => expect(a).toMatchObject({ op: "add", note: { title: "From the CLI" } }),
  },
]

/** `crank invoke` of every sample against `controller`: each answers, and as its check expects. */
const invokeEach = async (controller: string) => {
  for (const sample of samples()) {
    const args = ["invoke", sample.capability, JSON.stringify(sample.input), "--controller", controller, sample.stream ? "--stream" : "--json"]
    const result = await processes.run(args)
    expect({ capability: sample.capability, code: result.code, stderr: result.stderr }).toEqual({ capability: sample.capability, code: 0, stderr: "" })
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
    sample.check(sample.stream ? lines : lines[0])
  }
}

const examples = ["content-analysis", "document-convert", "email-classify", "email-parse", "hello", "image-classify", "streaming-email-classify", "zettel"]

describe("every example capability through crank invoke", () => {
  it("against crank dev (npm start's mesh, every example in one process)", async () => {
    const port = await freePort()
    const dev = processes.start(["dev", "--port", String(port), "--replicas", "1", "--data-dir", dataRoot])
    // The first start trains the spam model (tens of seconds on two busy cores).
    await dev.waitForLine(/crank dev: all \d+ workers healthy/, 300_000)
    await invokeEach(`ws://127.0.0.1:${port}`)
  }, 420_000)

  it("against workers each in a process of its own", async () => {
    const port = await freePort()
    const controller = `ws://127.0.0.1:${port}`
    const control = processes.start(["controller", "--insecure", "--port", String(port), "--data-dir", dataRoot])
    await control.waitForLine(`controller listening on ${controller}`, 30_000)
    const workers: Array<CrankProcess> = examples.map((name) =>
      processes.start(["worker", `examples/${name}`, "--controller", controller, "--data-dir", dataRoot], { name }),
    )
    expect(workers).toHaveLength(examples.length)
    // Healthy as the controller sees them (the spam model was cached by the test before: it loads, not trains).
    await until(
      "every example worker healthy",
      async () => {
        const status = await processes.run(["status", "--json", "--controller", controller])
        if (status.code !== 0) return undefined
        const states = (JSON.parse(status.stdout) as { workers: Array<{ state: string }> }).workers.map((w) => w.state)
        return states.filter((state) => state === "healthy").length >= examples.length ? states : undefined
      },
      { timeoutMs: 120_000 },
    )
    await invokeEach(controller)
  }, 300_000)
})
