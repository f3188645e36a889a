/**
 * Crank's request path, measured as the anchors are (bench/scenarios/anchors.ts), with the same payload, through
 * the public API only: in one process (client → route → schema-checked handler → result) through the Effect
 * client and the Promise facade; across processes, a client here calling a `crank worker examples/hello` process
 * directly (a `crank controller` process in a third, idle on that path), and the same through the controller's
 * relay. The package is imported by name, as users do: under `npm run bench` that is the built `dist/`, the code
 * the `crank` processes run too.
 */
import { Client, Mesh, startMesh, Transport, WebSocketTransport, withTunables } from "crank-mesh"
import { Effect, References, Schedule } from "effect"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"
import { concurrentAsync, concurrentEffect, greetInput, sequentialAsync, sequentialEffect } from "../harness/measure.ts"
import { awaitBuild, freePort, pinnedToCore0, spawnNode } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"

type Mode = "sequential" | "concurrent"
const modes: ReadonlyArray<readonly [Mode, string]> = [
  ["sequential", "sequential"],
  ["concurrent", "256 in flight"],
]

const measureEffect = <E>(mode: Mode, call: () => Effect.Effect<unknown, E>, seconds: number) =>
  mode === "sequential" ? sequentialEffect(call, seconds) : concurrentEffect(call, seconds)

const quiet = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))

/** `Mesh.start` then `mesh.client.invoke(HelloGreet, input)`, in one fiber or 256. */
const inProcessEffect = (mode: Mode, { seconds }: RunOptions): Promise<Figures> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const mesh = yield* Mesh.start({ workers: [hello] })
      return yield* measureEffect(mode, () => mesh.client.invoke(HelloGreet, greetInput), seconds)
    }).pipe(Effect.scoped, quiet),
  )

/** `startMesh` then `await mesh.invoke(HelloGreet, input)`. */
const inProcessPromise = async (mode: Mode, { seconds }: RunOptions): Promise<Figures> => {
  const mesh = await startMesh({ workers: [hello] })
  try {
    const call = () => mesh.invoke(HelloGreet, greetInput)
    return await (mode === "sequential" ? sequentialAsync(call, seconds) : concurrentAsync(call, seconds))
  } finally {
    await mesh.stop()
  }
}

/**
 * A `crank controller` process and a `crank worker examples/hello` process (pinned to core 1 with `pin`; the
 * controller is left to the scheduler), and a client in this process (pinned to core 0 while it measures).
 */
const acrossProcesses = async (mode: Mode, direct: boolean, { seconds, pin }: RunOptions): Promise<Figures> => {
  await awaitBuild()
  const port = await freePort()
  const controllerUrl = `ws://127.0.0.1:${port}`
  const env = { CRANK_HEARTBEAT_MS: "1000" }
  const controller = spawnNode(["bin/crank.js", "controller", "--insecure", "--host", "127.0.0.1", "--port", String(port)], { env })
  const worker = spawnNode(["bin/crank.js", "worker", "examples/hello", "--controller", controllerUrl, "--listen", "ws://127.0.0.1:0"], {
    env,
    ...(pin ? { core: 1 } : {}),
  })
  try {
    await controller.line(/listening on/)
    const program = Effect.gen(function* () {
      const client = yield* Client.make({ controller: controllerUrl, direct })
      const call = () => client.invoke(HelloGreet, greetInput)
      // Bounded wait for the worker to register and its route to be known: at most 150 tries, 100 ms apart.
      yield* call().pipe(Effect.retry(Schedule.spaced(100).pipe(Schedule.upTo({ times: 150 }))))
      return yield* measureEffect(mode, call, seconds)
    }).pipe(Effect.scoped, Effect.provideService(Transport, WebSocketTransport.make()), withTunables({ heartbeatIntervalMs: 1_000 }), quiet)
    return await pinnedToCore0(pin, () => Effect.runPromise(program))
  } catch (error) {
    throw new Error(`${String(error)}\ncontroller: ${controller.output()}\nworker: ${worker.output()}`)
  } finally {
    await Promise.all([worker.stop(), controller.stop()])
  }
}

export const crank: ReadonlyArray<Scenario> = [
  ...modes.map(
    ([mode, label]): Scenario => ({
      id: `crank.memory.effect.${mode}`,
      group: "in process",
      label: `Crank, Effect client (Mesh.start), ${label}`,
      run: (options) => inProcessEffect(mode, options),
    }),
  ),
  ...modes.map(
    ([mode, label]): Scenario => ({
      id: `crank.memory.promise.${mode}`,
      group: "in process",
      label: `Crank, Promise facade (startMesh), ${label}`,
      run: (options) => inProcessPromise(mode, options),
    }),
  ),
  ...modes.map(
    ([mode, label]): Scenario => ({
      id: `crank.ws.direct.${mode}`,
      group: "across processes",
      label: `Crank, client → worker direct, 3 processes, ${label}`,
      run: (options) => acrossProcesses(mode, true, options),
    }),
  ),
  ...modes.map(
    ([mode, label]): Scenario => ({
      id: `crank.ws.relay.${mode}`,
      group: "across processes",
      label: `Crank, through the controller's relay, 3 processes, ${label}`,
      run: (options) => acrossProcesses(mode, false, options),
    }),
  ),
]
