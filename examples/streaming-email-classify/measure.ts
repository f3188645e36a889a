/**
 * The figures in README.md: how fast the worker streams a real mbox (held-out SpamAssassin messages, up to the
 * capability's 8 MiB) through an in-process mesh and over WebSocket on 127.0.0.1, and how long the first item takes.
 * Run: `npx tsx --conditions @crank/source examples/streaming-email-classify/measure.ts [data root]`. The model is
 * trained on the first run into the data root (default: a folder in the system's temporary directory, kept so later
 * runs load it).
 */
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { Client, Controller, startMesh, Transport, WebSocketTransport, Worker } from "crank-mesh"
import { Effect, Exit, Scope, Stream } from "effect"
import { maxMboxLength, StreamingEmailClassify } from "./capability.ts"
import { heldOutMail } from "./heldOutMail.ts"
import worker from "./index.ts"
import { mboxrdOf } from "./mboxrd.ts"

const dataRoot = process.argv[2] ?? join(tmpdir(), "crank-streaming-email-classify-measure")
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

console.log(`${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}, data root ${dataRoot}`)
const since = performance.now()
const mesh = await startMesh({ workers: [worker], dataDir: dataRoot })
console.log(`worker started (model loaded or trained) in ${seconds(performance.now() - since)}`)
// The held-out split in corpus order, as many messages as the capability's limit on the mbox's length allows.
const raws: Array<string> = []
let length = 0
for (const { raw } of heldOutMail()) {
  length += mboxrdOf([raw]).length
  if (length > maxMboxLength) break
  raws.push(raw)
}
const mbox = mboxrdOf(raws)
console.log(`mbox: the first ${raws.length} held-out messages, ${(mbox.length / 1048576).toFixed(2)} MiB of text`)

/** Streams `items` to the end: time to the first item, the whole time, and the count. */
const measure = async (what: string, items: AsyncIterable<unknown>): Promise<void> => {
  const start = performance.now()
  let first = 0
  let count = 0
  for await (const _ of items) if (++count === 1) first = performance.now() - start
  const total = performance.now() - start
  console.log(`${what}: ${count} items, first after ${(first).toFixed(0)} ms, all in ${seconds(total)} (${((count * 1000) / total).toFixed(0)} messages/s)`)
}

try {
  for (let round = 1; round <= 2; round++) {
    await measure(`in process, round ${round}`, mesh.stream(StreamingEmailClassify, { mbox }, { timeoutMs: 600_000 }))
  }
  const scope = Effect.runSync(Scope.make())
  try {
    const onWebSocket = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Transport>) =>
      Effect.runPromise(effect.pipe(Effect.provideService(Transport, transport), Scope.provide(scope)))
    const transport = WebSocketTransport.make()
    const controller = await onWebSocket(Controller.make({ addresses: ["ws://127.0.0.1:0"] }))
    await onWebSocket(Worker.start(worker, { controller: controller.address, listen: "ws://127.0.0.1:0", dataDir: join(dataRoot, "workers", worker.name) }))
    for (let waited = 0; controller.routes().length === 0; waited += 10) {
      if (waited > 10_000) throw new Error("the WebSocket worker did not become routable within 10 s")
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const client = await onWebSocket(Client.make({ controller: controller.address }))
    for (let round = 1; round <= 2; round++) {
      await measure(
        `over WebSocket (window 64), round ${round}`,
        Stream.toAsyncIterable(client.stream(StreamingEmailClassify, { mbox }, { timeoutMs: 600_000 })),
      )
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
} finally {
  await mesh.stop()
}
