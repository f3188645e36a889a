/**
 * The NATS transport against a real `nats-server` (started by the test on a free loopback port): the whole
 * transport conformance suite, then what only NATS has.
 */
import { afterAll, beforeAll } from "vitest"
import * as NatsTransport from "../../transports/NatsTransport.ts"
import { type NatsServer, startNatsServer } from "../support/natsServer.ts"
import { transportConformance } from "../transports/conformance.ts"

let server: NatsServer | undefined

beforeAll(async () => {
  server = await startNatsServer()
})

afterAll(async () => {
  await server?.stop()
})

const serverUrl = (): string => {
  if (server === undefined) throw new Error("nats-server did not start (see the beforeAll failure)")
  return server.url
}

transportConformance("NatsTransport over nats-server on 127.0.0.1", () => NatsTransport.make(), serverUrl)
