/**
 * A TCP proxy in front of the NATS server for one controller of a federation test: `cut()` drops its connections
 * and refuses new ones (that controller alone is partitioned from NATS), `heal()` lets them through again.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net"

export interface NatsProxy {
  /** `nats://127.0.0.1:<proxy port>`. */
  readonly url: string
  readonly cut: () => void
  readonly heal: () => void
  readonly close: () => Promise<void>
}

export const startNatsProxy = async (targetPort: number): Promise<NatsProxy> => {
  const sockets = new Set<Socket>()
  let open = true
  const server: Server = createServer((client) => {
    if (!open) return void client.destroy()
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort })
    sockets.add(client).add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("error", drop).on("close", drop)
    upstream.on("error", drop).on("close", drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the proxy has no port")
  return {
    url: `nats://127.0.0.1:${address.port}`,
    cut: () => {
      open = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    heal: () => {
      open = true
    },
    close: () =>
      new Promise<void>((resolve) => {
        open = false
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
