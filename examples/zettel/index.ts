/**
 * The zettel worker: `zettel.codex_repository@1.0.0`, a note repository in SQLite (see NoteRepository.ts). The
 * database is opened in `started`, before the worker registers, and closed in `stopped`, after it drained; handlers
 * find it by their data directory. Run it with `npx crank dev examples/zettel`.
 */
import { defineWorker, type ErrorsOf, type HandlerContext, implement } from "crank-mesh"
import { defaultLimit, ZettelCodex, type ZettelInput, type ZettelOutput } from "./capability.ts"
import { InvalidQuery, NoteNotFound, StoreBusy } from "./NoteRepository.ts"
import { acquire, lookup, release } from "./openRepositories.ts"

type Context = HandlerContext<ErrorsOf<typeof ZettelCodex>>

const run = (input: ZettelInput, context: Context): ZettelOutput => {
  const repository = lookup(context.dataDir)
  switch (input.op) {
    case "add":
      return { op: "add", note: repository.add({ title: input.title, body: input.body, tags: input.tags ?? [] }) }
    case "link": {
      if (input.from === input.to) throw context.error("INVALID_INPUT", "a note cannot link to itself")
      const { created } = repository.link(input.from, input.to, input.type)
      return { op: "link", from: input.from, to: input.to, ...(input.type === undefined ? {} : { type: input.type }), created }
    }
    case "get":
      return { op: "get", ...repository.get(input.id) }
    case "search":
      return { op: "search", hits: repository.search(input.query, input.limit ?? defaultLimit) }
    case "recent":
      return { op: "recent", notes: repository.recent(input.limit ?? defaultLimit) }
  }
}

/** The repository's failures as the capability's declared errors; anything else stays INTERNAL. */
const declared = (error: unknown, context: Context): unknown => {
  if (error instanceof NoteNotFound) return context.error("NOT_FOUND", `no note has id ${error.id}`)
  if (error instanceof InvalidQuery)
    return context.error("INVALID_INPUT", `the search query is not FTS5 syntax (${error.reason}); quote words that hold punctuation: "e-mail"`)
  if (error instanceof StoreBusy) return context.error("STORE_BUSY", `the note database stayed locked by another writer: ${error.reason}`)
  return error
}

export const codex = implement(ZettelCodex, (input, context): ZettelOutput => {
  try {
    return run(input, context)
  } catch (error) {
    throw declared(error, context)
  }
})

export default defineWorker({
  name: "zettel",
  implements: [codex],
  started: (worker) => {
    acquire(worker.dataDir)
  },
  stopped: (worker) => release(worker.dataDir),
})
