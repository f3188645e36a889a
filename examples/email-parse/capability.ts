/**
 * `email.parse@1.0.0`: one `.eml` message or an mbox of several, parsed into message summaries.
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"

/** The largest `source` accepted, in characters: 5 MiB, well under the transport's 16 MiB frame. */
export const maxSourceLength = 5 * 1024 * 1024
/** A summary's `text` is the plain body's first this many characters; `truncated` says whether there was more. */
export const maxTextLength = 10_000
/** An mbox with more messages than this is refused: split it. */
export const maxMessages = 1_000

export const ParseInput = Schema.Struct({
  /** `eml`: one RFC 5322 message. `mbox`: messages each introduced by a `From ` line. */
  format: Schema.Literals(["eml", "mbox"]),
  source: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(maxSourceLength)),
  /** How `source` is written: the text itself (the default), or the file's bytes in base64 (8-bit mail in any charset). */
  encoding: Schema.optionalKey(Schema.Literals(["text", "base64"])),
})
export type ParseInput = typeof ParseInput.Type

export const Address = Schema.Struct({ name: Schema.String, address: Schema.String })
export type Address = typeof Address.Type

export const Attachment = Schema.Struct({
  filename: Schema.optionalKey(Schema.String),
  contentType: Schema.String,
  /** The decoded content's size in bytes (the content itself is not returned). */
  size: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
})
export type Attachment = typeof Attachment.Type

export const MessageSummary = Schema.Struct({
  from: Schema.Array(Address),
  to: Schema.Array(Address),
  cc: Schema.Array(Address),
  subject: Schema.optionalKey(Schema.String),
  /** The `Date` header as an ISO 8601 string; absent when there is none or it does not parse. */
  date: Schema.optionalKey(Schema.String),
  messageId: Schema.optionalKey(Schema.String),
  /** The plain-text body (mailparser derives it from the HTML part when there is no text part), at most `maxTextLength` characters. */
  text: Schema.String.check(Schema.isMaxLength(maxTextLength)),
  truncated: Schema.Boolean,
  /** Whether the message has an HTML body. */
  html: Schema.Boolean,
  attachments: Schema.Array(Attachment),
})
export type MessageSummary = typeof MessageSummary.Type

export const ParseOutput = Schema.Struct({
  messages: Schema.Array(MessageSummary).check(Schema.isMinLength(1), Schema.isMaxLength(maxMessages)),
})
export type ParseOutput = typeof ParseOutput.Type

export const EmailParse = defineCapability({
  id: "email.parse",
  version: "1.0.0",
  name: "Parse email",
  description:
    "Parses one .eml message or an mbox into summaries: from, to, cc, subject, date, plain text (bounded), whether there is HTML, and attachments (name, type, size). Malformed mail is INVALID_INPUT with the reason.",
  input: ParseInput,
  output: ParseOutput,
  idempotent: true,
  tags: ["example", "email"],
  estimatedDurationMs: 20,
})
