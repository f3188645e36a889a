/**
 * What the spam model reads of a raw message: mailparser's decoded subject and plain text (converted from the HTML
 * part with html-to-text when there is no plain part), cut to email.classify's limits. The corpus is read this way
 * for training (spamAssassin.ts), and streaming.email.classify reads an mbox's messages the same way, so both
 * classify what the model learnt from.
 */
import { convert as htmlToText } from "html-to-text"
import { type ParsedMail, simpleParser } from "mailparser"
import { maxSubjectLength, maxTextLength } from "./capability.ts"

/** A raw message parsed as the model's training mail was: links and images are not turned into text. */
export const parseMail = (raw: string | Buffer): Promise<ParsedMail> => simpleParser(raw, { skipImageLinks: true, skipTextLinks: true, skipTextToHtml: true })

/** The subject and plain text of a parsed message, as email.classify takes them. */
export const mailText = (mail: ParsedMail): { readonly subject: string; readonly text: string } => {
  // mailparser leaves `text` empty for an HTML-only multipart mail: about 90 messages of the corpus, nearly all spam.
  const plain = mail.text?.trim() ? mail.text : typeof mail.html === "string" ? htmlToText(mail.html, { wordwrap: false }) : ""
  return { subject: (mail.subject ?? "").slice(0, maxSubjectLength), text: plain.slice(0, maxTextLength) }
}
