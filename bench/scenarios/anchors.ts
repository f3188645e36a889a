/**
 * The anchors Crank is measured against, in the same harness with the same payload (hello.greet's input, an
 * output of the same shape): a plain `Map` dispatch (the in-process floor), a raw `ws` echo across two processes
 * (the network floor), and Moleculer 0.15, in one broker and across two brokers over its TCP transporter.
 */
import type { ServiceBroker } from "moleculer"
import WebSocket from "ws"
import { concurrentAsync, greetInput, greetOutput, sequentialAsync } from "../harness/measure.ts"
import { greetService, makeBroker } from "../harness/moleculer.mjs"
import { freePort, pinnedToCore0, spawnNode } from "../harness/processes.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"

type Measure = (call: () => Promise<unknown>, seconds: number) => Promise<Figures>
const modes: ReadonlyArray<readonly [string, string, Measure]> = [
  ["sequential", "sequential", sequentialAsync],
  ["concurrent", "256 in flight", concurrentAsync],
]

// The floor in one process: a handler found in a Map and called, its result in a Promise (as every caller awaits).
const mapDispatch = (): (() => Promise<unknown>) => {
  const handlers = new Map<string, (input: typeof greetInput) => unknown>([
    [
      "hello.greet",
      (input) => {
        const output = greetOutput("local")
        output.greeting = `Hello, ${input.message}${"!".repeat(input.options.exclamations)}`
        return output
      },
    ],
  ])
  return () => Promise.resolve(handlers.get("hello.greet")!(greetInput))
}

const moleculerLocal = async (measure: Measure, { seconds }: RunOptions): Promise<Figures> => {
  const broker = makeBroker("bench-local")
  broker.createService(greetService)
  await broker.start()
  try {
    return await measure(() => broker.call("hello.greet", greetInput), seconds)
  } finally {
    await broker.stop()
  }
}

const moleculerTcp = async (measure: Measure, { seconds, pin }: RunOptions): Promise<Figures> => {
  const [port, clientPort] = [await freePort(), await freePort()]
  const server = spawnNode(["bench/harness/children/moleculerServer.mjs", String(port), String(clientPort)], pin ? { core: 1 } : {})
  let broker: ServiceBroker | undefined
  try {
    await server.line(/^ready$/)
    broker = makeBroker("bench-client", { port: clientPort, peers: { "bench-server": port } })
    await broker.start()
    await broker.waitForServices("hello", 15_000, 50)
    const client = broker
    return await pinnedToCore0(pin, () => measure(() => client.call("hello.greet", greetInput), seconds))
  } finally {
    await broker?.stop()
    await server.stop()
  }
}

/** A `ws` client whose `call` sends a request frame and resolves with the parsed echo of it. */
const wsClient = async (port: number) => {
  const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve())
    socket.once("error", reject)
  })
  const pending = new Map<number, (reply: unknown) => void>()
  socket.on("message", (data) => {
    const reply = JSON.parse(String(data)) as { id: number }
    const resolve = pending.get(reply.id)
    pending.delete(reply.id)
    resolve?.(reply)
  })
  let id = 0
  const call = () =>
    new Promise<unknown>((resolve) => {
      const frame = { id: ++id, capability: "hello.greet", input: greetInput }
      pending.set(frame.id, resolve)
      socket.send(JSON.stringify(frame))
    })
  return { call, close: () => socket.terminate() }
}

const rawWs = async (measure: Measure, { seconds, pin }: RunOptions): Promise<Figures> => {
  const server = spawnNode(["bench/harness/children/wsEcho.mjs"], pin ? { core: 1 } : {})
  try {
    const port = Number((await server.line(/^port \d+$/)).split(" ")[1])
    const client = await wsClient(port)
    try {
      return await pinnedToCore0(pin, () => measure(client.call, seconds))
    } finally {
      client.close()
    }
  } finally {
    await server.stop()
  }
}

export const anchors: ReadonlyArray<Scenario> = modes.flatMap(
  ([id, label, measure]): ReadonlyArray<Scenario> => [
    {
      id: `anchor.map.${id}`,
      group: "in process",
      label: `Map dispatch, Promise result (floor), ${label}`,
      run: ({ seconds }) => measure(mapDispatch(), seconds),
    },
    {
      id: `anchor.moleculer.local.${id}`,
      group: "in process",
      label: `Moleculer 0.15 local (params validated), ${label}`,
      run: (options) => moleculerLocal(measure, options),
    },
    {
      id: `anchor.ws.${id}`,
      group: "across processes",
      label: `raw ws echo, 2 processes (floor), ${label}`,
      run: (options) => rawWs(measure, options),
    },
    {
      id: `anchor.moleculer.tcp.${id}`,
      group: "across processes",
      label: `Moleculer 0.15 TCP, 2 processes, ${label}`,
      run: (options) => moleculerTcp(measure, options),
    },
  ],
)
