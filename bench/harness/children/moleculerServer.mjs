// The Moleculer TCP anchor's server (bench/scenarios/anchors.ts): `node moleculerServer.mjs PORT CLIENT_PORT`
// starts a broker with the hello service on 127.0.0.1:PORT that knows the client at 127.0.0.1:CLIENT_PORT, and
// prints `ready`. The harness kills it; it also exits when its parent goes away.
import { greetService, makeBroker } from "../moleculer.mjs"

const [port, clientPort] = process.argv.slice(2).map(Number)
const broker = makeBroker("bench-server", { port, peers: { "bench-client": clientPort } })
broker.createService(greetService)
await broker.start()
process.stdout.write("ready\n")
setInterval(() => process.ppid === 1 && process.exit(0), 1_000).unref()
