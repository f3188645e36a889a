/**
 * What the scale, failure detection and command line scenarios share: spawning `crank` (and helper) processes
 * that always die with the scenario, pinning them with `taskset`, reading a process's CPU time and RSS from
 * /proc, a free 127.0.0.1 port, plain HTTP GETs with a deadline, and percentiles.
 *
 * Every child is tracked: `Children.killAll()` SIGKILLs what is left (call it in `finally`), and a process-exit
 * hook does the same if the bench itself goes down.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { get } from "node:http"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

/** The repository root: the CLI resolves examples/hello against it, and `bin/crank.js` lives there. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

/** Linux's USER_HZ: /proc reports CPU time in these ticks (100 on every Linux Node supports). */
const ticksPerSecond = 100

const live = new Set<ChildProcess>()
let exitHookInstalled = false

export interface SpawnOptions {
  /** Pin to this core with `taskset -c` (when given). */
  readonly core?: number | undefined
  /** Raise the soft open-files limit to this first (through `bash -c "ulimit -n N && exec ..."`). */
  readonly openFiles?: number | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  /** A process group of its own, signalled whole (for launchers such as `npm start` that leave a child behind). */
  readonly detached?: boolean | undefined
}

export interface Child {
  readonly child: ChildProcess
  /** The pid of the program itself: `bash`, `taskset` and `node` replace one another with `exec`. */
  readonly pid: number
  readonly output: () => string
  /** Whether it has exited (or failed to start). */
  readonly hasExited: () => boolean
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly at: number }>
  readonly waitFor: (pattern: string | RegExp, timeoutMs: number) => Promise<string>
  readonly kill: (signal?: NodeJS.Signals) => void
}

/** Sends `sig` to the child, or to its whole process group when it leads one (spawned `detached`). */
const signal = (child: ChildProcess, sig: NodeJS.Signals): void => {
  try {
    if (groupLeaders.has(child) && child.pid !== undefined) process.kill(-child.pid, sig)
    else child.kill(sig)
  } catch {
    // Already gone.
  }
}
const groupLeaders = new WeakSet<ChildProcess>()

const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`

/** The environment for a child: no `CRANK_*` from the bench's own, no colours. */
const environment = (extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("CRANK_")) env[key] = value
  env.NO_COLOR = "1"
  return { ...env, ...extra }
}

/** Starts `program args` in the repository root, stdout and stderr captured, stdin a pipe held open. */
export const start = (program: string, args: ReadonlyArray<string>, options: SpawnOptions = {}): Child => {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on("exit", () => {
      for (const child of live) signal(child, "SIGKILL")
    })
  }
  let command = [program, ...args]
  if (options.core !== undefined) command = ["taskset", "-c", String(options.core), ...command]
  if (options.openFiles !== undefined)
    command = ["bash", "-c", `ulimit -n ${options.openFiles} 2>/dev/null || ulimit -n hard; exec ${command.map(quote).join(" ")}`]
  const child = spawn(command[0]!, command.slice(1), {
    cwd: repoRoot,
    env: environment(options.env),
    stdio: ["pipe", "pipe", "pipe"],
    detached: options.detached === true,
  })
  live.add(child)
  if (options.detached === true) groupLeaders.add(child)
  let output = ""
  const listeners = new Set<() => void>()
  const onData = (chunk: string) => {
    // Keep the tail only: a long run prints progress lines.
    output = (output + chunk).slice(-64_000)
    for (const listener of [...listeners]) listener()
  }
  child.stdout!.setEncoding("utf8").on("data", onData)
  child.stderr!.setEncoding("utf8").on("data", onData)
  child.stdin!.on("error", () => undefined)
  let status: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once("exit", (code, signal) => {
      status = { code, signal, at: performance.now() }
      live.delete(child)
      resolve(status)
      for (const listener of [...listeners]) listener()
    })
    child.once("error", (error) => {
      output += `\n[spawn error] ${error.message}`
      status = { code: null, signal: null, at: performance.now() }
      live.delete(child)
      resolve(status)
      for (const listener of [...listeners]) listener()
    })
  })
  const waitFor = (pattern: string | RegExp, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const line = output.split("\n").find((l) => (typeof pattern === "string" ? l.includes(pattern) : pattern.test(l)))
        if (line !== undefined) return done(() => resolve(line))
        if (status !== undefined) return done(() => reject(new Error(`${command.join(" ")} exited before printing ${pattern}:\n${output.slice(-2_000)}`)))
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`${command.join(" ")} did not print ${pattern} in ${timeoutMs} ms:\n${output.slice(-2_000)}`))),
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
  return {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    hasExited: () => status !== undefined,
    exited,
    waitFor,
    kill: (sig = "SIGKILL") => {
      if (status === undefined) signal(child, sig)
    },
  }
}

/** Starts `node bin/crank.js args`. */
export const startCrank = (args: ReadonlyArray<string>, options: SpawnOptions = {}): Child => start(process.execPath, ["bin/crank.js", ...args], options)

/** SIGKILLs each child still running and waits (at most 5 s each) for it to go. */
export const stopAll = async (children: ReadonlyArray<Child>): Promise<void> => {
  await Promise.all(
    children.map(async (c) => {
      c.kill("SIGKILL")
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([c.exited, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))])
      clearTimeout(timer)
    }),
  )
}

/** A port that was free a moment ago on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error("no port"))
      server.close(() => resolve(address.port))
    })
  })

/** The body of `GET url` when the status is 200; rejects otherwise or after `timeoutMs`. */
export const httpGet = (url: string, timeoutMs: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const request = get(url, { timeout: timeoutMs }, (response) => {
      let body = ""
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
      response.on("end", () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${response.statusCode}`))))
      response.on("error", reject)
    })
    request.on("timeout", () => request.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)))
    request.on("error", reject)
  })

/** Polls `probe` every `everyMs` until it returns true or `timeoutMs` passes; resolves with whether it did. */
export const until = async (probe: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  for (let i = 0; i < 100_000 && performance.now() < deadline; i++) {
    if (await probe().catch(() => false)) return true
    await sleep(everyMs)
  }
  return false
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** User plus system CPU time the process has used, in ms (from /proc/<pid>/stat). */
export const cpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1_000) / ticksPerSecond
}

/** Resident set size in bytes (VmRSS from /proc/<pid>/status). */
export const rssBytes = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match === null ? Number.NaN : Number(match[1]) * 1_024
}

/** The value at fraction `p` of the samples (nearest rank), e.g. 0.5 and 0.9. */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))] ?? Number.NaN
}

/** `crank_workers{state="healthy"} 12` from the controller's /metrics, as a number (0 when absent). */
export const healthyWorkers = async (httpBase: string, timeoutMs = 5_000): Promise<number> => {
  const metrics = await httpGet(`${httpBase}/metrics`, timeoutMs)
  const match = /^crank_workers\{state="healthy"\} (\d+)/m.exec(metrics)
  return match === null ? 0 : Number(match[1])
}

/**
 * Waits (at most `timeoutMs`) until the controller `child` answers `GET /healthz` on `httpBase`; throws with
 * what it printed when it does not, or as soon as it exits.
 */
export const awaitControllerUp = async (controller: Child, httpBase: string, timeoutMs = 15_000): Promise<void> => {
  const up = await until(
    async () => {
      if (controller.hasExited()) return true
      return httpGet(`${httpBase}/healthz`, 1_000).then(() => true)
    },
    timeoutMs,
    50,
  )
  if (controller.hasExited()) throw new Error(`the controller exited at start-up: ${controller.output().slice(-1_000)}`)
  if (!up) throw new Error(`the controller did not answer /healthz within ${timeoutMs} ms: ${controller.output().slice(-1_000)}`)
}
