/**
 * The note store: one SQLite file, `notes.sqlite3`, in a data directory, through better-sqlite3.
 *
 * Why it holds under concurrent writers: WAL mode lets readers go on while one connection writes; every write is an
 * IMMEDIATE transaction, which takes the file's write lock before reading anything, so two processes adding notes
 * queue on the lock (waiting up to the busy timeout) instead of one failing mid-transaction; and ids are ULIDs, made
 * with no coordination. A writer that waits past the busy timeout gets `StoreBusy` and has changed nothing.
 *
 * better-sqlite3 is synchronous: a call that waits for the lock blocks its process's event loop while it waits.
 */
import { join } from "node:path"
import Database from "better-sqlite3"
import { Data } from "effect"
import type { LinkedNote, Note, NoteSummary, SearchHit } from "./capability.ts"
import { maxListedLinks } from "./capability.ts"
import { migrate } from "./migrations.ts"
import { makeNoteId } from "./noteId.ts"

export class NoteNotFound extends Data.TaggedError("NoteNotFound")<{ readonly id: string }> {}
/** FTS5 could not parse the query; `reason` is SQLite's own message. */
export class InvalidQuery extends Data.TaggedError("InvalidQuery")<{ readonly reason: string }> {}
/** Another connection held the write lock past the busy timeout. */
export class StoreBusy extends Data.TaggedError("StoreBusy")<{ readonly reason: string }> {}

export const fileName = "notes.sqlite3"
/** How long a write waits for another process's write lock before `StoreBusy`. */
export const defaultBusyTimeoutMs = 5_000

export interface RepositoryOptions {
  /** Unix milliseconds now: note and link times, and the time part of note ids. */
  readonly clock?: () => number
  readonly busyTimeoutMs?: number
}

export interface NewNote {
  readonly title: string
  readonly body: string
  readonly tags: ReadonlyArray<string>
}

export interface NoteWithLinks {
  readonly note: Note
  readonly links: ReadonlyArray<LinkedNote>
  readonly backlinks: ReadonlyArray<LinkedNote>
  readonly linkCount: number
  readonly backlinkCount: number
}

export interface NoteRepository {
  readonly file: string
  readonly add: (note: NewNote) => Note
  /** `created` is false when the same link (pair and type) was already there. Throws `NoteNotFound`. */
  readonly link: (from: string, to: string, type: string | undefined) => { readonly created: boolean }
  /** Throws `NoteNotFound`. */
  readonly get: (id: string) => NoteWithLinks
  /** Best first. Throws `InvalidQuery`. */
  readonly search: (query: string, limit: number) => ReadonlyArray<SearchHit>
  /** Newest first. */
  readonly recent: (limit: number) => ReadonlyArray<NoteSummary>
  readonly close: () => void
}

interface NoteRow {
  readonly id: string
  readonly title: string
  readonly body: string
  readonly tags: string
  readonly created_at: number
}

interface LinkRow {
  readonly id: string
  readonly title: string
  readonly type: string
}

const tagsOf = (column: string): Array<string> => (column === "" ? [] : column.split(" "))
const summaryOf = (row: Omit<NoteRow, "body">): NoteSummary => ({
  id: row.id,
  title: row.title,
  tags: tagsOf(row.tags),
  createdAt: new Date(row.created_at).toISOString(),
})
const noteOf = (row: NoteRow): Note => ({ ...summaryOf(row), body: row.body })
const linkedOf = (row: LinkRow): LinkedNote => (row.type === "" ? { id: row.id, title: row.title } : { id: row.id, title: row.title, type: row.type })

type SqliteError = InstanceType<typeof Database.SqliteError>

const isBusy = (error: unknown): error is SqliteError => error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY")

/** `run`, with SQLite's "database is locked" turned into `StoreBusy`. */
const guarded =
  <A extends ReadonlyArray<unknown>, B>(run: (...args: A) => B) =>
  (...args: A): B => {
    try {
      return run(...args)
    } catch (error) {
      if (isBusy(error)) throw new StoreBusy({ reason: error.message })
      throw error
    }
  }

/**
 * Opens (creating it if needed) the repository in `dataDir` and brings its schema up to date.
 *
 * @example
 * ```ts
 * const repository = open(dataDir)
 * const note = repository.add({ title: "Atomicity", body: "One idea per note.", tags: ["method"] })
 * repository.close()
 * ```
 */
export const open = (dataDir: string, options: RepositoryOptions = {}): NoteRepository => {
  const file = join(dataDir, fileName)
  const clock = options.clock ?? Date.now
  const db = new Database(file, { timeout: options.busyTimeoutMs ?? defaultBusyTimeoutMs })
  try {
    db.pragma("journal_mode = WAL")
    // FULL: a committed note survives a power cut too, not only a crashed process; notes are written one at a time.
    db.pragma("synchronous = FULL")
    db.pragma("foreign_keys = ON")
    migrate(db, file)
  } catch (error) {
    db.close()
    throw isBusy(error) ? new StoreBusy({ reason: error.message }) : error
  }

  const insertNote = db.prepare<[string, string, string, string, number]>("INSERT INTO notes (id, title, body, tags, created_at) VALUES (?, ?, ?, ?, ?)")
  const noteById = db.prepare<[string], NoteRow>("SELECT id, title, body, tags, created_at FROM notes WHERE id = ?")
  const noteExists = db.prepare<[string], { found: 1 }>("SELECT 1 AS found FROM notes WHERE id = ?")
  const insertLink = db.prepare<[string, string, string, number]>(
    "INSERT INTO links (from_id, to_id, type, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
  )
  const linksFrom = db.prepare<[string, number], LinkRow>(
    "SELECT n.id, n.title, l.type FROM links l JOIN notes n ON n.id = l.to_id WHERE l.from_id = ? ORDER BY l.created_at DESC, n.seq DESC LIMIT ?",
  )
  const linksTo = db.prepare<[string, number], LinkRow>(
    "SELECT n.id, n.title, l.type FROM links l JOIN notes n ON n.id = l.from_id WHERE l.to_id = ? ORDER BY l.created_at DESC, n.seq DESC LIMIT ?",
  )
  const countFrom = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM links WHERE from_id = ?")
  const countTo = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM links WHERE to_id = ?")
  // Column weights follow the index's columns (title, body, tags): a word in the title says more than one in the body.
  const searchText = db.prepare<[string, number], Omit<NoteRow, "body"> & { score: number; snippet: string }>(
    `SELECT n.id, n.title, n.tags, n.created_at,
            -bm25(notes_text, 4.0, 1.0, 2.0) AS score,
            snippet(notes_text, -1, '<mark>', '</mark>', '…', 12) AS snippet
       FROM notes_text JOIN notes n ON n.seq = notes_text.rowid
      WHERE notes_text MATCH ?
      ORDER BY bm25(notes_text, 4.0, 1.0, 2.0), n.seq DESC
      LIMIT ?`,
  )
  const recentNotes = db.prepare<[number], Omit<NoteRow, "body">>("SELECT id, title, tags, created_at FROM notes ORDER BY created_at DESC, seq DESC LIMIT ?")

  const requireNote = (id: string): void => {
    if (noteExists.get(id) === undefined) throw new NoteNotFound({ id })
  }

  const add = db.transaction((note: NewNote): Note => {
    const createdAt = clock()
    const row: NoteRow = { id: makeNoteId(createdAt), title: note.title, body: note.body, tags: note.tags.join(" "), created_at: createdAt }
    insertNote.run(row.id, row.title, row.body, row.tags, row.created_at)
    return noteOf(row)
  })

  const link = db.transaction((from: string, to: string, type: string | undefined) => {
    requireNote(from)
    requireNote(to)
    return { created: insertLink.run(from, to, type ?? "", clock()).changes === 1 }
  })

  // A read transaction: the note, its links and the counts all come from one snapshot.
  const get = db.transaction((id: string): NoteWithLinks => {
    const row = noteById.get(id)
    if (row === undefined) throw new NoteNotFound({ id })
    return {
      note: noteOf(row),
      links: linksFrom.all(id, maxListedLinks).map(linkedOf),
      backlinks: linksTo.all(id, maxListedLinks).map(linkedOf),
      linkCount: countFrom.get(id)?.n ?? 0,
      backlinkCount: countTo.get(id)?.n ?? 0,
    }
  })

  const search = (query: string, limit: number): ReadonlyArray<SearchHit> => {
    let rows: ReturnType<typeof searchText.all>
    try {
      rows = searchText.all(query, limit)
    } catch (error) {
      // The statement itself was prepared at open, so a plain SQLITE_ERROR here is FTS5 refusing the query.
      if (error instanceof Database.SqliteError && error.code === "SQLITE_ERROR") throw new InvalidQuery({ reason: error.message })
      throw error
    }
    return rows.map((row) => ({ ...summaryOf(row), score: row.score, snippet: row.snippet }))
  }

  return {
    file,
    add: guarded((note: NewNote) => add.immediate(note)),
    link: guarded((from: string, to: string, type: string | undefined) => link.immediate(from, to, type)),
    get: guarded((id: string) => get.deferred(id)),
    search: guarded(search),
    recent: guarded((limit: number) => recentNotes.all(limit).map(summaryOf)),
    close: () => db.close(),
  }
}
