/**
 * A request through a remote controller over NATS, beside the ws rows of crank.ts: a client here calls controller
 * c1, which has no worker for `hello.greet` and forwards it over NATS (docs/federation.md) to controller c2, whose
 * `crank worker examples/hello` serves it. Five processes: nats-server, two `crank controller --federation`, the
 * worker, and this one. Needs Debian's `nats-server`: without it the scenario fails at once saying how to install
 * it (never a silent skip).
 */
import { spawnSync } from "node:child_process"
import { Client, Transport, WebSocketTransport, withTunables } from "crank-mesh"
import { Effect, References, Schedule } from "effect"
import { HelloGreet } from "../../examples/hello/capability.ts"
import { concurrentEffect, greetInput, sequentialEffect } from "../harness/measure.ts"
import { awaitBuild, freePort, pinnedToCore0, spawnNode } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"
import { start, stopAll } from "./childProcesses.ts"

type Mode = "sequential" | "concurrent"

/** Fails at once, saying how to install it, when Debian's nats-server is missing. */
export const requireNatsServer = (): void => {
  const run = spawnSync("nats-server", ["--version"], { encoding: "utf8", timeout: 20_000 })
  if (run.error !== undefined) {
    throw new Error(
      `the federation bench needs nats-server (Debian package nats-server): apt-get install -y --no-install-recommends nats-server (${run.error.message})`,
    )
  }
}

const throughRemoteController = async (mode: Mode, { seconds, pin }: RunOptions): Promise<Figures> => {
  requireNatsServer()
  await awaitBuild()
  const [natsPort, port1, port2] = [await freePort(), await freePort(), await freePort()]
  const natsUrl = `nats://127.0.0.1:${natsPort}`
  const nats = start("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)])
  const env = { CRANK_HEARTBEAT_MS: "1000" }
  const controllerArgs = (id: string, port: number) =>
    ["bin/crank.js", "controller", "--insecure", "--port", String(port), "--federation", natsUrl, "--controller-id", id] as const
  const crank: Array<ReturnType<typeof spawnNode>> = []
  try {
    await nats.waitFor("Server is ready", 15_000)
    crank.push(spawnNode(controllerArgs("c1", port1), { env }), spawnNode(controllerArgs("c2", port2), { env }))
    crank.push(
      spawnNode(["bin/crank.js", "worker", "examples/hello", "--insecure", "--controller", `ws://127.0.0.1:${port2}`], { env, ...(pin ? { core: 1 } : {}) }),
    )
    await Promise.all(crank.slice(0, 2).map((c) => c.line(/federation c\d: joined/, 30_000)))
    const program = Effect.gen(function* () {
      const client = yield* Client.make({ controller: `ws://127.0.0.1:${port1}`, direct: false })
      const call = () => client.invoke(HelloGreet, greetInput)
      // Bounded wait for the worker to register at c2 and c1 to learn of it: at most 300 tries, 100 ms apart.
      yield* call().pipe(Effect.retry(Schedule.spaced(100).pipe(Schedule.upTo({ times: 300 }))))
      return yield* mode === "sequential" ? sequentialEffect(call, seconds) : concurrentEffect(call, seconds)
    }).pipe(
      Effect.scoped,
      Effect.provideService(Transport, WebSocketTransport.make()),
      withTunables({ heartbeatIntervalMs: 1_000 }),
      Effect.provideService(References.MinimumLogLevel, "Warn"),
    )
    return await pinnedToCore0(pin, () => Effect.runPromise(program))
  } catch (error) {
    throw new Error(`${String(error)}\n${crank.map((c) => c.output()).join("\n---\n")}\nnats: ${nats.output()}`)
  } finally {
    await Promise.all(crank.map((c) => c.stop()))
    await stopAll([nats])
  }
}

export const federationScenarios: ReadonlyArray<Scenario> = (
  [
    ["sequential", "sequential"],
    ["concurrent", "256 in flight"],
  ] as const
).map(
  ([mode, label]): Scenario => ({
    id: `crank.nats.remote-controller.${mode}`,
    requires: "nats-server",
    group: "across processes",
    label: `Crank, through a remote controller over NATS (client → c1 → nats-server → c2 → worker), 5 processes, ${label}`,
    run: (options) => throughRemoteController(mode, options),
  }),
)
