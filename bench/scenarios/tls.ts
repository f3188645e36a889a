/**
 * What mutual TLS costs per request: the WebSocket transport's echo in one process on 127.0.0.1, over `ws://` and over
 * `wss://` with certificates from a CA made here (the controller's CA does the same: trust/CertificateAuthority.ts),
 * sequential and with 256 in flight. One process and no handler work, so the difference between the two rows is the
 * TLS record layer's cost on the data path (the handshake happens once per connection and is not in these rows; see
 * docs/architecture.md, "TLS", for what a dial costs).
 */
import { Effect } from "effect"
import { localCertificate } from "../../src/trust/localCertificate.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import { concurrentEffect, sequentialEffect } from "../harness/measure.ts"
import type { Figures, RunOptions, Scenario } from "../harness/Scenario.ts"
import { echoHandlers, echoInvoke } from "../harness/transportRoundTrips.ts"

type Mode = "sequential" | "concurrent"

/** A listener with the controller's certificate and a dialer with a worker's, both from one fresh CA. */
const mutualTls = Effect.gen(function* () {
  const ca = yield* CertificateAuthority.create({ now: new Date() })
  const controller = yield* localCertificate(ca, { role: "controller", id: "bench-controller" }, 3_600_000)
  const worker = yield* localCertificate(ca, { role: "worker", id: "bench-worker" }, 3_600_000)
  return {
    server: WebSocketTransport.make({ tls: { credentials: () => controller.credentials } }),
    client: WebSocketTransport.make({ tls: { credentials: () => worker.credentials, expectServer: { role: "controller" } } }),
  }
})

const plain = Effect.sync(() => ({ server: WebSocketTransport.make(), client: WebSocketTransport.make() }))

const echo = (secure: boolean, mode: Mode, { seconds }: RunOptions): Promise<Figures> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const { server, client } = yield* secure ? mutualTls : plain
        const listener = yield* server.listen(secure ? "wss://127.0.0.1:0" : "ws://127.0.0.1:0", echoHandlers)
        const connection = yield* client.connect(listener.address, echoHandlers)
        let next = 0
        const call = () => connection.call(echoInvoke(next++))
        return yield* mode === "sequential" ? sequentialEffect(call, seconds) : concurrentEffect(call, seconds)
      }),
    ),
  )

export const tlsScenarios: ReadonlyArray<Scenario> = (
  [
    ["sequential", "sequential"],
    ["concurrent", "256 in flight"],
  ] as const
).flatMap(([mode, label]) => [
  {
    id: `crank.transport.ws.${mode}`,
    group: "transport",
    label: `WebSocket transport echo, ws://, one process, ${label}`,
    run: (options: RunOptions) => echo(false, mode, options),
  },
  {
    id: `crank.transport.wss-mtls.${mode}`,
    group: "transport",
    label: `WebSocket transport echo, wss:// mutual TLS, one process, ${label}`,
    run: (options: RunOptions) => echo(true, mode, options),
  },
])
