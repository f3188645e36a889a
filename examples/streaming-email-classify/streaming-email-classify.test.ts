/**
 * streaming.email.classify: contract tests from its schemas; a real mbox written in the test (mboxrd) from held-out
 * SpamAssassin messages, classified in order with email.classify's labels; cancellation and backpressure, watched
 * through the count of messages the worker has read; and one slow consumer over WebSocket. The worker trains its
 * model once, in `beforeAll`, into this file's data directory; later starts (email.classify's included, given a
 * copy) load it. Run by `npm test` beside the worker.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Client, Controller, Transport, WebSocketTransport, Worker, withTunables } from "crank-mesh"
import { startTestMesh, testTunables } from "crank-mesh/testing"
import { Arbitrary, Effect, Exit, Fiber, Schema, Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { until } from "../../tests/support/poll.ts"
import { EmailClassify } from "../email-classify/capability.ts"
import emailClassifyWorker from "../email-classify/index.ts"
import { mailText, parseMail } from "../email-classify/mailText.ts"
import { modelFileName } from "../email-classify/modelFile.ts"
import { type ClassifiedMessage, maxMboxLength, StreamClassifyInput, StreamClassifyItem, StreamingEmailClassify, type UnreadableMessage } from "./capability.ts"
import { heldOutMail, type RawMessage } from "./heldOutMail.ts"
import worker from "./index.ts"
import { fallbackSeparator, hasFromLines, mboxrdOf } from "./mboxrd.ts"
import { messagesRead } from "./readMessage.ts"

const decodesAsItem = (item: unknown): boolean => Exit.isSuccess(Schema.decodeUnknownExit(StreamClassifyItem)(item))
const isClassified = (item: StreamClassifyItem): item is ClassifiedMessage => !("error" in item)
const mtimeOf = (path: string): number => statSync(path).mtimeMs
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const header = (lines: ReadonlyArray<string>, body: string): string => `${lines.join("\n")}\n\n${body}\n`
const smallMbox = mboxrdOf([
  header(["From: Alice <alice@example.org>", "Subject: Lunch on Thursday", "Message-ID: <lunch@example.org>"], "Shall we meet at noon?"),
  header(["From: deals@example.com", "Subject: FREE money, act now!!!"], "Click here to claim your cash prize. Limited time offer, remove me from this list."),
  header(["From: Bob <bob@example.net>", "Subject: Re: the build"], "The patch fixed it.\nFrom now on the build is green."),
])

let root: string
let streamDir: string
let modelMtime: number
/** Held-out messages, the first `perGroup` of each corpus group, plus one whose body has `From ` lines. */
let sample: Array<RawMessage>
let mesh: Awaited<ReturnType<typeof startTestMesh>>
const perGroup = 10

const mboxOfSample = (): string => mboxrdOf(sample.map((message) => message.raw))

/** The in-process mesh's running streaming worker: its `inFlight()` says whether a stream is still in service. */
const streamingWorkerOf = (running: typeof mesh) => {
  const found = running.mesh.node.workers().find((candidate) => candidate.id.includes(worker.name))
  if (found === undefined) throw new Error(`no running ${worker.name}`)
  return found
}

const streamAll = async (input: StreamClassifyInput): Promise<Array<StreamClassifyItem>> => {
  const items: Array<StreamClassifyItem> = []
  for await (const item of mesh.stream(StreamingEmailClassify, input)) items.push(item)
  return items
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "streaming-email-classify-"))
  streamDir = join(root, "workers", worker.name)
  // The first start trains the model in the worker's started hook and caches it in its data directory.
  const training = await startTestMesh([worker], { dataDir: root })
  await training.stop()
  modelMtime = mtimeOf(join(streamDir, modelFileName))
  // email.classify gets the same model, so that the two capabilities' labels can be compared.
  const classifyDir = join(root, "workers", emailClassifyWorker.name)
  mkdirSync(classifyDir, { recursive: true })
  copyFileSync(join(streamDir, modelFileName), join(classifyDir, modelFileName))
  mesh = await startTestMesh([worker, emailClassifyWorker], { dataDir: root })

  const heldOut = heldOutMail()
  const groups = [...new Set(heldOut.map((message) => message.group))]
  sample = groups.flatMap((group) => heldOut.filter((message) => message.group === group).slice(0, perGroup))
  const withFromLines = heldOut.find((message) => !sample.includes(message) && hasFromLines(message.raw))
  if (withFromLines !== undefined) sample.splice(sample.length / 2, 0, withFromLines)
}, 180_000)

afterAll(async () => {
  await mesh?.stop()
  rmSync(root, { recursive: true, force: true })
})

describe("streaming.email.classify contract", () => {
  it("streams one item per message that decodes as its output, for input its schema accepts", async () => {
    const valid: Array<StreamClassifyInput> = [
      { mbox: smallMbox },
      { mbox: smallMbox, limit: 2 },
      { mbox: smallMbox, limit: 100 },
      { mbox: "From a@example.org Mon Mar  3 08:00:00 2025\nSubject: only a subject\n\n" },
      { mbox: `${fallbackSeparator}Subject: long\n\n${"word ".repeat(100_000)}\n` },
    ]
    for (const input of valid) {
      expect(Schema.is(StreamClassifyInput)(input)).toBe(true)
      const items = await streamAll(input)
      expect(items.length).toBeGreaterThan(0)
      for (const item of items) expect(decodesAsItem(item), JSON.stringify(item)).toBe(true)
    }
    const small = await streamAll({ mbox: smallMbox })
    expect(small.map((item) => [item.index, item.line])).toEqual([
      [0, 2],
      [1, 9],
      [2, 15],
    ])
    expect(small[0]).toMatchObject({ messageId: "<lunch@example.org>", subject: "Lunch on Thursday", from: '"Alice" <alice@example.org>', label: "ham" })
    expect(small[1]).toMatchObject({ subject: "FREE money, act now!!!", from: "deals@example.com", label: "spam" })
    expect(small[1]).not.toHaveProperty("messageId")
    expect(await streamAll({ mbox: smallMbox, limit: 2 })).toEqual(small.slice(0, 2))
  })

  it("refuses input its schema refuses, and text that is not an mbox, as INVALID_INPUT", async () => {
    const refused: Array<unknown> = [
      {},
      { mbox: "" },
      { mbox: 42 },
      { mbox: smallMbox, limit: 0 },
      { mbox: smallMbox, limit: 1.5 },
      { mbox: smallMbox, limit: "2" },
      { mbox: `${fallbackSeparator}${"x".repeat(maxMboxLength)}` },
      "just a string",
    ]
    for (const input of refused) {
      expect(Schema.is(StreamClassifyInput)(input)).toBe(false)
      await expect(streamAll(input as StreamClassifyInput)).rejects.toMatchObject({ code: "INVALID_INPUT" })
    }
    await expect(streamAll({ mbox: "From: alice@example.org\nSubject: an .eml\n\nhi\n" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringContaining("not an mbox"),
    })
  })

  it("a message with no header block is an error item in its place, and the stream goes on", async () => {
    const [first, , third] = smallMbox.split(/\n(?=From )/)
    const broken = [first, `${fallbackSeparator}this line is no header\n\nbody\n`, third].join("\n")
    const items = await streamAll({ mbox: broken })
    expect(items).toHaveLength(3)
    expect(items[1]).toEqual({ index: 1, line: 9, error: 'no header block: line 9 is not a header field ("Name: value")' } satisfies UnreadableMessage)
    expect(items.filter(isClassified).map((item) => item.index)).toEqual([0, 2])
  })

  it("answers every schema-valid input with items that decode, or INVALID_INPUT: never INTERNAL", async () => {
    const inputs = await Effect.runPromise(Arbitrary.sampleEffect(Arbitrary.schema(StreamClassifyInput), { count: 100, seed: 13 }))
    for (const input of inputs) {
      // As it comes (rarely an mbox), and under a separator line (an mbox whose message may lack a header block).
      for (const candidate of [input, { ...input, mbox: `${fallbackSeparator}${input.mbox}` }]) {
        const outcome = await streamAll(candidate).then(
          (items) => items.every(decodesAsItem),
          (error: { code?: string }) => error.code === "INVALID_INPUT",
        )
        expect(outcome, JSON.stringify(candidate)).toBe(true)
      }
    }
  })
})

describe("streaming.email.classify on a real mbox", () => {
  it("the model was trained once, by the first start, and loaded by the later ones", async () => {
    expect(mtimeOf(join(streamDir, modelFileName))).toBe(modelMtime)
  })

  it("classifies every held-out message of the mbox, in order, as email.classify does", async () => {
    expect(sample.length).toBe(5 * perGroup + 1)
    expect(new Set(sample.map((message) => message.label))).toEqual(new Set(["spam", "ham"]))
    const items = await streamAll({ mbox: mboxOfSample() })
    expect(items.map((item) => item.index)).toEqual(sample.map((_, i) => i))
    let agreeWithCorpus = 0
    for (const [i, message] of sample.entries()) {
      const item = items[i]!
      if (!isClassified(item)) throw new Error(`${message.id}: ${item.error}`)
      // email.classify is given the message as the corpus reader gives it to the model (mailText.ts).
      const mail = await parseMail(message.raw)
      const expected = await mesh.invoke(EmailClassify, mailText(mail))
      expect(item, message.id).toMatchObject({ subject: mailText(mail).subject, from: mail.from?.text ?? "", label: expected.label, basis: expected.basis })
      expect(item.messageId, message.id).toBe(mail.messageId)
      expect(item.confidence, message.id).toBeCloseTo(expected.confidence, 9)
      if (item.label === message.label) agreeWithCorpus++
    }
    // email.classify scores 97.9% on the held-out split (its README); the margin is for a small sample.
    expect(agreeWithCorpus / sample.length).toBeGreaterThan(0.85)
  })
})

/**
 * How many messages the worker may have read beyond what an in-process consumer has taken. The caller pulls the
 * generator through a few stages, and each `Stream.interruptWhen` among them (the worker's deadline, the in-memory
 * link, the caller's deadline, and a second in-memory link when the controller relays the call) is a merge whose
 * fiber pulls the next item while the one before waits to be taken: one item each.
 */
const inProcessStages = 4

describe("streaming.email.classify's backpressure and cancellation, in one process", () => {
  it("a slow consumer: the worker reads no more than a few messages ahead of it", async () => {
    const before = messagesRead()
    let consumed = 0
    let mostAhead = 0
    for await (const _ of mesh.stream(StreamingEmailClassify, { mbox: mboxOfSample() })) {
      consumed++
      // Slower than the worker reads a message: a worker that ignored its caller would be far ahead by now.
      await pause(15)
      mostAhead = Math.max(mostAhead, messagesRead() - before - consumed)
    }
    expect(consumed).toBe(sample.length)
    expect(messagesRead() - before).toBe(sample.length)
    expect(mostAhead).toBeGreaterThanOrEqual(0)
    expect(mostAhead).toBeLessThanOrEqual(inProcessStages)
  })

  it("breaking out after k items stops the reading: the request ends, nothing more is read", async () => {
    const k = 5
    const before = messagesRead()
    const seen: Array<number> = []
    for await (const item of mesh.stream(StreamingEmailClassify, { mbox: mboxOfSample() })) {
      seen.push(item.index)
      if (seen.length === k) break
    }
    expect(seen).toEqual([0, 1, 2, 3, 4])
    await until("the worker to end the stream", () => streamingWorkerOf(mesh).inFlight() === 0)
    const afterBreak = messagesRead() - before
    expect(afterBreak).toBeLessThanOrEqual(k + inProcessStages)
    // Room for a generator that was not stopped to go on; not a bound on anything.
    await pause(300)
    expect(messagesRead() - before).toBe(afterBreak)
  })

  it("limit reads that many messages and no more", async () => {
    const before = messagesRead()
    expect(await streamAll({ mbox: mboxOfSample(), limit: 3 })).toHaveLength(3)
    expect(messagesRead() - before).toBe(3)
  })
})

/** Heartbeats every 20 ms as in testTunables, but a worker is stale only after 500 ms: CPU-bound parsing on busy cores may delay a beat. */
const wsTunables = { ...testTunables, staleAfterMs: 500, evictAfterMs: 1_000 }

describe("streaming.email.classify over WebSocket", () => {
  it("a slow consumer holds the worker to its window, and interrupting it stops the reading", async () => {
    const scope = Effect.runSync(Scope.make())
    try {
      const onWebSocket = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Transport>) =>
        Effect.runPromise(effect.pipe(withTunables(wsTunables), Effect.provideService(Transport, transport), Scope.provide(scope)))
      const transport = WebSocketTransport.make()
      const controller = await onWebSocket(Controller.make({ addresses: ["ws://127.0.0.1:0"] }))
      // The same data directory as the in-process worker's: it loads the cached model.
      const running = await onWebSocket(Worker.start(worker, { controller: controller.address, listen: "ws://127.0.0.1:0", dataDir: streamDir }))
      // Made once the worker is routable, so that the client's first table has it and it calls the worker directly.
      await until("the worker to be routable", () => controller.routes().length > 0)
      const client = await onWebSocket(Client.make({ controller: controller.address, timeoutMs: 60_000 }))
      const window = 4
      const taken = 10
      const before = messagesRead()
      let consumed = 0
      const items = Stream.runForEach(client.stream(StreamingEmailClassify, { mbox: mboxOfSample() }, { window }), () =>
        ++consumed === taken ? Effect.never : Effect.void,
      )
      const consumer = Effect.runFork(items)
      await until("the consumer to take its items", () => consumed === taken)
      // Room for a worker that ignored the window to run away; not a bound on anything.
      await pause(500)
      const heldBack = messagesRead() - before
      // Ahead of the consumer: the window of credit (items sent, or queued at the caller), one item the caller's
      // deadline stage holds for the consumer (credited when it left the queue), and on the worker one item waiting
      // for credit and one held by its deadline stage.
      expect(heldBack).toBeGreaterThan(taken)
      expect(heldBack).toBeLessThanOrEqual(taken + window + 3)
      expect(heldBack).toBeLessThan(sample.length)
      // Waiting for credit is not stopping: the request is still in service on the worker until the caller cancels.
      expect(running.inFlight()).toBe(1)
      await Effect.runPromise(Fiber.interrupt(consumer))
      await until("the worker to end the stream", () => running.inFlight() === 0)
      // Room for a generator that was not stopped to go on; not a bound on anything.
      await pause(300)
      expect(messagesRead() - before).toBe(heldBack)
      expect(consumed).toBe(taken)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
