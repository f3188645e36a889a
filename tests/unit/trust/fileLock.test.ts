import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { withFileLock } from "../../../trust/fileLock.ts"
import { useTempDirs } from "./tempDirs.ts"

describe("withFileLock", () => {
  const tempDir = useTempDirs()

  it("holds the lock file, with this process's pid, only while the body runs, however it ends", async () => {
    const lock = path.join(tempDir(), "store.lock")
    const seen = await Effect.runPromise(
      withFileLock(
        lock,
        Effect.sync(() => fs.readFileSync(lock, "utf8")),
      ),
    )
    expect(seen).toBe(String(process.pid))
    expect(fs.existsSync(lock)).toBe(false)
    const failed = await Effect.runPromise(Effect.flip(withFileLock(lock, Effect.fail("boom"))))
    expect(failed).toBe("boom")
    expect(fs.existsSync(lock)).toBe(false)
    expect(fs.readdirSync(path.dirname(lock))).toEqual([])
  })

  it("takes over a lock left by a process that is gone", async () => {
    const lock = path.join(tempDir(), "store.lock")
    const gone = spawnSync(process.execPath, ["-e", ""]).pid
    fs.writeFileSync(lock, String(gone))
    expect(await Effect.runPromise(withFileLock(lock, Effect.succeed("ran")))).toBe("ran")
    expect(fs.existsSync(lock)).toBe(false)
  })

  it("waits for a live holder, a bounded number of times, then fails with store-busy and leaves its lock alone", async () => {
    const lock = path.join(tempDir(), "store.lock")
    fs.writeFileSync(lock, String(process.pid))
    const error = await Effect.runPromise(Effect.flip(withFileLock(lock, Effect.succeed("ran"), { retryMs: 1, maxAttempts: 3 })))
    expect(error._tag === "TrustError" && error.reason).toBe("store-busy")
    expect(fs.readFileSync(lock, "utf8")).toBe(String(process.pid))
  })

  it("runs once the live holder lets go", async () => {
    const lock = path.join(tempDir(), "store.lock")
    fs.writeFileSync(lock, String(process.pid))
    const release = setTimeout(() => fs.rmSync(lock), 30)
    try {
      expect(await Effect.runPromise(withFileLock(lock, Effect.succeed("ran"), { retryMs: 5, maxAttempts: 400 }))).toBe("ran")
    } finally {
      clearTimeout(release)
    }
  })
})
