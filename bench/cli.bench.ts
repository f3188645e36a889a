/**
 * The command line as whole processes: what a user waits for when they type `crank --help` or one `crank invoke`
 * against a running controller (Node's start-up, loading the built CLI, dialling, the request, a clean close).
 *
 *   npm run build && npx tsx bench/cli.bench.ts      (CRANK_BENCH_RUNS=15 runs of each by default)
 *
 * A `crank dev` (controller and two hello workers) runs in its own process on a free 127.0.0.1 port; each
 * measured command is spawned with `node bin/crank.js`, the executable `npx crank` runs. The anchor is a bare
 * `node -e 0` in the same run, so the rows can be read against the machine's own process start-up. Bounded:
 * a fixed number of runs, each with a timeout.
 */
import { execFileSync, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const runs = Number(process.env.CRANK_BENCH_RUNS ?? 15)

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** Wall time of `node <args>` to completion, in ms, `runs` times; the process must exit 0. */
const time = (args: ReadonlyArray<string>): Array<number> => {
  const samples: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    execFileSync(process.execPath, [...args], { cwd: root, stdio: "ignore", timeout: 30_000 })
    samples.push(performance.now() - started)
  }
  return samples.sort((a, b) => a - b)
}

const at = (sorted: ReadonlyArray<number>, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const port = await freePort()
const controller = `ws://127.0.0.1:${port}`
const dev = spawn(process.execPath, ["bin/crank.js", "dev", "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
await new Promise<void>((resolve, reject) => {
  let out = ""
  const timer = setTimeout(() => reject(new Error(`crank dev did not start:\n${out}`)), 30_000)
  dev.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk
    if (out.includes("crank dev: controller on")) {
      clearTimeout(timer)
      resolve()
    }
  })
})

try {
  const rows = [
    { command: "node -e 0 (anchor: process start-up)", samples: time(["-e", "0"]) },
    { command: "crank --help", samples: time(["bin/crank.js", "--help"]) },
    {
      command: "crank invoke hello.greet (running controller)",
      samples: time(["bin/crank.js", "invoke", "hello.greet", '{"message":"bench"}', "--controller", controller]),
    },
  ]
  const anchor = at(rows[0]!.samples, 0.5)
  console.log(`| command | median ms | p90 ms | median ÷ anchor |`)
  console.log(`|---|---:|---:|---:|`)
  for (const { command, samples } of rows) {
    console.log(`| ${command} | ${at(samples, 0.5).toFixed(0)} | ${at(samples, 0.9).toFixed(0)} | ${(at(samples, 0.5) / anchor).toFixed(1)}× |`)
  }
} finally {
  dev.kill("SIGTERM")
}
