// Moleculer 0.15, as the bench's anchors run it: a `hello.greet` action with the same contract as Crank's
// (params validated), and a TCP transporter held to loopback. Moleculer's TCP transporter has no host option:
// its server listens on every interface and it dials peers by the hostname or address they gossip. Here UDP
// discovery is off (no multicast, no broadcast), peers come from a fixed `urls` list on 127.0.0.1, its TCP server
// is bound to 127.0.0.1, and every peer is dialled at 127.0.0.1.
import net from "node:net"
import { ServiceBroker, Transporters } from "moleculer"

class LoopbackTcp extends Transporters.TCP {
  getNodeAddress() {
    return "127.0.0.1"
  }
  startTcpServer() {
    // The reader calls net.createServer and listen({ port }) synchronously in here: add the host.
    const createServer = net.createServer
    net.createServer = (...args) => {
      const server = createServer(...args)
      const listen = server.listen.bind(server)
      server.listen = (options, callback) => listen({ ...options, host: "127.0.0.1" }, callback)
      return server
    }
    try {
      return super.startTcpServer()
    } finally {
      net.createServer = createServer
    }
  }
}

export const greetService = {
  name: "hello",
  actions: {
    greet: {
      params: {
        message: "string",
        options: {
          type: "object",
          optional: true,
          props: {
            uppercase: { type: "boolean", optional: true },
            reverse: { type: "boolean", optional: true },
            exclamations: { type: "number", integer: true, min: 0, max: 10, optional: true },
          },
        },
      },
      handler(ctx) {
        const { message, options = {} } = ctx.params
        let greeting = `Hello, ${message}`
        if (options.uppercase) greeting = greeting.toUpperCase()
        if (options.reverse) greeting = [...greeting].reverse().join("")
        greeting += "!".repeat(options.exclamations ?? 0)
        return { greeting, worker: ctx.broker.nodeID }
      },
    },
  },
}

/** A broker; with `tcp`, on the loopback TCP transporter at `tcp.port`, knowing `tcp.peers` ({ nodeID: port }). */
export const makeBroker = (nodeID, tcp) =>
  new ServiceBroker({
    nodeID,
    namespace: "crank-bench",
    logger: false,
    metrics: false,
    tracing: false,
    transporter: tcp
      ? new LoopbackTcp({
          udpDiscovery: false,
          gossipPeriod: 1,
          port: tcp.port,
          urls: Object.entries(tcp.peers).map(([id, port]) => `127.0.0.1:${port}/${id}`),
        })
      : null,
  })
