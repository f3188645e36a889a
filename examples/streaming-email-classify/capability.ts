/**
 * `streaming.email.classify@1.0.0`: an mbox's messages classified as spam or ham one at a time, streamed as they
 * are read, by the same naive Bayes model as email.classify (examples/email-classify).
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"
import { Label } from "../email-classify/capability.ts"

/**
 * The largest mbox accepted, in characters: 8 MiB, so that the request (the mbox as a JSON string, its newlines
 * and quotes escaped) stays within the WebSocket transport's 16 MiB frame.
 */
export const maxMboxLength = 8 * 1024 * 1024

export const StreamClassifyInput = Schema.Struct({
  /** The mbox as text (mboxrd: each message after a `From ` line, `>From ` lines unquoted). */
  mbox: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(maxMboxLength)),
  /** Read at most this many messages (unreadable ones included); the rest of the mbox is not read. */
  limit: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1))),
})
export type StreamClassifyInput = typeof StreamClassifyInput.Type

const Position = {
  /** The message's place in the mbox, from 0. */
  index: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
  /** The mbox line (from 1) the message's first header is on: the line after its `From ` separator. */
  line: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(2)),
}

export const ClassifiedMessage = Schema.Struct({
  ...Position,
  messageId: Schema.optionalKey(Schema.String),
  /** The decoded subject, as the model read it (at most 1,000 characters); empty when there is none. */
  subject: Schema.String,
  /** The `From` header as mailparser renders it (`"Name" <address>`); empty when there is none. */
  from: Schema.String,
  label: Label,
  /** The probability of `label` under the model: at least 0.5; a ranking more than a probability (see email.classify). */
  confidence: Schema.Number.check(Schema.isBetween({ minimum: 0.5, maximum: 1 })),
  /** `prior`: none of the message's words was in the model's vocabulary, the training mix decided. */
  basis: Schema.Literals(["words", "prior"]),
})
export type ClassifiedMessage = typeof ClassifiedMessage.Type

/** A message that is not an RFC 5322 message (no header block): reported in its place, and the stream goes on. */
export const UnreadableMessage = Schema.Struct({ ...Position, error: Schema.String })
export type UnreadableMessage = typeof UnreadableMessage.Type

export const StreamClassifyItem = Schema.Union([ClassifiedMessage, UnreadableMessage])
export type StreamClassifyItem = typeof StreamClassifyItem.Type

export const StreamingEmailClassify = defineCapability({
  id: "streaming.email.classify",
  version: "1.0.0",
  name: "Classify an mbox's messages as spam or ham, as a stream",
  description:
    "Reads an mbox one message at a time, as fast as the caller consumes, and streams one item per message: its position, Message-ID, subject, sender, and spam or ham with the probability under email.classify's naive Bayes model (SpamAssassin corpus). A message with no header block is an item with `error` instead; input that is not an mbox is INVALID_INPUT.",
  input: StreamClassifyInput,
  output: StreamClassifyItem,
  stream: true,
  idempotent: true,
  tags: ["example", "email", "nlp", "streaming"],
  estimatedDurationMs: 5,
})
