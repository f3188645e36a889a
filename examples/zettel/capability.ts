/**
 * `zettel.codex_repository@1.0.0`: a Zettelkasten, a repository of short notes joined by links. One capability, one
 * operation per call: the input is a union discriminated by `op`, and the output carries the same `op`.
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"
import { noteIdPattern } from "./noteId.ts"

/** A title is one line of at most this many characters. */
export const maxTitleLength = 200
/** A note's body (Markdown or plain text, stored as given): 100 000 characters, a long article. */
export const maxBodyLength = 100_000
export const maxTags = 20
export const maxTagLength = 64
export const maxQueryLength = 500
/** The most notes one `search` or `recent` returns; `defaultLimit` when the call names none. */
export const maxLimit = 100
export const defaultLimit = 20
/** `get` lists at most this many links and backlinks each (newest first); `linkCount` and `backlinkCount` say how many there are. */
export const maxListedLinks = 500

/** A ULID, as `add` returned it. */
export const NoteId = Schema.String.check(Schema.isPattern(noteIdPattern, { message: "a note id is a 26-character ULID, as add returned it" }))

const Title = Schema.String.check(
  Schema.isMaxLength(maxTitleLength),
  Schema.isPattern(/\S/, { message: "a title has at least one visible character" }),
  Schema.isPattern(/^[^\r\n]*$/, { message: "a title is one line" }),
)

/** Letters, digits, `_` and `-`, starting with a letter or digit: tags never hold blanks, so search can split on them. */
export const Tag = Schema.String.check(
  Schema.isMaxLength(maxTagLength),
  Schema.isPattern(/^[\p{L}\p{N}][\p{L}\p{N}_-]*$/u, { message: "a tag is letters, digits, '_' and '-', starting with a letter or digit" }),
)

/** A typed link's relation, such as `supports`, `contradicts` or `see-also`; a link without one is plain. */
export const LinkType = Schema.String.check(
  Schema.isPattern(/^[a-z][a-z0-9_-]{0,31}$/, { message: "a link type is lower-case letters, digits, '_' and '-', starting with a letter, at most 32" }),
)

const Limit = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: maxLimit }))

export const AddInput = Schema.Struct({
  op: Schema.Literal("add"),
  title: Title,
  body: Schema.String.check(Schema.isMaxLength(maxBodyLength)),
  tags: Schema.optionalKey(Schema.Array(Tag).check(Schema.isMaxLength(maxTags), Schema.isUnique())),
})

/** Links `from` to `to`; linking the same pair with the same type again changes nothing (`created: false`). */
export const LinkInput = Schema.Struct({ op: Schema.Literal("link"), from: NoteId, to: NoteId, type: Schema.optionalKey(LinkType) })

export const GetInput = Schema.Struct({ op: Schema.Literal("get"), id: NoteId })

/**
 * `query` is SQLite FTS5 syntax: words (all must match), `"a phrase"`, `prefix*`, `OR`, `NOT`, `NEAR(a b, 5)`, and
 * `title:` / `body:` / `tags:` to search one field. A query FTS5 cannot parse is `INVALID_INPUT` with its reason.
 */
export const SearchInput = Schema.Struct({
  op: Schema.Literal("search"),
  query: Schema.String.check(Schema.isMaxLength(maxQueryLength), Schema.isPattern(/\S/, { message: "a query has at least one visible character" })),
  limit: Schema.optionalKey(Limit),
})

export const RecentInput = Schema.Struct({ op: Schema.Literal("recent"), limit: Schema.optionalKey(Limit) })

export const ZettelInput = Schema.Union([AddInput, LinkInput, GetInput, SearchInput, RecentInput])
export type ZettelInput = typeof ZettelInput.Type

export const Note = Schema.Struct({
  id: NoteId,
  title: Title,
  body: Schema.String.check(Schema.isMaxLength(maxBodyLength)),
  tags: Schema.Array(Tag),
  /** When it was added, ISO 8601 UTC. */
  createdAt: Schema.String,
})
export type Note = typeof Note.Type

export const NoteSummary = Schema.Struct({ id: NoteId, title: Title, tags: Schema.Array(Tag), createdAt: Schema.String })
export type NoteSummary = typeof NoteSummary.Type

/** The note at the other end of a link, and the link's type when it has one. */
export const LinkedNote = Schema.Struct({ id: NoteId, title: Title, type: Schema.optionalKey(LinkType) })
export type LinkedNote = typeof LinkedNote.Type

export const SearchHit = Schema.Struct({
  ...NoteSummary.fields,
  /** BM25 relevance (title weighted 4, tags 2, body 1), negated so that higher is better; hits come best first. */
  score: Schema.Number,
  /** Up to 12 words around the best match, matched terms between `<mark>` and `</mark>`; note text is not escaped. */
  snippet: Schema.String,
})
export type SearchHit = typeof SearchHit.Type

const Count = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

export const AddOutput = Schema.Struct({ op: Schema.Literal("add"), note: Note })
export const LinkOutput = Schema.Struct({ op: Schema.Literal("link"), from: NoteId, to: NoteId, type: Schema.optionalKey(LinkType), created: Schema.Boolean })
export const GetOutput = Schema.Struct({
  op: Schema.Literal("get"),
  note: Note,
  /** Notes this one links to, newest link first. */
  links: Schema.Array(LinkedNote).check(Schema.isMaxLength(maxListedLinks)),
  /** Notes that link to this one, newest link first. */
  backlinks: Schema.Array(LinkedNote).check(Schema.isMaxLength(maxListedLinks)),
  linkCount: Count,
  backlinkCount: Count,
})
export const SearchOutput = Schema.Struct({ op: Schema.Literal("search"), hits: Schema.Array(SearchHit).check(Schema.isMaxLength(maxLimit)) })
/** Newest first. */
export const RecentOutput = Schema.Struct({ op: Schema.Literal("recent"), notes: Schema.Array(NoteSummary).check(Schema.isMaxLength(maxLimit)) })

export const ZettelOutput = Schema.Union([AddOutput, LinkOutput, GetOutput, SearchOutput, RecentOutput])
export type ZettelOutput = typeof ZettelOutput.Type

export const ZettelCodex = defineCapability({
  id: "zettel.codex_repository",
  version: "1.0.0",
  name: "Zettelkasten note repository",
  description:
    "A note repository kept in SQLite in the worker's data directory: add a note (title, body, tags), link two notes (plain or typed), get a note with its links and backlinks, full-text search with ranking and snippets (FTS5), list recent notes. One operation per call, chosen by `op`.",
  input: ZettelInput,
  output: ZettelOutput,
  errors: [
    { code: "NOT_FOUND", description: "no note has that id (get, or either end of a link)", retriable: false },
    {
      code: "STORE_BUSY",
      description: "another process held the database's write lock past the busy timeout; the call changed nothing",
      retriable: true,
    },
  ],
  // `add` makes a new note each time: a retried add would store it twice.
  idempotent: false,
  tags: ["example", "notes", "storage"],
  estimatedDurationMs: 5,
})
