// The raw `ws` anchor's server (bench/scenarios/anchors.ts): echoes every frame back, no parsing, on 127.0.0.1.
// Prints `port N` once listening; exits when its parent goes away (the harness also kills it).
import { WebSocketServer } from "ws"

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
server.on("connection", (socket) => socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary })))
server.on("listening", () => process.stdout.write(`port ${server.address().port}\n`))
// Bounded life: gone with its parent.
setInterval(() => process.ppid === 1 && process.exit(0), 1_000).unref()
