/**
 * The document-convert worker: `document.convert@1.0.0`. Every conversion goes through HTML: Markdown → HTML with
 * marked, HTML → Markdown with turndown, HTML → text with html-to-text, and text → HTML by escaping each
 * blank-line-separated block into a paragraph (text → Markdown is that HTML through turndown).
 * Run it with `npx crank dev examples/document-convert`.
 */
import { defineWorker, implement } from "crank-mesh"
import { convert as htmlToText } from "html-to-text"
import { Marked, Parser, type Token } from "marked"
import TurndownService from "turndown"
import { DocumentConvert, type Format } from "./capability.ts"

const markdownParser = new Marked({ gfm: true })
const inlineParser = new Parser()
const turndown = new TurndownService({ headingStyle: "atx", codeBlockStyle: "fenced", bulletListMarker: "-" })
// Turndown has no table syntax of its own: a table stays HTML, which Markdown allows, rather than losing its cells.
turndown.keep(["table"])
// Turndown's escaping leaves `<` and `&` alone, so text such as "&lt;script&gt;" would come back as live HTML; `~` and
// `|` would become GFM strikethrough and tables. A backslash escapes any ASCII punctuation in CommonMark.
const escapeMarkdown = turndown.escape.bind(turndown)
turndown.escape = (text) => escapeMarkdown(text).replace(/[<&~|]/g, "\\$&")

const escapeHtml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** Plain text as HTML: one paragraph per blank-line block, its line breaks kept. */
const textToHtml = (text: string): string =>
  text
    .split(/\r?\n\s*\r?\n/)
    .map((block) => block.trim())
    .filter((block) => block.length > 0)
    .map((block) => `<p>${block.split(/\r?\n/).map(escapeHtml).join("<br>\n")}</p>`)
    .join("\n")

const toHtml = (document: string, from: Format): string =>
  from === "html" ? document : from === "markdown" ? markdownParser.parse(document, { async: false }) : textToHtml(document)

/** Headings (their text without Markdown syntax) and links, from the Markdown tokens; HTML inside Markdown is not read. */
const factsOf = (markdown: string) => {
  const headings: Array<{ level: number; text: string }> = []
  let links = 0
  markdownParser.walkTokens(markdownParser.lexer(markdown), (token: Token) => {
    if (token.type === "heading") headings.push({ level: token.depth, text: inlineParser.parseInline(token.tokens ?? [], inlineParser.textRenderer) })
    if (token.type === "link") links++
  })
  return { headings, links }
}

export const convert = implement(DocumentConvert, ({ document, from, to }) => {
  const html = toHtml(document, from)
  // Markdown is the output, or where the facts of an HTML document are read; text has no headings or links.
  const markdown = from === "markdown" ? document : from === "html" || to === "markdown" ? turndown.turndown(html) : ""
  const output = to === from ? document : to === "html" ? html : to === "markdown" ? markdown : htmlToText(html, { wordwrap: false })
  const { headings, links } = from === "text" ? { headings: [], links: 0 } : factsOf(markdown)
  return { document: output, from, to, facts: { inputLength: document.length, outputLength: output.length, headings, links } }
})

export default defineWorker({ name: "document-convert", implements: [convert] })
