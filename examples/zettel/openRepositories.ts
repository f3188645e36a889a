/**
 * The repositories open in this process, one per data directory. Several instances of the worker can live in one
 * process (two meshes in a test, `--replicas`): each finds its own database by its data directory, and replicas that
 * share a directory share one connection, closed when the last of them stops.
 */
import { type NoteRepository, open } from "./NoteRepository.ts"

interface Entry {
  readonly repository: NoteRepository
  users: number
}

const byDataDir = new Map<string, Entry>()

/** Opens the repository of `dataDir`, or counts one more user of the one already open. */
export const acquire = (dataDir: string): NoteRepository => {
  const entry = byDataDir.get(dataDir)
  if (entry !== undefined) {
    entry.users++
    return entry.repository
  }
  const repository = open(dataDir)
  byDataDir.set(dataDir, { repository, users: 1 })
  return repository
}

/** One user fewer of `dataDir`'s repository; the last one closes it. */
export const release = (dataDir: string): void => {
  const entry = byDataDir.get(dataDir)
  if (entry === undefined) return
  entry.users--
  if (entry.users > 0) return
  byDataDir.delete(dataDir)
  entry.repository.close()
}

/** The repository a started worker opened for `dataDir`. */
export const lookup = (dataDir: string): NoteRepository => {
  const entry = byDataDir.get(dataDir)
  if (entry === undefined) throw new Error(`no note repository is open for ${dataDir}: the worker's started hook has not run`)
  return entry.repository
}
