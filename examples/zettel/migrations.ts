/**
 * The database's schema, as a list of migrations: migration N takes `PRAGMA user_version` from N to N + 1. A new
 * version of the worker appends a step and never edits one that shipped, so any older file is brought forward on open.
 */
import type Database from "better-sqlite3"

/**
 * 1: notes, links and the full-text index.
 * - `notes.seq` is SQLite's rowid, which the FTS index is keyed by; `id` (a ULID) is the note's name outside.
 * - `tags` are kept blank-separated (a tag has no blanks) so the index and snippets read them as words.
 * - `links.type` is '' for a plain link, so the primary key (and so "link twice changes nothing") covers both kinds.
 * - The index is external-content (it keeps no second copy of the text) and a trigger fills it in the inserting
 *   statement's own transaction. Notes are never edited or deleted through the worker, so no other trigger is needed.
 */
const createNotesLinksAndIndex = `
  CREATE TABLE notes (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX notes_by_time ON notes (created_at, seq);
  CREATE TABLE links (
    from_id TEXT NOT NULL REFERENCES notes (id),
    to_id TEXT NOT NULL REFERENCES notes (id),
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (from_id, to_id, type)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX links_by_target ON links (to_id, created_at);
  CREATE VIRTUAL TABLE notes_text USING fts5 (
    title, body, tags,
    content = 'notes', content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER notes_text_on_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_text (rowid, title, body, tags) VALUES (new.seq, new.title, new.body, new.tags);
  END;
`

export const migrations: ReadonlyArray<string> = [createNotesLinksAndIndex]

/** The schema version this code writes and reads. */
export const schemaVersion = migrations.length

const versionOf = (db: Database.Database): number => db.pragma("user_version", { simple: true }) as number

/** A file from a newer worker is refused rather than written with a schema this code does not know. */
const refuseNewer = (version: number, file: string): void => {
  if (version > schemaVersion) throw new Error(`${file} has schema version ${version}, newer than this worker's ${schemaVersion}: run a newer zettel worker`)
}

/**
 * Brings `db` to `schemaVersion`. An up-to-date file is only read, so opening it never waits for another process's
 * write lock. Otherwise the steps run in one IMMEDIATE transaction that reads the version again inside it: two
 * processes opening a new file at once take turns, and the second finds the work done.
 */
export const migrate = (db: Database.Database, file: string): void => {
  const current = versionOf(db)
  refuseNewer(current, file)
  if (current === schemaVersion) return
  db.transaction(() => {
    const version = versionOf(db)
    refuseNewer(version, file)
    for (const step of migrations.slice(version)) db.exec(step)
    // PRAGMA takes no bound parameters; schemaVersion is this module's own integer.
    db.pragma(`user_version = ${schemaVersion}`)
  }).immediate()
}
