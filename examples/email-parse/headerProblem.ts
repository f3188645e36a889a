/**
 * What mailparser forgives and a caller should hear about: text that is not an RFC 5322 message because it has no
 * header block. Shared by email.parse and streaming.email.classify.
 */
import { blankLine } from "./mbox.ts"

/** An RFC 5322 header field's first line: a name of printable ASCII but `:`, optional blanks (obsolete syntax), `:`. */
const fieldLine = /^[!-9;-~]+[ \t]*:/

/** Why `lines` (one message, each line with its ending) is not an RFC 5322 message, or undefined if it is one. */
export const headerProblem = (lines: ReadonlyArray<string>, firstLine: number): string | undefined => {
  if (lines.every((line) => blankLine.test(line))) return "the message is empty"
  if (!fieldLine.test(lines[0] ?? "")) return `no header block: line ${firstLine} is not a header field ("Name: value")`
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (blankLine.test(line)) return undefined
    if (!fieldLine.test(line) && !/^[ \t]/.test(line)) return `line ${firstLine + i} in the header block is neither a header field nor a folded continuation`
  }
  return undefined
}
