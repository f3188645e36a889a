/**
 * The streaming-email-classify worker: `streaming.email.classify@1.0.0`. An async generator reads the mbox one
 * message per pull: the runtime pulls it only as fast as the caller consumes (a window and a few items ahead over a
 * wire, a few items in one process: README.md), so a slow caller slows the parsing, and a caller that stops ends
 * it (the generator is returned, and `context.signal`, checked before each message, aborts). The spam model is
 * email.classify's, loaded or trained by the `started` hook in this worker's own data directory. Run it with
 * `npx crank dev examples/streaming-email-classify`.
 */
import { defineWorker, implementStream } from "crank-mesh"
import { acquireModel, modelIn, releaseModel } from "../email-classify/servedModels.ts"
import { linesOf, mboxMessages, notAnMbox } from "../email-parse/mbox.ts"
import { StreamingEmailClassify } from "./capability.ts"
import { readMessage } from "./readMessage.ts"

export const classifyMbox = implementStream(StreamingEmailClassify, async function* ({ mbox, limit = Number.POSITIVE_INFINITY }, context) {
  // Splitting into lines is the only work done on the whole mbox; each message is found when it is pulled.
  const lines = linesOf(mbox)
  const problem = notAnMbox(lines)
  if (problem !== undefined) throw context.error("INVALID_INPUT", problem)
  const model = await modelIn(context.dataDir)
  const messages = mboxMessages(lines)
  // The next message is looked for only once the caller wants it and may have it.
  for (let index = 0; index < limit && !context.signal.aborted; index++) {
    const next = messages.next()
    if (next.done === true) return
    yield await readMessage(model, next.value, index)
  }
})

export default defineWorker({
  name: "streaming-email-classify",
  implements: [classifyMbox],
  started: ({ dataDir }) => acquireModel(dataDir),
  stopped: ({ dataDir }) => releaseModel(dataDir),
})
