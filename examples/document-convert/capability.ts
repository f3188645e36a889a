/**
 * `document.convert@1.0.0`: converts a document between Markdown, HTML and plain text. The formats are part of
 * the contract, so an unknown one is `INVALID_INPUT` before the handler runs, as is a document over 1 MiB.
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"

/** The formats this capability reads and writes. */
export const formats = ["markdown", "html", "text"] as const
export const Format = Schema.Literals(formats)
export type Format = typeof Format.Type

/** The largest document accepted: 1 MiB of UTF-16 code units (JavaScript string length). */
export const maxDocumentLength = 1_048_576

export const ConvertInput = Schema.Struct({
  document: Schema.String.check(Schema.isMaxLength(maxDocumentLength)),
  from: Format,
  to: Format,
})
export type ConvertInput = typeof ConvertInput.Type

export const ConvertOutput = Schema.Struct({
  /** The converted document. */
  document: Schema.String,
  from: Format,
  to: Format,
  facts: Schema.Struct({
    inputLength: Schema.Number,
    outputLength: Schema.Number,
    /** The document's headings in order, as Markdown sees them (none for plain text). */
    headings: Schema.Array(Schema.Struct({ level: Schema.Number, text: Schema.String })),
    /** How many links the document has. */
    links: Schema.Number,
  }),
})
export type ConvertOutput = typeof ConvertOutput.Type

export const DocumentConvert = defineCapability({
  id: "document.convert",
  version: "1.0.0",
  name: "Convert a document",
  description:
    "Converts a document between Markdown, HTML and plain text (marked, turndown, html-to-text); returns it with its length, headings and link count.",
  input: ConvertInput,
  output: ConvertOutput,
  idempotent: true,
  tags: ["example", "document"],
  estimatedDurationMs: 20,
})
