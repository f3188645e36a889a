/**
 * One mbox message to one stream item: its header block checked (email-parse's rule: mailparser would take any
 * text as a message), parsed with mailparser as the spam model's training mail was, and classified.
 */
import { mailText, parseMail } from "../email-classify/mailText.ts"
import type { SpamModel } from "../email-classify/spamModel.ts"
import { headerProblem } from "../email-parse/headerProblem.ts"
import type { MboxMessage } from "../email-parse/mbox.ts"
import type { StreamClassifyItem } from "./capability.ts"

let read = 0

/**
 * How many mbox messages this process has read so far, unreadable ones included: what tests watch to see that
 * the reading keeps the caller's pace and stops when the caller does.
 */
export const messagesRead = (): number => read

/** The item for the `index`th message of an mbox. */
export const readMessage = async (model: SpamModel, message: MboxMessage, index: number): Promise<StreamClassifyItem> => {
  read++
  const position = { index, line: message.firstLine }
  const problem = headerProblem(message.lines, message.firstLine)
  if (problem !== undefined) return { ...position, error: problem }
  const mail = await parseMail(message.lines.join(""))
  const { subject, text } = mailText(mail)
  const { label, confidence, basis } = model.classify(subject, text)
  return {
    ...position,
    ...(mail.messageId === undefined ? {} : { messageId: mail.messageId }),
    subject,
    from: mail.from?.text ?? "",
    label,
    confidence,
    basis,
  }
}
