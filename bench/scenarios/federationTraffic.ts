/**
 * Controller traffic on the federation's subjects with 3 controllers and 1,000 workers (issue 14): what each
 * controller sends and receives over NATS while its workers join and once they are idle. The three controllers run
 * in this process on ws://127.0.0.1:0, federated through a nats-server of their own (default federation timings: 1 s
 * Alive, 250 ms delta check); each controller's workers run as one `crank worker examples/hello --replicas N/3`
 * process, as they would be deployed, beating every 5 s (the production default is 30 s). The smoke test runs it with
 * 30 workers and short windows. Counts come from `Federation.traffic()`; figures are per controller (the mean of the
 * three). Needs Debian's nats-server (`requires`).
 */
import { Effect, References } from "effect"
import * as Controller from "../../actors/Controller.ts"
import * as Federation from "../../actors/Federation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { awaitBuild } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"
import { type Child, freePort, sleep, start, startCrank, stopAll } from "./childProcesses.ts"
import { requireNatsServer } from "./federation.ts"

const ids = ["a", "b", "c"] as const
const heartbeatIntervalMs = 5_000

interface Counts {
  readonly messages: number
  readonly bytes: number
}
const total = (counts: ReadonlyArray<Counts>): Counts => ({
  messages: counts.reduce((sum, c) => sum + c.messages, 0),
  bytes: counts.reduce((sum, c) => sum + c.bytes, 0),
})

const trafficWith = async ({ seconds }: RunOptions): Promise<Figures> => {
  requireNatsServer()
  await awaitBuild()
  const smoke = seconds < 0.5
  const workers = smoke ? 30 : 999
  const perController = workers / ids.length
  const idleMs = smoke ? 1_500 : Math.max(10_000, seconds * 1_000)
  const natsPort = await freePort()
  const nats = start("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)])
  const children: Array<Child> = []
  try {
    await nats.waitFor("Server is ready", 15_000)
    const program = Effect.gen(function* () {
      const running = yield* Effect.forEach(ids, (id) =>
        Effect.gen(function* () {
          const federation = yield* Federation.make({ nats: `nats://127.0.0.1:${natsPort}`, controllerId: id })
          const controller = yield* Controller.make({ addresses: ["ws://127.0.0.1:0"], elsewhere: federation.elsewhere })
          yield* federation.join(controller)
          return { federation, controller }
        }).pipe(Effect.orDie),
      )
      const sent = () => total(running.map((r) => r.federation.traffic().sent))
      const received = () => total(running.map((r) => r.federation.traffic().received))
      const healthy = () => Math.min(...running.map((r) => r.controller.workers().filter((w) => w.state === "healthy").length))
      yield* Effect.promise(() => sleep(1_500))
      const beforeJoin = sent()
      const joinStarted = performance.now()
      ids.forEach((id, i) =>
        children.push(
          startCrank(["worker", "examples/hello", "--replicas", String(perController), "--controller", running[i]!.controller.address, "--node", `node-${id}`]),
        ),
      )
      // Bounded: three minutes for a thousand workers to register on two shared cores.
      while (healthy() < perController && performance.now() - joinStarted < 180_000) yield* Effect.promise(() => sleep(100))
      if (healthy() < perController) return yield* Effect.die(new Error(`not every worker healthy after 180 s (${healthy()} of ${perController} each)`))
      yield* Effect.promise(() => sleep(1_000))
      const joined = sent()
      const beforeIdle = { sent: joined, received: received(), at: performance.now() }
      yield* Effect.promise(() => sleep(idleMs))
      const window = (performance.now() - beforeIdle.at) / 1_000
      const idleSent = sent()
      const idleReceived = received()
      return {
        extra: {
          workers,
          "messages sent while joining, per controller": (joined.messages - beforeJoin.messages) / ids.length,
          "idle msg/s sent, per controller": (idleSent.messages - beforeIdle.sent.messages) / ids.length / window,
          "idle B/s sent, per controller": (idleSent.bytes - beforeIdle.sent.bytes) / ids.length / window,
          "idle msg/s received, per controller": (idleReceived.messages - beforeIdle.received.messages) / ids.length / window,
        },
      } satisfies Figures
    }).pipe(
      Effect.scoped,
      withTunables({ heartbeatIntervalMs, staleAfterMs: 4 * heartbeatIntervalMs }),
      Effect.provideService(Transport, WebSocketTransport.make()),
      Effect.provideService(References.MinimumLogLevel, "Warn"),
    )
    // The workers are stopped before the controllers' scope closes (inside the program) only if it fails; otherwise
    // after it: either way every process is gone when this returns.
    return await Effect.runPromise(program).finally(() => stopAll(children))
  } finally {
    await stopAll([...children, nats])
  }
}

export const federationTrafficScenarios: ReadonlyArray<Scenario> = [
  {
    id: "crank.nats.federation-traffic",
    group: "scale",
    label: "3 controllers federated over NATS, 1,000 workers (in 3 processes), traffic per controller",
    requires: "nats-server",
    run: trafficWith,
  },
]
