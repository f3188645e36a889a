/**
 * A real `nats-server` (Debian's package `nats-server`) for the interop tier: started on 127.0.0.1 on a free port,
 * waited for until it says it is ready, and killed after. A missing program fails the test that needs it with the
 * command that installs it: never a silent skip.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createConnection } from "node:net"
import { freePort } from "./processes.ts"

export const installNatsServer = "apt-get update && apt-get install -y --no-install-recommends nats-server"

/** Throws, with the install command, unless `nats-server` runs; gives its version line. */
export const requireNatsServer = (): string => {
  const run = spawnSync("nats-server", ["--version"], { encoding: "utf8", timeout: 20_000 })
  if (run.error !== undefined) {
    const missing = (run.error as NodeJS.ErrnoException).code === "ENOENT"
    throw new Error(
      missing
        ? `nats-server is not installed (Debian package nats-server); install it (as root): ${installNatsServer}`
        : `nats-server failed to run: ${run.error.message}`,
    )
  }
  return `${run.stdout}${run.stderr}`.trim()
}

export interface NatsServer {
  readonly port: number
  /** `nats://127.0.0.1:<port>`: append `/<name>` for a listener's address. */
  readonly url: string
  readonly pid: number
  /** What it printed so far (its log goes to stderr). */
  readonly output: () => string
  /** SIGKILLs it (a crash: no goodbye to its clients) and waits for the exit. */
  readonly kill: () => Promise<void>
  /** SIGTERMs it and waits, SIGKILLing it if it outlives `timeoutMs`. Idempotent. */
  readonly stop: (timeoutMs?: number) => Promise<void>
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export interface StartOptions {
  /** The port to listen on: a free one unless given (a restart on the port of a server that died). */
  readonly port?: number
  /** More arguments for nats-server. */
  readonly args?: ReadonlyArray<string>
  /** How long it may take to be ready. Default 15 s. */
  readonly timeoutMs?: number
}

/**
 * Starts `nats-server -a 127.0.0.1 -p <port>`, and resolves once it logs "Server is ready" and accepts connections
 * (at most `timeoutMs`). Rejects, with its output, if it exits or is not ready in time.
 */
export const startNatsServer = async (options: StartOptions = {}): Promise<NatsServer> => {
  requireNatsServer()
  const port = options.port ?? (await freePort("127.0.0.1"))
  const timeoutMs = options.timeoutMs ?? 15_000
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), ...(options.args ?? [])], { stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  // If the test runner dies first, the server must not outlive it.
  const killOnExit = () => child.kill("SIGKILL")
  process.once("exit", killOnExit)
  const gone = exited(child).then(() => {
    process.removeListener("exit", killOnExit)
  })

  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output.slice(-2_000)}`)
    }
    if (output.includes("Server is ready") && (await accepts(port))) break
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`nats-server was not ready on 127.0.0.1:${port} within ${timeoutMs} ms:\n${output.slice(-2_000)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }

  const stop = async (stopTimeoutMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return gone
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs)
    await gone
    clearTimeout(timer)
  }
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid!,
    output: () => output,
    kill: async () => {
      child.kill("SIGKILL")
      await gone
    },
    stop,
  }
}
