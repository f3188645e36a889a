/**
 * Where a worker keeps what must outlive a request: a model it trained, a database. Every worker gets a directory of
 * its own, `<root>/workers/<worker name>`; the root is `--data-dir`, else `CRANK_DATA_DIR`, else `.crank` in the
 * working directory. Replicas of one worker on a node share its directory (a database they all write, one cached
 * model), as replicas of a service share its volume.
 *
 * Nothing is created until a worker uses it: a worker with a `started` hook gets its directory made before the hook
 * runs, and a handler's `context.dataDir` makes it on first read, so a mesh of workers that keep nothing leaves no
 * directories behind.
 */
import { mkdirSync } from "node:fs"
import { join, resolve } from "node:path"

/** The data root when none is given: `CRANK_DATA_DIR`, else `.crank` in the working directory. */
export const defaultDataRoot = (): string => resolve(process.env.CRANK_DATA_DIR ?? ".crank")

/** The directory of the worker named `name` under `root`. */
export const workerDataDir = (root: string, name: string): string => join(resolve(root), "workers", name)

/** `dir`, made (with its parents) if it is missing. */
export const ensureDir = (dir: string): string => {
  mkdirSync(dir, { recursive: true })
  return dir
}
