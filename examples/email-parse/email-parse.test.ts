/**
 * email.parse: contract tests from its schemas, real mail from fixtures/ through the handler, and one call through a
 * real in-process mesh. Run by `npm test` beside the worker.
 */
import { readFileSync } from "node:fs"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { Arbitrary, Effect, Exit, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { EmailParse, maxSourceLength, maxTextLength, ParseInput, ParseOutput } from "./capability.ts"
import worker from "./index.ts"

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")
const parse = (input: ParseInput) => callHandler(worker, EmailParse, input)
const decodesAsOutput = (output: unknown): boolean => Exit.isSuccess(Schema.decodeUnknownExit(ParseOutput)(output))
const invalid = (reason: RegExp | string) => ({ code: "INVALID_INPUT", message: expect.stringMatching(reason) })

describe("email.parse contract", () => {
  it("accepts what its input schema accepts, and every answer decodes as its output", async () => {
    const valid: Array<ParseInput> = [
      { format: "eml", source: fixture("plain.eml") },
      { format: "eml", source: fixture("attachment.eml"), encoding: "text" },
      { format: "eml", source: Buffer.from(fixture("alternative.eml")).toString("base64"), encoding: "base64" },
      { format: "mbox", source: fixture("three.mbox") },
    ]
    for (const input of valid) {
      expect(Schema.is(ParseInput)(input)).toBe(true)
      expect(decodesAsOutput(await parse(input))).toBe(true)
    }
  })

  it("refuses input its schema refuses, as INVALID_INPUT, before the handler runs", async () => {
    const refused: Array<unknown> = [
      {},
      { source: "From: a@example.org\n\nhi" },
      { format: "pdf", source: "From: a@example.org\n\nhi" },
      { format: "eml", source: "" },
      { format: "eml", source: 42 },
      { format: "eml", source: "From: a@example.org\n\nhi", encoding: "hex" },
      { format: "eml", source: `From: a@example.org\n\n${"x".repeat(maxSourceLength)}` },
    ]
    for (const input of refused) {
      expect(Schema.is(ParseInput)(input)).toBe(false)
      await expect(parse(input as ParseInput)).rejects.toMatchObject({ code: "INVALID_INPUT" })
    }
  })

  it("answers every schema-valid input with output that decodes, or INVALID_INPUT: never INTERNAL", async () => {
    const inputs = await Effect.runPromise(Arbitrary.sampleEffect(Arbitrary.schema(ParseInput), { count: 200, seed: 13 }))
    for (const input of inputs) {
      const outcome = await parse(input).then(
        (output) => ({ ok: decodesAsOutput(output) }),
        (error: { code?: string }) => ({ ok: error.code === "INVALID_INPUT" }),
      )
      expect(outcome.ok, JSON.stringify(input)).toBe(true)
      // The same text as a body under a header block is a message: mailparser parses it, the answer decodes.
      expect(decodesAsOutput(await parse({ format: "eml", source: `Subject: sample\n\n${input.source}` }))).toBe(true)
    }
  })
})

describe("email.parse on real mail", () => {
  it("a plain text mail: addresses, encoded subject, date, quoted-printable body", async () => {
    const { messages } = await parse({ format: "eml", source: fixture("plain.eml") })
    expect(messages).toEqual([
      {
        from: [{ name: "Alice Martin", address: "alice@example.org" }],
        to: [{ name: "Bob Dupont", address: "bob@example.net" }],
        cc: [{ name: "", address: "carol@example.com" }],
        subject: "Réunion de mardi",
        date: "2025-03-04T08:14:55.000Z",
        messageId: "<20250304091455.1234@example.org>",
        text: "Bonjour Bob,\n\nLa réunion de mardi est déplacée à 14 h, salle B. Merci de prévenir Carol.\n\nAlice\n",
        truncated: false,
        html: false,
        attachments: [],
      },
    ])
  })

  it("a multipart/alternative mail: the plain part as text, the HTML part noted", async () => {
    const [message] = (await parse({ format: "eml", source: fixture("alternative.eml") })).messages
    expect(message).toMatchObject({
      from: [{ name: "Newsletter Team", address: "news@example.com" }],
      to: [
        { name: "Bob Dupont", address: "bob@example.net" },
        { name: "Dana", address: "dana@example.net" },
      ],
      subject: "Your March update",
      date: "2025-03-05T23:02:11.000Z",
      html: true,
      attachments: [],
    })
    expect(message?.text).toContain("Three things happened in March: the release, the meetup and the survey.")
    expect(message?.text).not.toContain("<b>")
  })

  it("a mail with base64 attachments (CRLF line endings): names, types and decoded sizes, not content", async () => {
    const [message] = (await parse({ format: "eml", source: fixture("attachment.eml") })).messages
    expect(message?.text).toBe("Alice, the inventory and the new logo are attached.\n")
    expect(message?.attachments).toEqual([
      { filename: "inventory.csv", contentType: "text/csv", size: 34 },
      { filename: "logo.png", contentType: "image/png", size: 77 },
    ])
  })

  it("a three-message mbox: split on From lines, >From unquoted, a missing Date left absent", async () => {
    const { messages } = await parse({ format: "mbox", source: fixture("three.mbox") })
    expect(messages.map((message) => message.subject)).toEqual(["First", "Re: First", "Third, with no Date header"])
    expect(messages[0]?.text).toBe("The first message.\nFrom the archive: this line was quoted by the mbox writer.\n>From here on, a line quoted twice.\n")
    expect(messages[1]?.date).toBe("2025-03-03T09:30:00.000Z")
    expect(messages[2]).toMatchObject({ html: true, text: "The third message is HTML only." })
    expect(messages[2]).not.toHaveProperty("date")
  })

  it("base64 input keeps 8-bit mail in its own charset intact", async () => {
    const bytes = Buffer.concat([
      Buffer.from("From: a@example.org\r\nSubject: menu\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"),
      Buffer.from("Caf\xe9 cr\xe8me\r\n", "latin1"),
    ])
    const [message] = (await parse({ format: "eml", source: bytes.toString("base64"), encoding: "base64" })).messages
    expect(message?.text).toBe("Café crème\n")
  })

  it("an unreadable Date header is left absent, not replaced by the current time", async () => {
    const [message] = (await parse({ format: "eml", source: "From: a@example.org\nDate: sometime soon\n\nhi\n" })).messages
    expect(message).not.toHaveProperty("date")
  })

  it("bounds the text and says so", async () => {
    const [message] = (await parse({ format: "eml", source: `From: a@example.org\n\n${"word ".repeat(5_000)}\n` })).messages
    expect(message?.text).toHaveLength(maxTextLength)
    expect(message?.truncated).toBe(true)
  })

  it("malformed mail is INVALID_INPUT with the reason", async () => {
    await expect(parse({ format: "eml", source: "just some words\n\nand more" })).rejects.toMatchObject(invalid(/no header block: line 1/))
    await expect(parse({ format: "eml", source: "\n\n" })).rejects.toMatchObject(invalid("the message is empty"))
    await expect(parse({ format: "eml", source: "From: a@example.org\nnot a header\n\nbody" })).rejects.toMatchObject(
      invalid(/line 2 in the header block is neither a header field nor a folded continuation/),
    )
    await expect(parse({ format: "eml", source: fixture("three.mbox") })).rejects.toMatchObject(invalid(/use format "mbox"/))
    await expect(parse({ format: "mbox", source: fixture("plain.eml") })).rejects.toMatchObject(invalid(/not an mbox/))
    await expect(parse({ format: "mbox", source: "From a@example.org Mon Mar  3 08:00:00 2025\n" })).rejects.toMatchObject(
      invalid("message 1: the message is empty"),
    )
    const secondBroken = fixture("three.mbox").replace("Subject: Re: First", "Subject Re First")
    await expect(parse({ format: "mbox", source: secondBroken })).rejects.toMatchObject(invalid(/^message 2: line 15 /))
    await expect(parse({ format: "eml", source: "not base64!", encoding: "base64" })).rejects.toMatchObject(invalid("source is not base64"))
  })
})

describe("email.parse in a mesh", () => {
  it("parses an mbox and refuses malformed mail through a real in-process controller", async () => {
    const mesh = await startTestMesh([worker])
    try {
      const { messages } = await mesh.invoke(EmailParse, { format: "mbox", source: fixture("three.mbox") })
      expect(messages).toHaveLength(3)
      expect(decodesAsOutput({ messages })).toBe(true)
      await expect(mesh.invoke(EmailParse, { format: "eml", source: "no headers here" })).rejects.toMatchObject({ code: "INVALID_INPUT" })
    } finally {
      await mesh.stop()
    }
  })
})
