/**
 * Child processes for the scenarios that span two or three processes: a free loopback port, `node` spawned
 * (pinned to a core with `taskset` when asked), a bounded wait for its first line or for a condition, and a
 * stop that always happens: each scenario stops its own children, and every child still alive when this process
 * exits is killed.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

/** The repository's root: children run there. */
export const root = fileURLToPath(new URL("../../", import.meta.url))

export const tasksetPath = "/usr/bin/taskset"
/** `taskset` exists here: the harness passes `pin: true`. */
export const hasTaskset = (): boolean => existsSync(tasksetPath)

const alive = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of alive) child.kill("SIGKILL")
})

/** How many children spawned here are still running (the smoke test checks that none are left). */
export const aliveChildren = (): number => alive.size

/** A port free on 127.0.0.1 right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

export interface Child {
  readonly process: ChildProcess
  /** Everything it wrote to stdout and stderr so far (the last 8 KiB), for error messages. */
  readonly output: () => string
  /** Resolves with the first stdout line matching `pattern`, rejects after `timeoutMs` or when it exits. */
  readonly line: (pattern: RegExp, timeoutMs?: number) => Promise<string>
  /** SIGKILL, then waits (bounded) for it to exit. */
  readonly stop: () => Promise<void>
}

/**
 * `node args...` in the repository's root; pinned to `core` with taskset when `core` is given and taskset exists.
 */
export const spawnNode = (args: ReadonlyArray<string>, options: { readonly core?: number; readonly env?: Record<string, string> } = {}): Child => {
  const pinned = options.core !== undefined && hasTaskset()
  const command = pinned ? tasksetPath : process.execPath
  const argv = pinned ? ["-c", String(options.core), process.execPath, ...args] : [...args]
  const child = spawn(command, argv, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } })
  alive.add(child)
  let output = ""
  const waiters = new Set<() => void>()
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8_192)
    for (const waiter of waiters) waiter()
  }
  child.stdout?.on("data", append)
  child.stderr?.on("data", append)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.once("exit", () => {
    alive.delete(child)
    for (const waiter of waiters) waiter()
  })
  const line = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = output.split("\n").find((l) => pattern.test(l))
        if (found !== undefined) done(() => resolve(found))
        else if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`${args.join(" ")} exited: ${output}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`${args.join(" ")}: no line ${pattern} within ${timeoutMs} ms: ${output}`))), timeoutMs)
      const done = (settle: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))])
  }
  return { process: child, output: () => output, line, stop }
}

/**
 * Runs `body` with this process pinned to core 0 (its children spawned before keep their own affinity), then
 * restores its affinity. Without `pin` (or taskset), runs `body` as it is.
 */
export const pinnedToCore0 = async <A>(pin: boolean, body: () => Promise<A>): Promise<A> => {
  if (!pin || !hasTaskset()) return body()
  const before =
    execFileSync(tasksetPath, ["-pc", String(process.pid)], { encoding: "utf8" })
      .split(":")
      .pop()
      ?.trim() ?? "0"
  execFileSync(tasksetPath, ["-a", "-pc", "0", String(process.pid)], { stdio: "ignore" })
  try {
    return await body()
  } finally {
    execFileSync(tasksetPath, ["-a", "-pc", before, String(process.pid)], { stdio: "ignore" })
  }
}

/**
 * Waits (at most `timeoutMs`) until dist/ is built: `crank` processes run it, and in this shared working tree
 * another `npm test` or `npm run build` may be rebuilding it (it deletes dist/ first) when a scenario starts.
 */
export const awaitBuild = (timeoutMs = 60_000): Promise<void> =>
  waitUntil("dist/ (npm run build)", async () => existsSync(`${root}dist/src/cli/main.js`) && existsSync(`${root}dist/src/index.js`), timeoutMs, 250)

/** Polls `probe` every `everyMs` until it resolves truthy, at most `timeoutMs`. */
export const waitUntil = async (what: string, probe: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 100): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await probe()) return
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms${last === undefined ? "" : `: ${String(last)}`}`)
}
