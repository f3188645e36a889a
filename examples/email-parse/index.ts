/**
 * The email-parse worker: `email.parse@1.0.0` with mailparser's `simpleParser`. The worker checks what mailparser
 * forgives (a message must start with a header block; an mbox must start with a `From ` line and hold a message),
 * splits mboxes, and keeps summaries bounded. Run it with `npx crank dev examples/email-parse`.
 */
import { defineWorker, implement } from "crank-mesh"
import { type AddressObject, type EmailAddress, type ParsedMail, simpleParser } from "mailparser"
import { EmailParse, type MessageSummary, maxMessages, maxTextLength } from "./capability.ts"

/** An RFC 5322 header field's first line: a name of printable ASCII but `:`, optional blanks (obsolete syntax), `:`. */
const fieldLine = /^[!-9;-~]+[ \t]*:/
const blankLine = /^\r?\n?$/
const mboxSeparator = /^From /
const base64Text = /^[A-Za-z0-9+/\s]*={0,2}\s*$/

/** Why `lines` (one message, each line with its ending) is not an RFC 5322 message, or undefined if it is one. */
const headerProblem = (lines: ReadonlyArray<string>, firstLine: number): string | undefined => {
  if (lines.every((line) => blankLine.test(line))) return "the message is empty"
  const first = lines[0] ?? ""
  if (mboxSeparator.test(first)) return `line ${firstLine} is an mbox "From " separator: use format "mbox"`
  if (!fieldLine.test(first)) return `no header block: line ${firstLine} is not a header field ("Name: value")`
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (blankLine.test(line)) return undefined
    if (!fieldLine.test(line) && !/^[ \t]/.test(line)) return `line ${firstLine + i} in the header block is neither a header field nor a folded continuation`
  }
  return undefined
}

interface Message {
  readonly lines: ReadonlyArray<string>
  readonly firstLine: number
}

/** An mbox's messages: each starts after a `From ` line at the top or after a blank line; `>From ` unquoted (mboxrd). */
const splitMbox = (lines: ReadonlyArray<string>): Array<Message> | string => {
  if (!mboxSeparator.test(lines[0] ?? "")) return `not an mbox: line 1 is not a "From " separator line`
  const messages: Array<{ lines: Array<string>; firstLine: number }> = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (mboxSeparator.test(line) && (i === 0 || blankLine.test(lines[i - 1] ?? ""))) {
      const previous = messages.at(-1)
      if (previous !== undefined) previous.lines.pop() // the blank line before a separator belongs to the separator
      messages.push({ lines: [], firstLine: i + 2 })
    } else {
      messages.at(-1)?.lines.push(line.replace(/^>(>*From )/, "$1"))
    }
  }
  return messages
}

const addresses = (field: AddressObject | ReadonlyArray<AddressObject> | undefined): Array<{ name: string; address: string }> => {
  const flatten = (list: ReadonlyArray<EmailAddress>): Array<{ name: string; address: string }> =>
    list.flatMap((entry) => (entry.group ? flatten(entry.group) : [{ name: entry.name, address: entry.address ?? "" }]))
  if (field === undefined) return []
  return (Array.isArray(field) ? field : [field as AddressObject]).flatMap((object) => flatten(object.value))
}

const summarize = (mail: ParsedMail): MessageSummary => {
  // mailparser turns a Date header it cannot read into the current time: read the header itself instead.
  const rawDate = mail.headerLines.find((header) => header.key === "date")?.line.replace(/^[^:]*:/, "")
  const date = rawDate === undefined ? undefined : new Date(rawDate.replace(/\r?\n[ \t]/g, " ").trim())
  const text = mail.text ?? ""
  return {
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    ...(mail.subject === undefined ? {} : { subject: mail.subject }),
    ...(date === undefined || Number.isNaN(date.getTime()) ? {} : { date: date.toISOString() }),
    ...(mail.messageId === undefined ? {} : { messageId: mail.messageId }),
    text: text.slice(0, maxTextLength),
    truncated: text.length > maxTextLength,
    html: typeof mail.html === "string" && mail.html.length > 0,
    attachments: mail.attachments.map((attachment) => ({
      ...(attachment.filename === undefined ? {} : { filename: attachment.filename }),
      contentType: attachment.contentType,
      size: attachment.size,
    })),
  }
}

export const parse = implement(EmailParse, async ({ format, source, encoding = "text" }, context) => {
  if (encoding === "base64" && !base64Text.test(source)) throw context.error("INVALID_INPUT", "source is not base64")
  // Base64 bytes are kept one character a byte (latin1), so splitting never touches a charset, and go back as bytes.
  const text = encoding === "base64" ? Buffer.from(source, "base64").toString("latin1") : source
  const lines = text.split(/(?<=\n)/)
  const messages = format === "eml" ? [{ lines, firstLine: 1 }] : splitMbox(lines)
  if (typeof messages === "string") throw context.error("INVALID_INPUT", messages)
  if (messages.length > maxMessages) throw context.error("INVALID_INPUT", `${messages.length} messages: at most ${maxMessages}, split the mbox`)
  const summaries: Array<MessageSummary> = []
  for (const [index, message] of messages.entries()) {
    const problem = headerProblem(message.lines, message.firstLine)
    const where = format === "mbox" ? `message ${index + 1}: ` : ""
    if (problem !== undefined) throw context.error("INVALID_INPUT", `${where}${problem}`)
    const raw = message.lines.join("")
    summaries.push(summarize(await simpleParser(encoding === "base64" ? Buffer.from(raw, "latin1") : raw)))
    if (context.signal.aborted) break
  }
  return { messages: summaries }
})

export default defineWorker({ name: "email-parse", implements: [parse] })
