/**
 * Signals reach the mesh: SIGTERM or SIGINT to the pid a user started drains the workers and exits 0, with
 * nothing left running. `npm start` runs `exec node bin/crank.js dev`, so npm's shell is replaced by the mesh's
 * own process and npm forwards the signal to it. (`npx crank ...` cannot: npm exec runs the bin under a shell
 * that does not forward signals; the README recommends `node_modules/.bin/crank` under a process manager, which
 * package.test.ts covers.)
 */
import { connect } from "node:net"
import { describe, expect, it } from "vitest"
import { freePort, useProcesses } from "../support/processes.ts"

const processes = useProcesses()

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
  })

describe("npm start", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "drains and exits 0 on %s to npm's pid, leaving nothing running",
    async (signal) => {
      const port = await freePort()
      const dev = processes.start(["--port", String(port), "--replicas", "1"], { command: ["npm", "start", "--"], name: "npm start" })
      await dev.waitForLine("crank dev: controller on", 60_000)
      expect(await listening(port)).toBe(true)
      // Signalled once hello is healthy; a worker still in its started hook (training a model) is stopped too.
      await dev.waitForLine(/dev\/hello-1: registered → healthy/, 60_000)

      dev.child.kill(signal)
      expect(await dev.exited).toEqual({ code: 0, signal: null })
      const output = dev.stdout() + dev.stderr()
      expect(output).toMatch(/dev\/hello-1: healthy → draining \(DRAIN\)/)
      expect(output).toMatch(/dev\/hello-1: draining → stopped \(DRAINED\)/)
      // The mesh's own process is gone with npm: its port is free again.
      expect(await listening(port)).toBe(false)
    },
    90_000,
  )
})
