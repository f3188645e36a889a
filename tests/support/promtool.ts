/**
 * Runs `promtool check metrics` (Debian package `prometheus`) on Prometheus text: the format's own linter, so
 * `/metrics` is checked by the tool scrapers are built against rather than by our reading of the spec.
 * A missing promtool fails the test that needs it, with the command to install it: never a silent pass.
 */
import { spawnSync } from "node:child_process"

export const installPromtool = "install it: apt-get install -y --no-install-recommends prometheus"

export interface PromtoolResult {
  /** 0 when the text parses and lints clean. */
  readonly status: number | null
  /** What promtool printed (its complaints, one a line). */
  readonly output: string
}

export const promtoolCheck = (text: string): PromtoolResult => {
  const run = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20_000 })
  if (run.error !== undefined) {
    const missing = (run.error as NodeJS.ErrnoException).code === "ENOENT"
    throw new Error(missing ? `promtool is not installed; ${installPromtool}` : `promtool failed to run: ${run.error.message}`)
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() }
}
