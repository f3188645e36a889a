/**
 * Simulated workers for the scale scenario (bench/scenarios/scale.ts): one process that opens one WebSocket per
 * simulated worker to a controller, sends a valid `Register` frame on each, then a `Heartbeat` from each every
 * second, spread evenly over the second, and answers nothing else (ws answers pings by itself).
 *
 *   node bench/scenarios/simulatedWorkers.mjs <ws://127.0.0.1:PORT> <count> <first index> <node id>
 *
 * The capability descriptor travels in the environment, as JSON (`BENCH_DESCRIPTOR`), serialised once by the
 * scenario from `descriptorOf(HelloGreet)`. Prints `opened N`, `registered N` and `closed N` lines as they
 * change (at most every 250 ms), so the scenario can follow it; exits on SIGTERM, or when its parent goes.
 * Bounded: at most `count` sockets, at most 200 handshakes in flight at a time; 500 sockets from each loopback
 * source address (127.0.0.2 up: the controller's per-host connection limit is 1,000).
 */
import WebSocket from "ws"

const [url, countText, firstText, nodeId] = process.argv.slice(2)
const count = Number(countText)
const first = Number(firstText ?? 0)
const descriptor = JSON.parse(process.env.BENCH_DESCRIPTOR ?? "null")
if (url === undefined || !Number.isInteger(count) || count < 1 || descriptor === null || nodeId === undefined) {
  process.stderr.write("usage: BENCH_DESCRIPTOR=<json> node simulatedWorkers.mjs <url> <count> <first index> <node id>\n")
  process.exit(2)
}

const handshakesInFlight = Number(process.env.BENCH_HANDSHAKES ?? 200)
/**
 * The controller holds at most `maxConnectionsPerHost` (1,000) connections from one address, and `crank
 * controller` has no flag to raise it: as 10,000 real workers would come from many hosts, the simulated ones
 * dial from 127.0.0.2, 127.0.0.3... (all loopback), 500 from each.
 */
const perSourceAddress = 500
const sourceAddressOf = (index) => `127.0.0.${2 + Math.floor(index / perSourceAddress)}`
/** Per worker: its socket, its id, its next heartbeat sequence number, whether the controller accepted it. */
const workers = []
let opened = 0
let registered = 0
let closed = 0
let nextToOpen = 0
let dialling = 0

const registeredPrefix = '{"_tag":"Registered"'

const open = () => {
  while (dialling < handshakesInFlight && nextToOpen < count) {
    const index = nextToOpen++
    const workerId = `${nodeId}/sim-${first + index}`
    const worker = {
      workerId,
      socket: new WebSocket(url, { perMessageDeflate: false, localAddress: sourceAddressOf(first + index) }),
      seq: 0,
      registered: false,
    }
    workers.push(worker)
    dialling++
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      dialling--
      open()
    }
    worker.socket.once("open", () => {
      opened++
      worker.socket.send(JSON.stringify({ _tag: "Register", protocolVersion: 1, workerId, nodeId, capabilities: [descriptor], maxInFlight: 64 }))
      settle()
    })
    worker.socket.on("message", (data) => {
      if (!worker.registered && data.toString("utf8", 0, registeredPrefix.length) === registeredPrefix) {
        worker.registered = true
        registered++
      }
    })
    worker.socket.on("error", () => undefined)
    worker.socket.once("close", () => {
      closed++
      if (worker.registered) registered--
      worker.registered = false
      settle()
    })
  }
}
open()

// Heartbeats: every second each registered worker beats once; worker i of n at i/n of the second.
let cycleStart = performance.now()
let beaten = 0
const beat = setInterval(() => {
  const now = performance.now()
  while (now - cycleStart >= 1_000) {
    // Finish the cycle that ended, then start the next one.
    sendUpTo(workers.length)
    cycleStart += 1_000
    beaten = 0
  }
  sendUpTo(Math.min(workers.length, Math.floor(((now - cycleStart) / 1_000) * count)))
}, 10)

function sendUpTo(target) {
  for (; beaten < target; beaten++) {
    const worker = workers[beaten]
    if (worker === undefined || !worker.registered || worker.socket.readyState !== WebSocket.OPEN) continue
    worker.socket.send(`{"_tag":"Heartbeat","workerId":${JSON.stringify(worker.workerId)},"seq":${++worker.seq},"inFlight":0,"completed":0}`)
  }
}

let reported = ""
const report = setInterval(() => {
  const line = `opened ${opened} registered ${registered} closed ${closed}`
  if (line !== reported) process.stdout.write(`${line}\n`)
  reported = line
}, 250)

const stop = () => {
  clearInterval(beat)
  clearInterval(report)
  for (const worker of workers) worker.socket.terminate()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
// The scenario talks to this process through its pipes: when they close, the scenario is gone.
process.stdin.on("end", stop)
process.stdin.resume()
