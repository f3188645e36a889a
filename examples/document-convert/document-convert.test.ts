/**
 * Tests for document.convert: contract tests from its schemas, and real-data tests on a real Markdown document
 * (turndown's own README, as installed: headings, lists, fenced code, links and tables).
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ConvertOutput, DocumentConvert, formats, maxDocumentLength } from "./capability.ts"
import worker from "./index.ts"

const realMarkdown = readFileSync(createRequire(import.meta.url).resolve("turndown/README.md"), "utf8")
const convert = (document: string, from: (typeof formats)[number], to: (typeof formats)[number]) => callHandler(worker, DocumentConvert, { document, from, to })

describe("document.convert: the contract", () => {
  const samples = {
    markdown: "# Title\n\nSome *text* with a [link](https://example.org).",
    html: "<h1>Title</h1><p>Some <em>text</em>.</p>",
    text: "Title\n\nSome text.",
  }

  for (const from of formats)
    for (const to of formats)
      it(`accepts ${from} → ${to} and its output decodes`, async () => {
        const output = await convert(samples[from], from, to)
        expect(Schema.decodeUnknownSync(ConvertOutput)(output)).toEqual(output)
        expect(output).toMatchObject({ from, to, facts: { inputLength: samples[from].length, outputLength: output.document.length } })
        if (from === to) expect(output.document).toBe(samples[from])
      })

  it("accepts an empty document and one of exactly the maximum size", async () => {
    expect((await convert("", "markdown", "html")).document).toBe("")
    expect((await convert("a".repeat(maxDocumentLength), "text", "text")).facts.inputLength).toBe(maxDocumentLength)
  })

  const invalid: Array<[string, unknown]> = [
    ["an unknown source format", { document: "x", from: "pdf", to: "html" }],
    ["an unknown target format", { document: "x", from: "html", to: "docx" }],
    ["a document that is not a string", { document: 42, from: "text", to: "html" }],
    ["a missing document", { from: "text", to: "html" }],
    ["a missing format", { document: "x", from: "text" }],
    ["a document over 1 MiB", { document: "a".repeat(maxDocumentLength + 1), from: "text", to: "html" }],
  ]
  for (const [what, input] of invalid)
    it(`refuses ${what} as INVALID_INPUT`, async () => {
      await expect(callHandler(worker, DocumentConvert, input as never)).rejects.toMatchObject({ code: "INVALID_INPUT" })
    })
})

describe("document.convert: a real Markdown document", () => {
  it("Markdown → HTML has its headings, lists, code, links and tables", async () => {
    const { document: html, facts } = await convert(realMarkdown, "markdown", "html")
    expect(html).toContain("<h1>Turndown</h1>")
    expect(html).toContain("<h2>Options</h2>")
    expect(html).toMatch(/<ul>\s*<li>/)
    expect(html).toMatch(/<pre><code class="language-js">/)
    expect(html).toContain('<a href="https://mixmark-io.github.io/turndown/">online</a>')
    expect(html).toMatch(/<table>\s*<thead>\s*<tr>\s*<th[^>]*>Option<\/th>/)
    expect(html).toContain('<td align="left"><code>headingStyle</code></td>')
    expect(facts.headings.length).toBe(html.match(/<h[1-6][ >]/g)?.length)
    expect(facts.headings.slice(0, 2)).toEqual([
      { level: 1, text: "Turndown" },
      { level: 2, text: "Project Updates" },
    ])
    expect(facts.links).toBe(html.match(/<a href=/g)?.length)
  })

  it("HTML → Markdown keeps the headings and links of the original", async () => {
    const original = await convert(realMarkdown, "markdown", "html")
    const back = await convert(original.document, "html", "markdown")
    expect(back.facts.headings).toEqual(original.facts.headings)
    // Links outside tables stay Markdown links; the tables stay HTML in the Markdown, their links with them.
    expect(back.facts.links).toBe(original.facts.links - (original.document.match(/<td[^>]*>[^\n]*<a href=/g)?.length ?? 0))
    expect(back.document).toContain('<a href="http://spec.commonmark.org/0.27/#thematic-breaks">')
    expect(back.document).toContain("# Turndown")
    expect(back.document).toContain("[online](https://mixmark-io.github.io/turndown/)")
    expect(back.document).toContain("```js")
    // Markdown → HTML again gives the same headings and the tables (kept as HTML in the Markdown).
    const again = await convert(back.document, "markdown", "html")
    expect(again.facts.headings).toEqual(original.facts.headings)
    expect(again.document.match(/<table>/g)?.length).toBe(original.document.match(/<table>/g)?.length)
  })

  it("HTML → text and Markdown → text drop the tags and keep the words", async () => {
    const { document: html } = await convert(realMarkdown, "markdown", "html")
    const fromHtml = await convert(html, "html", "text")
    const fromMarkdown = await convert(realMarkdown, "markdown", "text")
    expect(fromMarkdown.document).toBe(fromHtml.document)
    // The README's prose names tags in code spans ("<p>", "<td>"); the elements themselves are gone.
    for (const tag of ["<h2>", "<ul>", "<li>", "<pre>", "<code>", "<table>", "<th align", "<td align", "<a href"]) expect(fromHtml.document).not.toContain(tag)
    expect(fromHtml.document).toContain("TURNDOWN") // html-to-text upper-cases headings
    expect(fromHtml.document).toContain("online [https://mixmark-io.github.io/turndown/]")
    expect(fromHtml.document).toContain("headingStyle")
  })

  it("text → HTML escapes each blank-line block into a paragraph; text → Markdown escapes its syntax", async () => {
    const text = "if a < b && c > d\nthen <script> &amp; ~~no~~ a|b\n\n# not a heading\n* not a list"
    expect((await convert(text, "text", "html")).document).toBe(
      "<p>if a &lt; b &amp;&amp; c &gt; d<br>\nthen &lt;script&gt; &amp;amp; ~~no~~ a|b</p>\n<p># not a heading<br>\n* not a list</p>",
    )
    const markdown = await convert(text, "text", "markdown")
    expect(markdown.facts).toMatchObject({ headings: [], links: 0 })
    const html = await convert(markdown.document, "markdown", "html")
    expect(html.facts.headings).toEqual([])
    expect(html.document).not.toMatch(/<(h1|ul|li|script|del|table)\b/)
    expect((await convert(html.document, "html", "text")).document).toBe(text)
  })

  it("serves through a real in-process mesh", async () => {
    const mesh = await startTestMesh([worker])
    try {
      const output = await mesh.invoke(DocumentConvert, { document: realMarkdown, from: "markdown", to: "html" })
      expect(output.document).toContain("<h1>Turndown</h1>")
      await expect(mesh.invoke(DocumentConvert, { document: "x", from: "rtf", to: "html" } as never)).rejects.toMatchObject({ code: "INVALID_INPUT" })
    } finally {
      await mesh.stop()
    }
  })
})
