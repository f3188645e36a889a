/**
 * The Debian programs the interop tier (`npm run test:interop`, tests/interop/) is judged by: `promtool check
 * metrics` (the exposition format's own linter) and the `prometheus` server, both from the Debian package
 * `prometheus`. `npm test` never needs them. A missing program fails the test that needs it, with the exact
 * command to install it: never a silent pass.
 */
import { spawnSync } from "node:child_process"

export const installPrometheus = "apt-get update && apt-get install -y --no-install-recommends prometheus"

/** Throws, with the install command, unless `program` (promtool or prometheus) runs. */
export const requireProgram = (program: "promtool" | "prometheus"): string => {
  const run = spawnSync(program, ["--version"], { encoding: "utf8", timeout: 20_000 })
  if (run.error !== undefined) {
    const missing = (run.error as NodeJS.ErrnoException).code === "ENOENT"
    throw new Error(
      missing
        ? `${program} is not installed (Debian package prometheus); install it (as root): ${installPrometheus}`
        : `${program} failed to run: ${run.error.message}`,
    )
  }
  return `${run.stdout}${run.stderr}`.split("\n")[0]!
}

export interface PromtoolResult {
  /** 0 when the text parses and lints clean. */
  readonly status: number | null
  /** What promtool printed (its complaints, one a line). */
  readonly output: string
}

/** `promtool check metrics` on `text`. */
export const promtoolCheck = (text: string): PromtoolResult => {
  requireProgram("promtool")
  const run = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20_000 })
  if (run.error !== undefined) throw new Error(`promtool failed to run: ${run.error.message}`)
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() }
}
