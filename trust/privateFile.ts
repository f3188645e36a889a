/**
 * Files that hold secrets (the CA key, the token store): written so no other user can ever read a byte of them, and
 * read only when that is still true.
 *
 * - `writeFileAtomically(path, content, { mode, replace })`: the content goes to a fresh temporary file beside
 *   `path`, created with `mode` (`open(..., "wx", mode)` and an `fchmod`, so the umask cannot widen it and no
 *   content is written before the mode is set), flushed, then moved into place in one step: a rename when
 *   `replace` (readers see the old file or the new one, never half of one), a hard link otherwise (which fails
 *   with `file-exists` if `path` is there: a CA is never overwritten, even by a second process racing this one).
 * - `readPrivateFile(path)`: opens without following a symlink, then checks the open file (not the path, so it
 *   cannot be swapped between check and read): a regular file that group and others cannot read or write,
 *   else `file-exposed` with the `chmod` that fixes it.
 * - `ensurePrivateDirectory(dir)`: `mkdir -p` with mode 0700 for what it creates.
 *
 * All are synchronous inside `Effect.try`: they are small files read at start-up or per token operation.
 */

import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import { TrustError, trustError } from "./TrustError.ts"

export const privateMode = 0o600
export const publicMode = 0o644

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code

const ioError =
  (what: string, file: string) =>
  (error: unknown): TrustError => {
    if (error instanceof TrustError) return error
    if (codeOf(error) === "ENOENT") return trustError("file-missing", `${what}: ${file} does not exist`)
    return trustError("file-io", `${what}: ${file}: ${error instanceof Error ? error.message : String(error)}`)
  }

export const ensurePrivateDirectory = (dir: string): Effect.Effect<void, TrustError> =>
  Effect.try({ try: () => void fs.mkdirSync(dir, { recursive: true, mode: 0o700 }), catch: ioError("creating the directory", dir) })

export interface WriteOptions {
  readonly mode: number
  /** Replace an existing file (true), or fail with `file-exists` (false). */
  readonly replace: boolean
}

export const writeFileAtomically = (file: string, content: string, options: WriteOptions): Effect.Effect<void, TrustError> =>
  Effect.try({
    try: () => {
      const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`)
      const fd = fs.openSync(temporary, "wx", options.mode)
      try {
        fs.fchmodSync(fd, options.mode)
        fs.writeFileSync(fd, content)
        fs.fsyncSync(fd)
      } catch (error) {
        fs.closeSync(fd)
        fs.rmSync(temporary, { force: true })
        throw error
      }
      fs.closeSync(fd)
      try {
        if (options.replace) {
          fs.renameSync(temporary, file)
        } else {
          fs.linkSync(temporary, file)
        }
      } catch (error) {
        if (codeOf(error) === "EEXIST") throw trustError("file-exists", `${file} already exists; refusing to overwrite it`)
        throw error
      } finally {
        // After a rename there is nothing left to remove; after a link or a failure, the temporary name goes.
        fs.rmSync(temporary, { force: true })
      }
    },
    catch: ioError("writing", file),
  })

export const readPrivateFile = (file: string): Effect.Effect<string, TrustError> =>
  Effect.try({
    try: () => {
      const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
      try {
        const stat = fs.fstatSync(fd)
        if (!stat.isFile()) throw trustError("file-exposed", `${file} is not a regular file`)
        if ((stat.mode & 0o077) !== 0) {
          const mode = (stat.mode & 0o777).toString(8).padStart(4, "0")
          throw trustError("file-exposed", `${file} has mode ${mode}: group or others can read it; refusing to use it (fix: chmod 600 ${file})`)
        }
        return fs.readFileSync(fd, "utf8")
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (error) =>
      codeOf(error) === "ELOOP" ? trustError("file-exposed", `${file} is a symbolic link; refusing to follow it`) : ioError("reading", file)(error),
  })

export const readPublicFile = (file: string): Effect.Effect<string, TrustError> =>
  Effect.try({ try: () => fs.readFileSync(file, "utf8"), catch: ioError("reading", file) })

export const exists = (file: string): boolean => fs.existsSync(file)
