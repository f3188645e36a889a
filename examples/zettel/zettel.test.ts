/**
 * zettel.codex_repository: contract tests from its schemas, the repository's behaviour (links, backlinks, ranked
 * search, schema versions, a locked file), and persistence: across a mesh restart, across worker processes that are
 * SIGTERMed and started again, and under concurrent writers (many adds through one mesh, two processes on one file).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Database from "better-sqlite3"
import { type CrankError, isCrankError } from "crank-mesh"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { Arbitrary, Effect, Exit, Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { connectClient, type MeshClient } from "../../tests/support/meshClient.ts"
import { until } from "../../tests/support/poll.ts"
import { type CrankProcess, freePort, useProcesses } from "../../tests/support/processes.ts"
import { maxBodyLength, maxLimit, maxQueryLength, maxTags, maxTitleLength, type Note, ZettelCodex, type ZettelInput, ZettelOutput } from "./capability.ts"
import worker from "./index.ts"
import { migrations, schemaVersion } from "./migrations.ts"
import { defaultBusyTimeoutMs, fileName, InvalidQuery, open, StoreBusy } from "./NoteRepository.ts"
import { makeNoteId, noteIdPattern } from "./noteId.ts"

const directories: Array<string> = []
const freshDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "zettel-"))
  directories.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const processes = useProcesses()
const clients: Array<MeshClient> = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
})

/** A handler bound to one data directory: every call opens the database in `started` and closes it in `stopped`. */
const repositoryAt = (dataDir: string) => (input: ZettelInput) => callHandler(worker, ZettelCodex, input, { dataDir })
const decodesAsOutput = (output: unknown): boolean => Exit.isSuccess(Schema.decodeUnknownExit(ZettelOutput)(output))

/** Runs `task(0..count-1)` with at most `lanes` running at once; resolves with the results in order. */
const inLanes = async <A>(count: number, lanes: number, task: (index: number) => Promise<A>): Promise<Array<A>> => {
  const results: Array<A> = new Array(count)
  let next = 0
  const lane = async () => {
    while (next < count) {
      const index = next++
      results[index] = await task(index)
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  return results
}

/** Every note id in the file, read with a connection of the test's own. */
const idsInFile = (file: string): Array<string> => {
  const db = new Database(file, { readonly: true })
  try {
    return db
      .prepare<[], { id: string }>("SELECT id FROM notes ORDER BY seq")
      .all()
      .map((row) => row.id)
  } finally {
    db.close()
  }
}

const added = (output: ZettelOutput): Note => {
  if (output.op !== "add") throw new Error(`expected an add answer, got ${output.op}`)
  return output.note
}

describe("zettel.codex_repository contract", () => {
  it("answers each operation with output that decodes and carries the same op", async () => {
    const call = repositoryAt(freshDir())
    const first = added(await call({ op: "add", title: "Atomicity", body: "One idea per note.", tags: ["method"] }))
    const second = added(await call({ op: "add", title: "Links", body: "A note earns its place by its links." }))
    const inputs: Array<ZettelInput> = [
      { op: "add", title: "Third", body: "" },
      { op: "link", from: first.id, to: second.id },
      { op: "link", from: second.id, to: first.id, type: "supports" },
      { op: "get", id: first.id },
      { op: "search", query: "note", limit: 5 },
      { op: "search", query: "idea" },
      { op: "recent" },
      { op: "recent", limit: 1 },
    ]
    for (const input of inputs) {
      expect(Schema.is(Schema.toType(ZettelCodex.input))(input)).toBe(true)
      const output = await call(input)
      expect(decodesAsOutput(output), JSON.stringify(output)).toBe(true)
      expect(output.op).toBe(input.op)
    }
  })

  it("refuses input its schema refuses, as INVALID_INPUT, before the handler runs", async () => {
    const call = repositoryAt(freshDir())
    const id = makeNoteId(Date.now())
    const refused: Array<unknown> = [
      {},
      { op: "delete", id },
      { op: "add", body: "no title" },
      { op: "add", title: "", body: "" },
      { op: "add", title: "   ", body: "" },
      { op: "add", title: "two\nlines", body: "" },
      { op: "add", title: "x".repeat(maxTitleLength + 1), body: "" },
      { op: "add", title: "long", body: "x".repeat(maxBodyLength + 1) },
      { op: "add", title: "t", body: "", tags: ["has space"] },
      { op: "add", title: "t", body: "", tags: ["-leading"] },
      { op: "add", title: "t", body: "", tags: ["same", "same"] },
      { op: "add", title: "t", body: "", tags: Array.from({ length: maxTags + 1 }, (_, i) => `t${i}`) },
      { op: "link", from: "nope", to: id },
      { op: "link", from: id, to: id.toLowerCase() },
      { op: "link", from: id, to: makeNoteId(Date.now()), type: "Supports" },
      { op: "get", id: "" },
      { op: "get", id: `${id}0` },
      { op: "search", query: "" },
      { op: "search", query: "  " },
      { op: "search", query: "x".repeat(maxQueryLength + 1) },
      { op: "search", query: "x", limit: 0 },
      { op: "search", query: "x", limit: maxLimit + 1 },
      { op: "recent", limit: 1.5 },
    ]
    for (const input of refused) {
      expect(Schema.is(Schema.toType(ZettelCodex.input))(input), JSON.stringify(input)).toBe(false)
      await expect(call(input as ZettelInput), JSON.stringify(input)).rejects.toMatchObject({ code: "INVALID_INPUT" })
    }
  })

  it("a missing note is NOT_FOUND, not retriable: get, and either end of a link", async () => {
    const call = repositoryAt(freshDir())
    const note = added(await call({ op: "add", title: "Here", body: "" }))
    const missing = makeNoteId(Date.now())
    const notFound = { code: "NOT_FOUND", retriable: false, message: `no note has id ${missing}` }
    await expect(call({ op: "get", id: missing })).rejects.toMatchObject(notFound)
    await expect(call({ op: "link", from: note.id, to: missing })).rejects.toMatchObject(notFound)
    await expect(call({ op: "link", from: missing, to: note.id, type: "supports" })).rejects.toMatchObject(notFound)
    // The failed links wrote nothing.
    expect(await call({ op: "get", id: note.id })).toMatchObject({ links: [], backlinks: [], linkCount: 0, backlinkCount: 0 })
  })

  it("input the schema cannot refuse is INVALID_INPUT with the reason: a self-link, a query FTS5 cannot parse", async () => {
    const call = repositoryAt(freshDir())
    const note = added(await call({ op: "add", title: "Alone", body: "e-mail and other things" }))
    await expect(call({ op: "link", from: note.id, to: note.id })).rejects.toMatchObject({ code: "INVALID_INPUT", message: "a note cannot link to itself" })
    const reasons: Array<[string, RegExp]> = [
      ['"unbalanced', /unterminated string/],
      ["AND alone", /fts5: syntax error near "AND"/],
      ["e-mail", /no such column: mail/],
      ["nowhere:word", /no such column: nowhere/],
      ["(open", /fts5: syntax error/],
    ]
    for (const [query, reason] of reasons) {
      const failure = await call({ op: "search", query }).then(
        () => undefined,
        (error: CrankError) => error,
      )
      expect(failure?.code, query).toBe("INVALID_INPUT")
      expect(failure?.message, query).toMatch(/^the search query is not FTS5 syntax/)
      expect(failure?.message, query).toMatch(reason)
    }
    // Quoted, as the message advises, the same words are a phrase.
    const quoted = await call({ op: "search", query: '"e-mail"' })
    expect(quoted.op === "search" && quoted.hits.map((hit) => hit.id)).toEqual([note.id])
  })

  it("a write that waits out the busy timeout behind another connection's lock is STORE_BUSY, retriable, and writes nothing", async () => {
    const dir = freshDir()
    const call = repositoryAt(dir)
    await call({ op: "add", title: "before", body: "" })
    const other = new Database(join(dir, fileName))
    other.exec("BEGIN IMMEDIATE")
    try {
      // The handler blocks for the whole busy timeout (better-sqlite3 is synchronous): a deadline well past it.
      const blocked = callHandler(worker, ZettelCodex, { op: "add", title: "blocked", body: "" }, { dataDir: dir, timeoutMs: 4 * defaultBusyTimeoutMs })
      await expect(blocked).rejects.toMatchObject({ code: "STORE_BUSY", retriable: true })
      // Opening the database and reading did not wait for the lock.
      const recent = await call({ op: "recent" })
      expect(recent.op === "recent" && recent.notes.map((note) => note.title)).toEqual(["before"])
    } finally {
      other.exec("ROLLBACK")
      other.close()
    }
  }, 60_000)

  it("answers every schema-valid input with output that decodes, INVALID_INPUT or NOT_FOUND: never INTERNAL", async () => {
    const call = repositoryAt(freshDir())
    const inputs = await Effect.runPromise(Arbitrary.sampleEffect(Arbitrary.schema(ZettelCodex.input), { count: 150, seed: 13 }))
    const outcomes = new Map<string, number>()
    for (const input of inputs) {
      const outcome = await call(input).then(
        (output) => (decodesAsOutput(output) ? `${input.op} ok` : "undecodable output"),
        (error: unknown) => (isCrankError(error) && (error.code === "INVALID_INPUT" || error.code === "NOT_FOUND") ? error.code : `other: ${String(error)}`),
      )
      expect(outcome, JSON.stringify(input)).toMatch(/ ok$|^INVALID_INPUT$|^NOT_FOUND$/)
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    }
    // The seeded sample reached every kind of answer: writes, reads, FTS5 refusals and missing notes.
    for (const kind of ["add ok", "search ok", "recent ok", "INVALID_INPUT", "NOT_FOUND"]) expect(outcomes.get(kind) ?? 0, kind).toBeGreaterThan(0)
  })
})

describe("zettel.codex_repository behaviour", () => {
  it("adds a note with a ULID, its tags and time, and gets it back as it was written", async () => {
    const call = repositoryAt(freshDir())
    const before = Date.now()
    const note = added(
      await call({ op: "add", title: "Fleeting notes", body: "Write it **now**, sort it later.\n\n- one\n- two", tags: ["method", "capture"] }),
    )
    expect(note.id).toMatch(noteIdPattern)
    expect(Date.parse(note.createdAt)).toBeGreaterThanOrEqual(before - 1)
    expect(note).toMatchObject({ title: "Fleeting notes", body: "Write it **now**, sort it later.\n\n- one\n- two", tags: ["method", "capture"] })
    expect(await call({ op: "get", id: note.id })).toEqual({ op: "get", note, links: [], backlinks: [], linkCount: 0, backlinkCount: 0 })
  })

  it("links notes plain and typed; get shows links and backlinks with their types; linking twice changes nothing", async () => {
    const call = repositoryAt(freshDir())
    const [claim, evidence, objection, aside] = await Promise.all(
      ["Claim", "Evidence", "Objection", "Aside"].map(async (title) => added(await call({ op: "add", title, body: `${title} body` }))),
    )
    if (claim === undefined || evidence === undefined || objection === undefined || aside === undefined) throw new Error("four notes")
    expect(await call({ op: "link", from: evidence.id, to: claim.id, type: "supports" })).toEqual({
      op: "link",
      from: evidence.id,
      to: claim.id,
      type: "supports",
      created: true,
    })
    expect(await call({ op: "link", from: evidence.id, to: claim.id, type: "supports" })).toMatchObject({ created: false })
    expect(await call({ op: "link", from: objection.id, to: claim.id, type: "contradicts" })).toMatchObject({ created: true })
    expect(await call({ op: "link", from: claim.id, to: aside.id })).toEqual({ op: "link", from: claim.id, to: aside.id, created: true })
    expect(await call({ op: "link", from: claim.id, to: aside.id })).toMatchObject({ created: false })
    // The same pair with a type is another link.
    expect(await call({ op: "link", from: claim.id, to: aside.id, type: "see-also" })).toMatchObject({ created: true })

    const got = await call({ op: "get", id: claim.id })
    if (got.op !== "get") throw new Error(got.op)
    expect(got.linkCount).toBe(2)
    expect(got.backlinkCount).toBe(2)
    expect(got.links).toEqual(
      expect.arrayContaining([
        { id: aside.id, title: "Aside" },
        { id: aside.id, title: "Aside", type: "see-also" },
      ]),
    )
    expect(got.backlinks).toEqual(
      expect.arrayContaining([
        { id: evidence.id, title: "Evidence", type: "supports" },
        { id: objection.id, title: "Objection", type: "contradicts" },
      ]),
    )
    const fromEvidence = await call({ op: "get", id: evidence.id })
    expect(fromEvidence).toMatchObject({ links: [{ id: claim.id, title: "Claim", type: "supports" }], backlinks: [], linkCount: 1, backlinkCount: 0 })
  })

  it("search ranks a title match above a body mention, stems words, snippets the match, and honours FTS5 operators", async () => {
    const call = repositoryAt(freshDir())
    const add = async (title: string, body: string, tags: Array<string> = []) => added(await call({ op: "add", title, body, tags }))
    const inTitle = await add("Spaced repetition", "Reviewing at growing intervals fixes what was learned.")
    const inBody = await add("Study habits", "Sleep, exercise, and now and then some spaced repetition of old material.")
    const twice = await add("Cards", "Repetition after repetition: a deck reviewed daily.", ["repetition"])
    const unrelated = await add("Gardening", "Tomatoes want sun and water.", ["outdoors"])

    const search = async (query: string, limit?: number) => {
      const output = await call(limit === undefined ? { op: "search", query } : { op: "search", query, limit })
      if (output.op !== "search") throw new Error(output.op)
      return output.hits
    }
    const ranked = await search("spaced repetition")
    expect(ranked.map((hit) => hit.id)).toEqual([inTitle.id, inBody.id])
    expect(ranked[0]!.score).toBeGreaterThan(ranked[1]!.score)
    expect(ranked[1]!.snippet).toContain("<mark>spaced</mark> <mark>repetition</mark>")

    // "repetition" alone: in a title, in a body, twice in a body and once in tags; all three found, best first.
    const repetition = await search("repetition")
    expect(repetition.map((hit) => hit.id).sort()).toEqual([inTitle.id, inBody.id, twice.id].sort())
    expect(repetition.map((hit) => hit.score)).toEqual([...repetition.map((hit) => hit.score)].sort((a, b) => b - a))
    expect(repetition.at(-1)?.id).toBe(inBody.id)

    // The porter stemmer: "reviews" finds "Reviewing" and "reviewed".
    expect((await search("reviews")).map((hit) => hit.id).sort()).toEqual([inTitle.id, twice.id].sort())
    expect((await search("tomato*")).map((hit) => hit.id)).toEqual([unrelated.id])
    expect((await search("tags:outdoors")).map((hit) => hit.id)).toEqual([unrelated.id])
    expect((await search("repetition NOT spaced")).map((hit) => hit.id)).toEqual([twice.id])
    expect((await search("sun OR sleep")).map((hit) => hit.id).sort()).toEqual([inBody.id, unrelated.id].sort())
    expect(await search("repetition", 1)).toHaveLength(1)
    expect(await search("xylophone")).toEqual([])
    expect(ranked[0]).toMatchObject({ title: "Spaced repetition", tags: [], createdAt: inTitle.createdAt })
  })

  it("recent lists notes newest first, bounded by limit", async () => {
    const call = repositoryAt(freshDir())
    const notes: Array<Note> = []
    for (const title of ["one", "two", "three"]) notes.push(added(await call({ op: "add", title, body: "", tags: [title] })))
    expect(await call({ op: "recent", limit: 2 })).toEqual({
      op: "recent",
      notes: [notes[2], notes[1]].map((note) => ({ id: note!.id, title: note!.title, tags: note!.tags, createdAt: note!.createdAt })),
    })
    const all = await call({ op: "recent" })
    expect(all.op === "recent" && all.notes.map((note) => note.title)).toEqual(["three", "two", "one"])
  })

  it("ids are ULIDs: the time first, so they sort by time, then 80 random bits", () => {
    expect(makeNoteId(0)).toMatch(/^0{10}[0-9A-HJKMNP-TV-Z]{16}$/)
    expect(makeNoteId(2 ** 48 - 1)).toMatch(/^7Z{9}/)
    expect(makeNoteId(1_700_000_000_000) < makeNoteId(1_700_000_000_001)).toBe(true)
    const ids = Array.from({ length: 10_000 }, () => makeNoteId(1_700_000_000_000))
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids.slice(0, 100)) expect(id).toMatch(noteIdPattern)
  })
})

describe("the note database", () => {
  it("is WAL with a schema version; reopening migrates nothing again; a file from a newer worker is refused", () => {
    const dir = freshDir()
    const repository = open(dir)
    repository.add({ title: "kept", body: "", tags: [] })
    repository.close()
    const db = new Database(join(dir, fileName))
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal")
    expect(db.pragma("user_version", { simple: true })).toBe(schemaVersion)
    expect(schemaVersion).toBe(migrations.length)
    db.close()

    const reopened = open(dir)
    expect(reopened.recent(10).map((note) => note.title)).toEqual(["kept"])
    reopened.close()

    const newer = new Database(join(dir, fileName))
    newer.pragma(`user_version = ${schemaVersion + 1}`)
    newer.close()
    expect(() => open(dir)).toThrow(`has schema version ${schemaVersion + 1}, newer than this worker's ${schemaVersion}`)
  })

  it("migrates an empty file of version 0, as left by a process that died before its first migration", () => {
    const dir = freshDir()
    new Database(join(dir, fileName)).close()
    const repository = open(dir)
    expect(repository.add({ title: "first", body: "", tags: [] }).title).toBe("first")
    repository.close()
  })

  it("a writer that waits past the busy timeout fails with StoreBusy and writes nothing", () => {
    const dir = freshDir()
    const repository = open(dir, { busyTimeoutMs: 50 })
    const other = new Database(join(dir, fileName))
    other.exec("BEGIN IMMEDIATE")
    try {
      expect(() => repository.add({ title: "blocked", body: "", tags: [] })).toThrow(StoreBusy)
      // Readers are not blocked by a writer in WAL mode.
      expect(repository.recent(10)).toEqual([])
    } finally {
      other.exec("ROLLBACK")
      other.close()
    }
    expect(repository.add({ title: "after", body: "", tags: [] }).title).toBe("after")
    expect(repository.recent(10).map((note) => note.title)).toEqual(["after"])
    repository.close()
  })

  it("a query FTS5 refuses is InvalidQuery with SQLite's reason", () => {
    const repository = open(freshDir())
    try {
      expect(() => repository.search("AND", 10)).toThrow(InvalidQuery)
    } finally {
      repository.close()
    }
  })
})

describe("zettel.codex_repository in a mesh", () => {
  it("keeps notes and links across a mesh restart on the same data directory", async () => {
    const root = freshDir()
    const first = await startTestMesh([worker], { dataDir: root })
    const titles = ["Permanent notes", "Literature notes", "Index notes"]
    let notes: Array<Note>
    try {
      notes = []
      for (const title of titles)
        notes.push(added(await first.invoke(ZettelCodex, { op: "add", title, body: `About ${title.toLowerCase()}.`, tags: ["zettelkasten"] })))
      await first.invoke(ZettelCodex, { op: "link", from: notes[0]!.id, to: notes[1]!.id, type: "builds-on" })
      await first.invoke(ZettelCodex, { op: "link", from: notes[2]!.id, to: notes[0]!.id })
    } finally {
      await first.stop()
    }
    expect(idsInFile(join(root, "workers", "zettel", fileName))).toEqual(notes.map((note) => note.id))

    const second = await startTestMesh([worker], { dataDir: root })
    try {
      expect(await second.invoke(ZettelCodex, { op: "get", id: notes[0]!.id })).toEqual({
        op: "get",
        note: notes[0],
        links: [{ id: notes[1]!.id, title: "Literature notes", type: "builds-on" }],
        backlinks: [{ id: notes[2]!.id, title: "Index notes" }],
        linkCount: 1,
        backlinkCount: 1,
      })
      const found = await second.invoke(ZettelCodex, { op: "search", query: "literature" })
      expect(found.op === "search" && found.hits.map((hit) => hit.id)).toEqual([notes[1]!.id])
      const recent = await second.invoke(ZettelCodex, { op: "recent" })
      expect(recent.op === "recent" && recent.notes.map((note) => note.id)).toEqual(notes.map((note) => note.id).reverse())
    } finally {
      await second.stop()
    }
  })

  it("loses no note among 400 concurrent adds through one mesh (32 at a time)", async () => {
    const root = freshDir()
    const mesh = await startTestMesh([worker], { dataDir: root })
    try {
      const notes = await inLanes(400, 32, async (i) => added(await mesh.invoke(ZettelCodex, { op: "add", title: `note ${i}`, body: `body of note ${i}` })))
      const ids = notes.map((note) => note.id)
      expect(new Set(ids).size).toBe(400)
      const stored = idsInFile(join(root, "workers", "zettel", fileName))
      expect(stored).toHaveLength(400)
      expect(new Set(stored)).toEqual(new Set(ids))
      const hits = await mesh.invoke(ZettelCodex, { op: "search", query: '"note 399"' })
      expect(hits.op === "search" && hits.hits.map((hit) => hit.title)).toContain("note 399")
    } finally {
      await mesh.stop()
    }
  })

  it("two meshes in one process on one data directory share the database; stopping one leaves the other serving", async () => {
    const root = freshDir()
    const [left, right] = await Promise.all([startTestMesh([worker], { dataDir: root }), startTestMesh([worker], { dataDir: root })])
    let ids: Array<string>
    try {
      const both = await Promise.all([
        inLanes(100, 8, async (i) => added(await left.invoke(ZettelCodex, { op: "add", title: `left ${i}`, body: "" })).id),
        inLanes(100, 8, async (i) => added(await right.invoke(ZettelCodex, { op: "add", title: `right ${i}`, body: "" })).id),
      ])
      ids = both.flat()
      await left.stop()
      // The right mesh still reads the left one's notes through the connection they shared.
      const leftNote = await right.invoke(ZettelCodex, { op: "get", id: both[0]![0]! })
      expect(leftNote.op === "get" && leftNote.note.title).toBe("left 0")
    } finally {
      await Promise.all([left.stop(), right.stop()])
    }
    const stored = idsInFile(join(root, "workers", "zettel", fileName))
    expect(stored).toHaveLength(200)
    expect(new Set(stored)).toEqual(new Set(ids))
  })
})

describe("zettel workers in their own processes", () => {
  const timing = ["--heartbeat-ms", "100", "--stale-after-ms", "1000", "--evict-after-ms", "3000"]

  const startController = async (port: number): Promise<CrankProcess> => {
    const controller = processes.start(["controller", "--insecure", "--port", String(port), ...timing], { name: `controller :${port}` })
    await controller.waitForLine(`controller listening on ws://127.0.0.1:${port}`)
    return controller
  }
  const startWorker = (url: string, root: string, node: string): CrankProcess =>
    processes.start(["worker", "examples/zettel", "--controller", url, "--data-dir", root, "--node", node], { name: `zettel ${node}` })

  const healthy = async (client: MeshClient, ids: ReadonlyArray<string>) =>
    until(`${ids.join(", ")} healthy`, async () => {
      const status = await client.status()
      const up = status.workers.filter((w) => w.state === "healthy").map((w) => w.id)
      return ids.every((id) => up.includes(id)) && status
    })

  /** A controller and two worker processes on one data directory, both healthy, and a client of each kind. */
  const twoWorkersOnOneFile = async () => {
    const root = freshDir()
    const port = await freePort()
    const url = `ws://127.0.0.1:${port}`
    const w1 = startWorker(url, root, "w1")
    const w2 = startWorker(url, root, "w2")
    await startController(port)
    const watcher = await connectClient(url)
    clients.push(watcher)
    await healthy(watcher, ["w1/zettel-1", "w2/zettel-1"])
    // A client made once both are healthy routes round-robin over both from its first call.
    const client = await connectClient(url, { timeoutMs: 15_000 })
    clients.push(client)
    return { root, url, w1, w2, watcher, client }
  }

  it("two worker processes on one file take 400 concurrent adds with none lost; SIGTERMed and restarted, every note and link is there", async () => {
    const { root, url, w1, w2, watcher, client } = await twoWorkersOnOneFile()

    const notes = await inLanes(400, 16, async (i) =>
      added(await client.invoke(ZettelCodex, { op: "add", title: `concurrent ${i}`, body: `written by lane ${i % 16}` })),
    )
    const links = await inLanes(100, 16, (i) => client.invoke(ZettelCodex, { op: "link", from: notes[i]!.id, to: notes[i + 1]!.id, type: "next" }))
    expect(links.every((link) => link.op === "link" && link.created)).toBe(true)
    // Both processes served writes: the file really had two writers.
    await until("both workers report completed requests", async () => {
      const status = await client.status()
      return status.workers.filter((w) => w.completed > 0).length === 2
    })

    expect(await w1.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    expect(await w2.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    const file = join(root, "workers", "zettel", fileName)
    const stored = idsInFile(file)
    expect(stored).toHaveLength(400)
    expect(new Set(stored)).toEqual(new Set(notes.map((note) => note.id)))

    const w3 = startWorker(url, root, "w3")
    await healthy(watcher, ["w3/zettel-1"])
    const after = await connectClient(url)
    clients.push(after)
    const middle = await after.invoke(ZettelCodex, { op: "get", id: notes[50]!.id })
    expect(middle).toEqual({
      op: "get",
      note: notes[50],
      links: [{ id: notes[51]!.id, title: "concurrent 51", type: "next" }],
      backlinks: [{ id: notes[49]!.id, title: "concurrent 49", type: "next" }],
      linkCount: 1,
      backlinkCount: 1,
    })
    const found = await after.invoke(ZettelCodex, { op: "search", query: '"concurrent 399"' })
    expect(found.op === "search" && found.hits[0]?.id).toBe(notes[399]!.id)
    expect(await w3.stop("SIGTERM")).toEqual({ code: 0, signal: null })
  })

  it("a worker process SIGKILLed in the middle of 300 adds loses no acknowledged note; a new process on the file recovers them", async () => {
    const { root, url, w1: victim, w2: survivor, watcher, client } = await twoWorkersOnOneFile()

    let issued = 0
    const outcomes = await inLanes(300, 16, async (i) => {
      // The hundredth add waits for the kill: w1 dies with up to 15 other adds of its own in flight.
      if (++issued === 100) await victim.stop("SIGKILL")
      return client.settle(ZettelCodex, { op: "add", title: `kill test ${i}`, body: "" })
    })
    const acknowledged = outcomes.flatMap((exit) => (Exit.isSuccess(exit) && exit.value.op === "add" ? [exit.value.note.id] : []))
    // The kill cost at most the requests w1 held (non-idempotent adds are not retried); w2 took the rest.
    expect(acknowledged.length).toBeGreaterThan(300 - 2 * 16)
    expect(await survivor.stop("SIGTERM")).toEqual({ code: 0, signal: null })

    // The file as the killed process left it (its WAL and shared-memory files included) opens and holds every note
    // that was acknowledged, each once; at most the few whose answer was lost with the process are there besides.
    const stored = idsInFile(join(root, "workers", "zettel", fileName))
    expect(new Set(stored).size).toBe(stored.length)
    expect(stored).toEqual(expect.arrayContaining(acknowledged))
    expect(stored.length).toBeLessThanOrEqual(300)

    const restarted = startWorker(url, root, "w3")
    await healthy(watcher, ["w3/zettel-1"])
    const after = await connectClient(url)
    clients.push(after)
    for (const id of [acknowledged[0]!, acknowledged[Math.floor(acknowledged.length / 2)]!, acknowledged.at(-1)!]) {
      expect(await after.invoke(ZettelCodex, { op: "get", id })).toMatchObject({ op: "get", note: { id } })
    }
    expect(await restarted.stop("SIGTERM")).toEqual({ code: 0, signal: null })
  })
})
