/**
 * A lock file, so that two processes updating one file (the controller redeeming a token while `crank token create`
 * adds one) never lose each other's update: without it, a redeem and a create that overlap could write back a
 * single-use token's old count, and the token would work twice.
 *
 * `withFileLock(lockPath, body)` takes the lock, runs `body`, and releases it however `body` ends. Taking it is
 * one atomic step: a file holding this process's pid is hard-linked to `lockPath`, which fails if the path exists.
 * A lock whose pid is no longer running (a process that crashed holding it) is removed and taken. A lock held by a
 * live process is retried every `retryMs` (10 ms), at most `maxAttempts` (300) times, then `store-busy`.
 *
 * Within one process, callers serialise on their own first (a `Semaphore`): this lock is for other processes and
 * other store instances. Limits: the pid check means "on this host"; a store on a network filesystem shared by
 * several hosts is not supported. Removing a dead holder's lock can race with another waiter doing the same; the
 * window is one `unlink` wide and needs a crash to open.
 */

import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import { type TrustError, trustError } from "./TrustError.ts"

export interface LockOptions {
  readonly retryMs?: number
  readonly maxAttempts?: number
}

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return codeOf(error) === "EPERM"
  }
}

/** Takes the lock if it is free (or its holder is dead); `false` while a live process holds it. */
const tryTake = (lockPath: string): boolean => {
  const temporary = `${lockPath}.${randomBytes(6).toString("hex")}`
  fs.writeFileSync(temporary, String(process.pid), { mode: 0o600, flag: "wx" })
  try {
    fs.linkSync(temporary, lockPath)
    return true
  } catch (error) {
    if (codeOf(error) !== "EEXIST") throw error
    let holder: number
    try {
      holder = Number.parseInt(fs.readFileSync(lockPath, "utf8"), 10)
    } catch (readError) {
      // Released between our link and our read: free now, the next attempt takes it.
      if (codeOf(readError) === "ENOENT") return false
      throw readError
    }
    // Our locks always hold a pid (written before the link); anything else is not a live holder either.
    if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) return false
    fs.rmSync(lockPath, { force: true })
    try {
      fs.linkSync(temporary, lockPath)
      return true
    } catch (retryError) {
      if (codeOf(retryError) === "EEXIST") return false
      throw retryError
    }
  } finally {
    fs.rmSync(temporary, { force: true })
  }
}

const acquire = (lockPath: string, options: LockOptions): Effect.Effect<void, TrustError> =>
  Effect.gen(function* () {
    const maxAttempts = options.maxAttempts ?? 300
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const taken = yield* Effect.try({
        try: () => tryTake(lockPath),
        catch: (error) => trustError("file-io", `locking ${lockPath}: ${(error as Error).message}`),
      })
      if (taken) return
      if (attempt < maxAttempts) yield* Effect.sleep(options.retryMs ?? 10)
    }
    return yield* Effect.fail(trustError("store-busy", `${lockPath} stayed locked by a running process through ${maxAttempts} attempts`))
  })

export const withFileLock = <A, E, R>(lockPath: string, body: Effect.Effect<A, E, R>, options: LockOptions = {}): Effect.Effect<A, E | TrustError, R> =>
  Effect.acquireUseRelease(
    acquire(lockPath, options),
    () => body,
    () => Effect.sync(() => fs.rmSync(lockPath, { force: true })),
  )
