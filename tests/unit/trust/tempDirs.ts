/** Temporary directories for the trust tests, under os.tmpdir(), removed after each test. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach } from "vitest"

export const useTempDirs = (): (() => string) => {
  const made: string[] = []
  afterEach(() => {
    for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crank-trust-"))
    made.push(dir)
    return dir
  }
}
