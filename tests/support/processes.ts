/**
 * Running the `crank` CLI as real processes in tests: spawn, watch output, wait with a bounded deadline, and
 * make sure every process dies with the test that started it, pass or fail.
 *
 * Processes run as `node bin/crank.js ...`: the executable users get from `npx crank`, which registers tsx's
 * loader in its own process. Not `node_modules/.bin/tsx src/cli/main.ts`: that starts a launcher which runs the
 * program in a second, child `node`, and a SIGKILL to the launcher leaves that child running (orphaned, still
 * holding its port), so a test could neither kill a worker for real nor clean up. It is also ~0.5 s slower.
 *
 * `useProcesses()` registers vitest hooks: processes started inside a test are SIGKILLed after it, those started
 * in `beforeAll` after the file; a process-exit hook kills whatever is left if the runner itself goes down.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, beforeEach } from "vitest"

/** The repository root: the CLI resolves worker modules (examples/hello) against it. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface CrankProcess {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly child: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>
  /** The exit status, once it has exited. */
  readonly exitStatus: () => ExitStatus | undefined
  /**
   * Resolves with the first line of stdout or stderr that matches, waiting at most `timeoutMs`; rejects on the
   * deadline or when the process exits first, with what it printed.
   */
  readonly waitForLine: (pattern: string | RegExp, timeoutMs?: number) => Promise<string>
  /** Sends `signal` and waits (bounded) for the exit; SIGKILLs it if it outlives the deadline, then rejects. */
  readonly stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<ExitStatus>
}

export interface RunResult extends ExitStatus {
  readonly stdout: string
  readonly stderr: string
  readonly durationMs: number
}

export interface StartOptions {
  /** `CRANK_*` (or other) variables for this process; the parent's `CRANK_*` variables are never inherited. */
  readonly env?: Readonly<Record<string, string>>
  /** For messages; defaults to the command and its first argument. */
  readonly name?: string
  /**
   * The program and its first arguments, before `args`: default `node bin/crank.js` in the repository (what
   * `npx crank` runs). A test of an installed package passes its `node_modules/.bin/crank`, or `npm start`.
   */
  readonly command?: ReadonlyArray<string>
  /** Working directory; default the repository root. */
  readonly cwd?: string
}

const describeProcess = (p: { name: string; pid: number | undefined; stdout: string; stderr: string }) =>
  `${p.name} (pid ${p.pid})\n--- stdout ---\n${p.stdout.slice(-4_000)}\n--- stderr ---\n${p.stderr.slice(-4_000)}`

const environment = (extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("CRANK_")) env[key] = value
  // Colours and TTY probing would only add noise to matched lines.
  env.NO_COLOR = "1"
  return { ...env, ...extra }
}

const matches = (line: string, pattern: string | RegExp) => (typeof pattern === "string" ? line.includes(pattern) : pattern.test(line))

/** Every live process this test file started, so the exit hook can kill them. */
const live = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // A synchronous last resort: if the runner exits without running afterAll, leave nothing behind.
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL")
  })
}

/** Starts `crank <args>` with stdout and stderr captured. Prefer `useProcesses().start`, which cleans up. */
export const startCrank = (args: ReadonlyArray<string>, options: StartOptions = {}): CrankProcess => {
  installExitHook()
  const name = options.name ?? `crank ${args.slice(0, 2).join(" ")}`
  const [program, ...prefix] = options.command ?? [process.execPath, "bin/crank.js"]
  const child = spawn(program!, [...prefix, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: environment(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  })
  live.add(child)
  let stdout = ""
  let stderr = ""
  let status: ExitStatus | undefined
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const listener of [...listeners]) listener()
  }
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    notify()
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
    notify()
  })
  const exited = new Promise<ExitStatus>((resolve) => {
    // "close" comes after both pipes have ended, so everything printed has been captured by then.
    child.on("close", (code, signal) => {
      status = { code, signal }
      live.delete(child)
      resolve(status)
      notify()
    })
    child.on("error", (error) => {
      stderr += `\n[spawn error] ${error.message}`
      status = { code: null, signal: null }
      live.delete(child)
      resolve(status)
      notify()
    })
  })
  const snapshot = () => ({ name, pid: child.pid, stdout, stderr })

  const waitForLine = (pattern: string | RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const line = `${stdout}\n${stderr}`.split("\n").find((l) => matches(l, pattern))
        if (line !== undefined) return done(() => resolve(line))
        if (status !== undefined) {
          return done(() => reject(new Error(`${name} exited (${JSON.stringify(status)}) before printing ${pattern}\n${describeProcess(snapshot())}`)))
        }
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms\n${describeProcess(snapshot())}`))),
        timeoutMs,
      )
      const done = (settle: () => void) => {
        clearTimeout(timer)
        listeners.delete(check)
        settle()
      }
      listeners.add(check)
      check()
    })

  const stop = async (signal: NodeJS.Signals = "SIGKILL", timeoutMs = 10_000): Promise<ExitStatus> => {
    if (status !== undefined) return status
    child.kill(signal)
    let timer: ReturnType<typeof setTimeout> | undefined
    const outcome = await Promise.race([exited, new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)))])
    clearTimeout(timer)
    if (outcome !== "late") return outcome
    child.kill("SIGKILL")
    await exited
    throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}; killed\n${describeProcess(snapshot())}`)
  }

  return {
    name,
    args,
    child,
    pid: child.pid ?? -1,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    exitStatus: () => status,
    waitForLine,
    stop,
  }
}

export interface Processes {
  /** Starts a long-running `crank` process, killed after the current test (or after the file, from `beforeAll`). */
  readonly start: (args: ReadonlyArray<string>, options?: StartOptions) => CrankProcess
  /** Runs `crank <args>` to completion within `timeoutMs` (then SIGKILLs it and rejects). */
  readonly run: (args: ReadonlyArray<string>, options?: StartOptions & { readonly timeoutMs?: number }) => Promise<RunResult>
  /** SIGKILLs every process started so far that is still running, and waits for them to exit. */
  readonly killAll: () => Promise<void>
}

const killEach = async (processes: Iterable<CrankProcess>): Promise<void> => {
  await Promise.all([...processes].map((p) => p.stop("SIGKILL", 5_000).catch(() => undefined)))
}

/** Registers the hooks that kill every process a test (or the file) started; call it once per file, at top level. */
export const useProcesses = (): Processes => {
  const all: Array<CrankProcess> = []
  // Processes started before the first test (beforeAll) live for the file; the rest, for their test.
  let testStart: number | undefined
  beforeEach(() => {
    testStart = all.length
  })
  afterEach(async () => {
    const mine = all.slice(testStart ?? all.length)
    testStart = undefined
    await killEach(mine)
  })
  afterAll(async () => {
    await killEach(all)
  })

  const start = (args: ReadonlyArray<string>, options?: StartOptions): CrankProcess => {
    const p = startCrank(args, options)
    all.push(p)
    return p
  }

  const run = async (args: ReadonlyArray<string>, options: StartOptions & { readonly timeoutMs?: number } = {}): Promise<RunResult> => {
    const began = performance.now()
    const p = start(args, options)
    const timeoutMs = options.timeoutMs ?? 15_000
    let timer: ReturnType<typeof setTimeout> | undefined
    const outcome = await Promise.race([p.exited, new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)))])
    clearTimeout(timer)
    if (outcome === "late") {
      await p.stop("SIGKILL")
      throw new Error(`crank ${args.join(" ")} did not finish within ${timeoutMs} ms\n--- stdout ---\n${p.stdout()}\n--- stderr ---\n${p.stderr()}`)
    }
    return { ...outcome, stdout: p.stdout(), stderr: p.stderr(), durationMs: performance.now() - began }
  }

  return { start, run, killAll: () => killEach(all) }
}

/** A port that was free a moment ago on `host`: listen on port 0, read the port, close. */
export const freePort = (host = "127.0.0.1"): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error(`no port from ${String(address)}`))
      server.close(() => resolve(address.port))
    })
  })
