/**
 * mbox splitting (the mboxrd form): messages each introduced by a `From ` line at the top or after a blank line,
 * with `>From ` lines unquoted. Shared by email.parse, which splits a whole mbox at once, and
 * streaming.email.classify, which takes one message at a time so that its caller's pace reaches the splitting.
 */

/** One message of an mbox: its lines (each with its ending) and the mbox line its first one was. */
export interface MboxMessage {
  readonly lines: ReadonlyArray<string>
  readonly firstLine: number
}

export const mboxSeparator = /^From /
export const blankLine = /^\r?\n?$/

/** `text` as lines, each keeping its ending, so a message joined back is the text it was. */
export const linesOf = (text: string): Array<string> => text.split(/(?<=\n)/)

/** Why `lines` is not an mbox, or undefined when it starts like one. */
export const notAnMbox = (lines: ReadonlyArray<string>): string | undefined =>
  mboxSeparator.test(lines[0] ?? "") ? undefined : `not an mbox: line 1 is not a "From " separator line`

const isSeparator = (lines: ReadonlyArray<string>, i: number): boolean => mboxSeparator.test(lines[i] ?? "") && (i === 0 || blankLine.test(lines[i - 1] ?? ""))

/**
 * The messages of `lines`, lazily: each is found only when asked for, by reading on to the next separator. Lines
 * before the first separator are skipped (check `notAnMbox` first).
 *
 * @example
 * ```ts
 * for (const message of mboxMessages(linesOf("From a\nSubject: hi\n\nbody\n"))) message.lines // ["Subject: hi\n", "\n", "body\n"]
 * ```
 */
export function* mboxMessages(lines: ReadonlyArray<string>): Generator<MboxMessage, void, undefined> {
  let current: Array<string> | undefined
  let firstLine = 0
  for (let i = 0; i < lines.length; i++) {
    if (isSeparator(lines, i)) {
      if (current !== undefined) {
        current.pop() // the blank line before a separator belongs to the separator
        yield { lines: current, firstLine }
      }
      current = []
      firstLine = i + 2
    } else {
      current?.push((lines[i] ?? "").replace(/^>(>*From )/, "$1"))
    }
  }
  if (current !== undefined) yield { lines: current, firstLine }
}

/** All the messages of an mbox at once, or why it is not one. */
export const splitMbox = (lines: ReadonlyArray<string>): Array<MboxMessage> | string => notAnMbox(lines) ?? [...mboxMessages(lines)]
