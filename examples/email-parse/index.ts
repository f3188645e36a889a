/**
 * The email-parse worker: `email.parse@1.0.0` with mailparser's `simpleParser`. The worker checks what mailparser
 * forgives (a message must start with a header block; an mbox must start with a `From ` line and hold a message),
 * splits mboxes, and keeps summaries bounded. Run it with `npx crank dev examples/email-parse`.
 */
import { defineWorker, implement } from "crank-mesh"
import { type AddressObject, type EmailAddress, type ParsedMail, simpleParser } from "mailparser"
import { EmailParse, type MessageSummary, maxMessages, maxTextLength } from "./capability.ts"
import { headerProblem } from "./headerProblem.ts"
import { linesOf, mboxSeparator, splitMbox } from "./mbox.ts"

const base64Text = /^[A-Za-z0-9+/\s]*={0,2}\s*$/

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
  const lines = linesOf(text)
  if (format === "eml" && mboxSeparator.test(lines[0] ?? "")) throw context.error("INVALID_INPUT", `line 1 is an mbox "From " separator: use format "mbox"`)
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
