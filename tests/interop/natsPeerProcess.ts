/**
 * A peer in a process of its own, for tests/interop/natsTransport.test.ts: dials the NATS listener at argv[2],
 * prints `connected`, and holds the connection; a request it is sent never finishes. The test SIGKILLs it to show
 * that the listener's end notices a peer whose process died (its NATS connection and subscription go with it).
 *
 * Run: node --import tsx tests/interop/natsPeerProcess.ts nats://127.0.0.1:<port>/<name>
 */
import { Effect } from "effect"
import * as NatsTransport from "../../transports/NatsTransport.ts"

const address = process.argv[2]
if (address === undefined) {
  console.error("usage: natsPeerProcess.ts <nats://host:port/name>")
  process.exit(2)
}

Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      yield* NatsTransport.make().connect(address, () => ({ onMessage: () => {}, serve: () => Effect.never, onClose: () => {} }))
      console.log("connected")
      return yield* Effect.never
    }),
  ),
).catch((error: unknown) => {
  console.error(`natsPeerProcess: ${String(error)}`)
  process.exit(1)
})
