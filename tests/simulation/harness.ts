/**
 * One simulated run of a whole mesh, from a seed: a controller, three `examples/hello` workers, two test workers
 * (`sim.count` idempotent, `sim.once` not), a direct-routing client and a relay-only client issuing requests, all
 * on one in-memory network wrapped by the seeded fault injector (transports/faultyTransport.ts), under `TestClock`
 * with `Random.withSeed(seed)`. The seed chooses everything: fault rates, the schedule of requests, partitions,
 * disconnects, crashes and restarts (of workers and of the controller), drains. Same seed, same run.
 *
 * A run has three phases: warm-up (no faults, every worker healthy), chaos (`chaosMs` of simulated time with
 * faults), quiet (faults off, partitions healed, crashed and stopped processes restarted, then `quietMs` more).
 * What it checks is in `Violation` and in docs/reliability.md ("Deterministic simulation").
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as References from "effect/References"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import type { WorkerDefinition } from "../../actors/WorkerDefinition.ts"
import { isCrankError, neverRanCodes } from "../../capabilities/CrankError.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"
import type { Reply } from "../../transports/Envelope.ts"
import * as FaultyTransport from "../../transports/faultyTransport.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import { type Runs, SimCount, SimOnce, simWorker } from "./simWorker.ts"

/** A tenth of the production windows (heartbeat 30 s, stale 120 s, evict 300 s): slow enough to be cheap to simulate. */
export const tunables = {
  heartbeatIntervalMs: 10_000,
  staleAfterMs: 40_000,
  evictAfterMs: 100_000,
  drainDeadlineMs: 10_000,
  requestTimeoutMs: 10_000,
  registerBackoffInitialMs: 500,
  registerBackoffMaxMs: 10_000,
  registerTimeoutMs: 10_000,
  routeRefreshMs: 10_000,
  /** Small, so that bursts meet `OVERLOADED` and its retries elsewhere. */
  maxInFlightPerWorker: 3,
} as const

/**
 * How soon after the heal (or after its restart, when the quiet phase restarted it) a partitioned worker must be
 * healthy again: its registration backoff (at most 10 s, jittered), an attempt (at most 10 s), the first heartbeat
 * (10 s), and slack.
 */
export const healBoundMs = 40_000

export interface SimOptions {
  /** Simulated milliseconds of chaos (default 1,200 s). */
  readonly chaosMs?: number
  /** Simulated milliseconds of quiet after it (default 60 s). */
  readonly quietMs?: number
  /** Keep a readable trace of the run (`trace`), as `--verbose` prints. */
  readonly verbose?: boolean
  /** The slack past a request's deadline within which its answer must come (default 100 ms). */
  readonly slackMs?: number
  /**
   * Breaks the mesh on purpose, to show the checks catch it: `serve-twice` serves some requests twice (a transport
   * fault no real one has), `never-heal` leaves the last partition in place through the quiet phase.
   */
  readonly sabotage?: "serve-twice" | "never-heal"
}

export interface Violation {
  readonly property: "exactly-once" | "deadline" | "routing" | "healed" | "converged" | "crash"
  readonly detail: string
}

export interface SimResult {
  readonly seed: number
  readonly violations: ReadonlyArray<Violation>
  /** A digest of the trace: equal for two runs of one seed. */
  readonly digest: string
  readonly trace: ReadonlyArray<string>
  readonly simulatedMs: number
  readonly requests: { readonly issued: number; readonly ok: number; readonly failed: Readonly<Record<string, number>>; readonly maxOverrunMs: number }
  readonly faults: Readonly<FaultyTransport.FaultStats>
  readonly events: Readonly<Record<string, number>>
  /** For each worker partitioned during the run: ms from the heal (or its restart after it) until the controller held it healthy. */
  readonly healedInMs: ReadonlyArray<number>
  readonly checks: { readonly relayed: number; readonly served: number; readonly servedWhileDraining: number }
}

interface RequestRecord {
  readonly n: number
  readonly client: string
  readonly capability: string
  readonly key: string
  readonly startedAt: number
  readonly timeoutMs: number
  endings: number
  endedAt?: number
  outcome?: string
}

interface WorkerSlot {
  readonly id: string
  readonly definition: WorkerDefinition
  scope?: Scope.Closeable
  running?: Worker.RunningWorker
  /** A crash or drain under way: the fiber that closes its scope. */
  closing?: Fiber.Fiber<void>
  /** Simulated time at which to start it again, once down. */
  restartAt?: number
  partitionedAt?: number
  /** When its current process started. */
  startedAt?: number
}

const controllerAddress = "memory://controller"
const hash = (text: string, h: number): number => {
  let x = h
  for (let i = 0; i < text.length; i++) x = Math.imul(x ^ text.charCodeAt(i), 16_777_619) >>> 0
  return x
}

const scenario = (seed: number, options: SimOptions) =>
  Effect.gen(function* () {
    const chaosMs = options.chaosMs ?? 3_600_000
    const quietMs = options.quietMs ?? 200_000
    const slackMs = options.slackMs ?? 100
    const random = yield* Random.Random
    const draw = () => random.nextDoubleUnsafe()
    const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(draw() * items.length)]!
    const now = () => Clock.currentTimeMillis
    const violations: Array<Violation> = []
    const trace: Array<string> = []
    let digest = 2_166_136_261
    let clockNow = 0
    const log = (line: string) => {
      const entry = `${clockNow} ${line}`
      digest = hash(entry, digest)
      if (options.verbose === true) trace.push(entry)
    }
    const events: Record<string, number> = {}
    const count = (what: string) => {
      events[what] = (events[what] ?? 0) + 1
      log(what)
    }
    const violate = (property: Violation["property"], detail: string) => {
      violations.push({ property, detail })
      log(`VIOLATION ${property}: ${detail}`)
    }

    // The seed picks how hostile the network is.
    // One seed in five is a storm: five times the rates (up to a fifth of messages lost).
    const intensity = draw() * (draw() < 0.2 ? 5 : 1)
    let faults: FaultyTransport.Faults = {
      drop: 0.04 * intensity * draw(),
      duplicate: 0.05 * intensity * draw(),
      delay: 0.1 * intensity * draw(),
      reorder: draw() < 0.5 ? 0 : 0.03 * draw(),
      maxDelayMs: 20 + Math.floor(draw() * 5_000),
      requestFail: 0.03 * intensity * draw(),
      replyLost: 0.02 * intensity * draw(),
      requestDelay: 0.1 * intensity * draw(),
      maxRequestDelayMs: 10 + Math.floor(draw() * 5_000),
    }
    if (options.sabotage === "serve-twice") faults = { ...faults, requestTwice: 0.2 }
    log(`faults ${JSON.stringify(faults)}`)

    let controller: Controller.Controller | undefined
    let controllerScope: Scope.Closeable | undefined
    let controllerRestartAt: number | undefined
    let controllerClosing: Fiber.Fiber<void> | undefined
    const slots: Array<WorkerSlot> = []
    const runs: Runs = new Map()

    /** How often the routing checks ran: relayed requests, requests reaching workers, of which while draining. */
    const checks = { relayed: 0, served: 0, servedWhileDraining: 0 }
    const taps: FaultyTransport.Taps = {
      // The controller's relay never calls a worker its registry does not hold healthy and routable.
      call: (from, to, invoke) => {
        if (from !== "controller" || controller === undefined || invoke.capability.startsWith("crank.")) return
        checks.relayed++
        const view = controller.worker(to)
        if (view?.state !== "healthy") violate("routing", `controller relayed ${invoke.id} to ${to} in state ${view?.state ?? "unknown"}`)
      },
      // A worker never runs a request that reached it after its drain began (it answers DRAINING instead).
      serve: (node, invoke) => {
        const slot = slots.find((s) => s.id === node)
        const state = slot?.running?.state()
        checks.served++
        if (state !== "draining" && state !== "stopped") return undefined
        checks.servedWhileDraining++
        return (reply: Reply) => {
          if (reply._tag === "Result") violate("routing", `worker ${node} served ${invoke.id} which arrived while ${state}`)
        }
      },
    }

    const network = yield* FaultyTransport.make(MemoryTransport.make(), FaultyTransport.noFaults, taps)
    const on =
      (node: string) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.provideService(effect, Transport, network.node(node))
    const outer = yield* Effect.scope

    const startController = Effect.gen(function* () {
      const scope = yield* Scope.fork(outer)
      network.revive("controller")
      controller = yield* Controller.make({ addresses: [controllerAddress] }).pipe(on("controller"), Scope.provide(scope), Effect.orDie)
      controllerScope = scope
      count("controller started")
    })

    const startWorker = (slot: WorkerSlot) =>
      Effect.gen(function* () {
        const scope = yield* Scope.fork(outer)
        network.revive(slot.id)
        slot.scope = scope
        slot.running = yield* Worker.start(slot.definition, { controller: controllerAddress, listen: "memory://", workerId: slot.id }).pipe(
          on(slot.id),
          Scope.provide(scope),
          Effect.orDie,
        )
        slot.closing = undefined
        slot.restartAt = undefined
        slot.startedAt = clockNow
        count(`start ${slot.id}`)
      })

    /** Closes a scope in the background (a worker's finalizer drains, which may take its deadline). */
    const closeLater = (scope: Scope.Closeable) => Effect.forkIn(Scope.close(scope, Exit.void), outer)

    const awaitSettled = (what: string, probe: () => boolean, maxMs: number) =>
      Effect.gen(function* () {
        for (let waited = 0; waited <= maxMs; waited += 100) {
          if (probe()) return true
          yield* advance(100)
        }
        log(`not settled: ${what}`)
        return false
      })

    const advance = (ms: number) =>
      Effect.gen(function* () {
        yield* TestClock.adjust(ms)
        clockNow = yield* now()
      })

    // Warm-up: everything starts on a quiet network.
    yield* startController
    for (let i = 1; i <= 3; i++) slots.push({ id: `hello-${i}`, definition: hello })
    for (let i = 1; i <= 2; i++) slots.push({ id: `sim-${i}`, definition: simWorker(runs) })
    for (const slot of slots) yield* startWorker(slot)
    const healthyIds = () => new Set((controller?.workers() ?? []).filter((w) => w.state === "healthy").map((w) => w.id))
    yield* awaitSettled("all workers healthy at start", () => healthyIds().size === slots.length, 10_000)
    const clients = {
      direct: yield* Client.make({ controller: controllerAddress, clientId: "direct" }).pipe(on("direct"), Effect.orDie),
      relay: yield* Client.make({ controller: controllerAddress, clientId: "relay", direct: false }).pipe(on("relay"), Effect.orDie),
    }
    network.setFaults(faults)

    const requests: Array<RequestRecord> = []
    const issue = (clientName: "direct" | "relay") =>
      Effect.gen(function* () {
        const n = requests.length
        const capability = pick([HelloGreet, SimCount, SimOnce] as const)
        const timeoutMs = 300 + Math.floor(draw() * 20_000)
        const ms = Math.floor(draw() * draw() * 15_000)
        const key = `r${n}`
        const record: RequestRecord = { n, client: clientName, capability: capability.id, key, startedAt: clockNow, timeoutMs, endings: 0 }
        requests.push(record)
        const client = clients[clientName]
        const call: Effect.Effect<unknown, unknown> =
          capability === HelloGreet ? client.invoke(HelloGreet, { message: key }, { timeoutMs }) : client.invoke(capability, { key, ms }, { timeoutMs })
        yield* Effect.forkIn(
          Effect.flatMap(Effect.exit(call), (exit) =>
            Effect.flatMap(now(), (at) =>
              Effect.sync(() => {
                record.endings++
                record.endedAt = at
                if (Exit.isSuccess(exit)) record.outcome = "ok"
                else {
                  const error = Cause.squash(exit.cause)
                  record.outcome = isCrankError(error) ? error.code : `untyped ${String(error)}`
                }
                log(`end ${key} ${record.capability} via ${clientName}: ${record.outcome}`)
              }),
            ),
          ),
          outer,
        )
      })

    const aliveSlots = () => slots.filter((s) => s.running !== undefined && s.closing === undefined)

    // Chaos.
    const chaosEnd = clockNow + chaosMs
    while (clockNow < chaosEnd) {
      const roll = draw()
      if (roll < 0.5) {
        const burst = 1 + Math.floor(draw() * 4)
        for (let i = 0; i < burst; i++) yield* issue(draw() < 0.7 ? "direct" : "relay")
      } else if (roll < 0.52) {
        // A partition: one to three nodes cut off from the rest.
        const nodes = [...new Set(Array.from({ length: 1 + Math.floor(draw() * 3) }, () => pick([...slots.map((s) => s.id), "controller", "direct", "relay"])))]
        const silent = draw() < 0.5
        yield* network.partition(nodes, { silent })
        for (const slot of slots) if (nodes.includes(slot.id)) slot.partitionedAt = clockNow
        count(`${silent ? "silent " : ""}partition ${nodes.join(",")}`)
      } else if (roll < 0.54) {
        yield* network.heal
        count("heal")
      } else if (roll < 0.55) {
        const node = pick([...slots.map((s) => s.id), "controller", "direct", "relay"])
        yield* network.disconnect(node)
        count(`disconnect ${node}`)
      } else if (roll < 0.56) {
        const alive = aliveSlots()
        if (alive.length > 0) {
          const slot = pick(alive)
          yield* network.crash(slot.id)
          slot.closing = yield* closeLater(slot.scope!)
          slot.restartAt = clockNow + 1_000 + Math.floor(draw() * 100_000)
          count(`crash ${slot.id}`)
        }
      } else if (roll < 0.57) {
        const alive = aliveSlots()
        if (alive.length > 0) {
          const slot = pick(alive)
          if (draw() < 0.5 && controller !== undefined) {
            // Asked by the controller: the Drain message itself may be lost.
            yield* Effect.ignore(controller.drain(slot.id))
            count(`controller drains ${slot.id}`)
          } else {
            const running = slot.running!
            slot.closing = yield* Effect.forkIn(running.drain(), outer)
            slot.restartAt = clockNow + 5_000 + Math.floor(draw() * 100_000)
            count(`${slot.id} drains itself`)
          }
        }
      } else if (roll < 0.575 && controllerScope !== undefined) {
        yield* network.crash("controller")
        controllerClosing = yield* closeLater(controllerScope)
        controllerScope = undefined
        controller = undefined
        controllerRestartAt = clockNow + Math.floor(draw() * 60_000)
        count("crash controller")
      }
      // Restarts that are due; a worker that stopped on its own (a drain the controller asked for) is restarted too.
      for (const slot of slots) {
        if (slot.closing === undefined && slot.running?.state() === "stopped") {
          slot.closing = yield* closeLater(slot.scope!)
          slot.restartAt = clockNow + 2_000 + Math.floor(draw() * 60_000)
          count(`${slot.id} stopped`)
        }
        if (slot.restartAt !== undefined && clockNow >= slot.restartAt && slot.closing !== undefined && slot.closing.pollUnsafe() !== undefined) {
          yield* startWorker(slot)
        }
      }
      if (controllerRestartAt !== undefined && clockNow >= controllerRestartAt && controllerClosing?.pollUnsafe() !== undefined) {
        controllerRestartAt = undefined
        yield* startController
      }
      yield* advance(100 + Math.floor(draw() * 9_900))
    }

    // Quiet: no more faults; let late deliveries land, then bring every process back.
    network.setFaults(FaultyTransport.noFaults)
    if (options.sabotage === "never-heal") {
      yield* network.partition(["hello-1"])
      slots[0]!.partitionedAt = clockNow
    } else yield* network.heal
    const healedAt = clockNow
    log("quiet")
    yield* advance(10_000)
    if (controllerScope === undefined) {
      if (controllerClosing !== undefined) yield* Fiber.join(controllerClosing)
      yield* startController
    }
    for (const slot of slots) {
      const state = slot.running?.state()
      if (slot.closing === undefined && (state === "draining" || state === "stopped")) slot.closing = yield* closeLater(slot.scope!)
      if (slot.closing !== undefined) {
        yield* awaitSettled(`${slot.id} closed`, () => slot.closing!.pollUnsafe() !== undefined, 20_000)
        yield* startWorker(slot)
      }
    }
    const partitioned = slots.filter((s) => s.partitionedAt !== undefined)
    const healthyAt = new Map<string, number>()
    for (let waited = 0; waited < quietMs; waited += 1_000) {
      const healthy = healthyIds()
      for (const slot of partitioned)
        if (!healthyAt.has(slot.id) && healthy.has(slot.id)) healthyAt.set(slot.id, clockNow - Math.max(healedAt, slot.startedAt ?? 0))
      yield* advance(1_000)
    }

    // Properties.
    const healthy = healthyIds()
    const alive = new Set(aliveSlots().map((s) => s.id))
    for (const slot of partitioned) {
      const after = healthyAt.get(slot.id)
      if (after === undefined) violate("healed", `${slot.id}, partitioned at ${slot.partitionedAt}, is not healthy ${quietMs} ms after the heal`)
      else if (after > healBoundMs) violate("healed", `${slot.id} took ${after} ms after the heal to be healthy again (bound ${healBoundMs} ms)`)
    }
    const expected = [...alive].sort().join(",")
    const got = [...healthy].sort().join(",")
    if (expected !== got) violate("converged", `healthy in the registry: [${got}]; alive: [${expected}]`)
    for (const slot of aliveSlots()) {
      const state = slot.running!.state()
      if (state !== "healthy") violate("converged", `${slot.id} sees itself ${state} after ${quietMs} ms of quiet`)
    }
    const stale = (controller?.workers() ?? []).filter((w) => !alive.has(w.id))
    if (stale.length > 0) violate("converged", `the registry still holds ${stale.map((w) => `${w.id}:${w.state}`).join(" ")}`)

    let ok = 0
    let maxOverrunMs = 0
    const failed: Record<string, number> = {}
    for (const r of requests) {
      if (r.endings !== 1) {
        violate("exactly-once", `${r.key} (${r.capability} via ${r.client}, started ${r.startedAt}, deadline ${r.timeoutMs}) ended ${r.endings} times`)
        continue
      }
      const overrun = r.endedAt! - r.startedAt - r.timeoutMs
      maxOverrunMs = Math.max(maxOverrunMs, overrun)
      if (overrun > slackMs) violate("deadline", `${r.key} (${r.capability} via ${r.client}) ended ${overrun} ms past its ${r.timeoutMs} ms deadline`)
      if (r.outcome === "ok") ok++
      else failed[r.outcome!] = (failed[r.outcome!] ?? 0) + 1
      if (r.outcome!.startsWith("untyped")) violate("exactly-once", `${r.key} ended with an untyped error: ${r.outcome}`)
      if (r.capability === SimOnce.id) {
        const ran = runs.get(r.key)?.length ?? 0
        if (ran > 1) violate("exactly-once", `non-idempotent ${r.key} ran ${ran} times (${runs.get(r.key)!.join(", ")}), answered ${r.outcome}`)
        if (r.outcome === "ok" && ran !== 1) violate("exactly-once", `non-idempotent ${r.key} answered ok but ran ${ran} times`)
        if (neverRanCodes.has(r.outcome!) && ran !== 0)
          violate("exactly-once", `non-idempotent ${r.key} answered ${r.outcome} (never ran) but ran ${ran} times`)
      }
    }
    log(`done: ${requests.length} requests, ${ok} ok, failed ${JSON.stringify(failed)}, healed in ${JSON.stringify([...healthyAt])}`)

    return {
      seed,
      violations,
      digest: digest.toString(16).padStart(8, "0"),
      trace,
      simulatedMs: clockNow,
      requests: { issued: requests.length, ok, failed, maxOverrunMs },
      faults: { ...network.stats() },
      events,
      healedInMs: [...healthyAt.values()],
      checks,
    } satisfies SimResult
  })

/** Runs one seed: the mesh, its faults and its checks, all from `seed`. */
export const runSeed = (seed: number, options: SimOptions = {}): Promise<SimResult> =>
  Effect.runPromise(
    scenario(seed, options).pipe(
      withTunables(tunables),
      Effect.scoped,
      Effect.provideService(References.MinimumLogLevel, "None"),
      // Fibers take turns on microtasks rather than on the event loop: the same order, without a macrotask a turn.
      Effect.provideService(Scheduler.Scheduler, new Scheduler.MixedScheduler("sync")),
      Random.withSeed(seed),
      Effect.provide(TestClock.layer()),
    ),
  ).catch(
    (error: unknown): SimResult => ({
      seed,
      violations: [{ property: "crash", detail: error instanceof Error ? (error.stack ?? error.message) : String(error) }],
      digest: "",
      trace: [],
      simulatedMs: 0,
      requests: { issued: 0, ok: 0, failed: {}, maxOverrunMs: 0 },
      faults: { ...FaultyTransport.noFaultStats },
      events: {},
      healedInMs: [],
      checks: { relayed: 0, served: 0, servedWhileDraining: 0 },
    }),
  )

/** The one command that replays `seed` exactly. */
export const replayCommand = (seed: number, options: SimOptions = {}): string =>
  `npm run simulate -- --seed ${seed}${options.chaosMs === undefined ? "" : ` --chaos-ms ${options.chaosMs}`}${options.quietMs === undefined ? "" : ` --quiet-ms ${options.quietMs}`}${options.sabotage === undefined ? "" : ` --sabotage ${options.sabotage}`} --verbose`
