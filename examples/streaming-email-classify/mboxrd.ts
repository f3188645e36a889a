/**
 * Raw messages written as an mboxrd file, the form streaming.email.classify reads: for its tests and measure.ts,
 * which build mboxes from the SpamAssassin corpus.
 */

const anyFromLine = /^>*From /

/** The separator of a message that has no `From ` envelope line of its own. */
export const fallbackSeparator = "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"

/**
 * `raws` as one mboxrd file: each message after its own `From ` envelope line (the corpus's messages keep theirs)
 * or `fallbackSeparator`, every other line starting with `From ` or `>From ` quoted once more, a blank line after
 * each message.
 *
 * @example
 * ```ts
 * mboxrdOf(["Subject: hi\n\nFrom me\n"]) // "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: hi\n\n>From me\n\n"
 * ```
 */
export const mboxrdOf = (raws: ReadonlyArray<string>): string =>
  raws
    .map((raw) => {
      const lines = raw.split(/(?<=\n)/)
      const separator = lines[0]?.startsWith("From ") ? lines.shift()! : fallbackSeparator
      const body = lines.map((line) => (anyFromLine.test(line) ? `>${line}` : line)).join("")
      return `${separator}${body}${body.endsWith("\n") ? "" : "\n"}\n`
    })
    .join("")

/** Whether a raw message has a line after its first that an mbox writer must quote. */
export const hasFromLines = (raw: string): boolean =>
  raw
    .split("\n")
    .slice(1)
    .some((line) => anyFromLine.test(line))
