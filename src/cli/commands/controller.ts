/**
 * `crank controller`: run a controller that workers on other nodes join. Its usage text lives in the command table
 * (../commands.ts).
 *
 * By default it listens on `wss://` with mutual TLS: its CA in `<data dir>/controller` (made on first start, reused
 * after), its own server certificate minted from it and renewed, TLS clients without a certificate admitted only
 * to ask for one with a join token, and the dashboard for operators only. `--insecure` is the old plain `ws://`
 * with no access control, refused on a host other than loopback unless `--insecure-anywhere`, and logged loudly.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { AccessMode } from "../../../actors/authorization.ts"
import type { Controller } from "../../../actors/Controller.ts"
import * as Federation from "../../../actors/Federation.ts"
import { withTunables } from "../../../actors/Tunables.ts"
import { combine } from "../../../transports/combine.ts"
import * as MemoryTransport from "../../../transports/MemoryTransport.ts"
import { type HttpHandler, Transport } from "../../../transports/Transport.ts"
import * as WebSocketTransport from "../../../transports/WebSocketTransport.ts"
import { makeControllerHttp } from "../../dashboard/controllerHttp.ts"
import { operatorAccess } from "../../dashboard/operatorAccess.ts"
import { listenProbes, parseHostPort } from "../../dashboard/probesListener.ts"
import { httpUrlOf } from "../../http/httpUrl.ts"
import { isLoopbackHost } from "../../http/loopback.ts"
import * as Node from "../../Node.ts"
import { openControllerAuthority } from "../../trust/controllerAuthority.ts"
import { keepRenewed } from "../../trust/keepRenewed.ts"
import type { CommandRun } from "../Command.ts"
import { unavailable } from "../connect.ts"
import { parseDuration } from "../duration.ts"
import { dataRootOf, isInsecure } from "../meshAccess.ts"
import { defaultHost, defaultPort, hostForUrl, parse, pick, pickNumber, UsageError } from "../options.ts"
import { printLine } from "../output.ts"
import { timingOptions, tunablesFrom } from "../timings.ts"

export const run: CommandRun = (argv) =>
  Effect.gen(function* () {
    const { values } = parse(argv, {
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      insecure: { type: "boolean" },
      "insecure-anywhere": { type: "boolean" },
      "allowed-origin": { type: "string", multiple: true },
      "data-dir": { type: "string" },
      "cert-lifetime": { type: "string" },
      inspect: { type: "boolean" },
      "probes-listen": { type: "string" },
      federation: { type: "string" },
      "controller-id": { type: "string" },
      ...timingOptions,
    })
    const host = pick(values.host, "host", defaultHost)!
    const port = pickNumber(values.port, "port", defaultPort)!
    const anywhere = values["insecure-anywhere"] === true
    const insecure = anywhere || isInsecure(values.insecure)
    const token = pick(values.token, "token")
    if (!insecure && values.token !== undefined) {
      throw new UsageError("--token is the shared registration token of an --insecure controller; a secure one admits peers by join token (crank token create)")
    }
    if (insecure && !anywhere && !isLoopbackHost(host)) {
      throw new UsageError(
        `--insecure serves plain ws:// with no access control, so only on a loopback host (127.0.0.1, ::1, localhost); ${host} is not one. ` +
          "Drop --insecure (mutual TLS is the default), or pass --insecure-anywhere if you mean it",
      )
    }
    const lifetimeMs = parseDuration(values["cert-lifetime"] ?? "1h", "--cert-lifetime")
    const probesAt = values["probes-listen"] === undefined ? undefined : parseHostPort(values["probes-listen"])
    if (values["probes-listen"] !== undefined && probesAt === undefined) {
      throw new UsageError(`--probes-listen takes HOST:PORT (e.g. 127.0.0.1:9090); got "${values["probes-listen"]}"`)
    }
    const allowedOrigins = values["allowed-origin"] ?? []
    let node: Node.CrankNode | undefined
    /** The current controller's HTTP surface, which the probes listener also answers with. */
    let surface: HttpHandler | undefined
    // The transport refuses TLS handshakes and browser origins before any connection exists: the controller counts them.
    const onRefusal = (reason: string, remoteAddress: string, detail: string) =>
      node?.controller()?.refused(reason === "origin" ? "origin" : "tls", remoteAddress, `${reason}: ${detail}`)
    const authority = insecure ? undefined : yield* Effect.mapError(openControllerAuthority(dataRootOf(values["data-dir"]), lifetimeMs), unavailable)
    const webSocket = WebSocketTransport.make({
      allowedOrigins,
      onRefusal,
      ...(authority === undefined ? {} : { tls: { credentials: authority.cell.current, allowAnonymous: true } }),
    })
    const transport = combine(MemoryTransport.make(), webSocket)
    const access: AccessMode = insecure ? "open" : "certificates"
    const operators = authority === undefined ? undefined : operatorAccess(authority.tokens, yield* Clock.Clock)
    // A federation of controllers over NATS (docs/federation.md): joined once the controller listens.
    const federation =
      values.federation === undefined
        ? undefined
        : yield* Effect.mapError(
            Federation.make({ nats: values.federation, controllerId: values["controller-id"] ?? `controller-${process.pid}` }),
            unavailable,
          )
    node = yield* Node.start({
      nodeId: pick(undefined, "node", `controller-${process.pid}`)!,
      controller: {
        addresses: [`${insecure ? "ws" : "wss"}://${hostForUrl(host)}:${port}`],
        access,
        ...(token === undefined ? {} : { token }),
        ...(authority === undefined ? {} : { signer: { ca: authority.ca, tokens: authority.tokens, lifetimeMs, revocations: authority.revocations } }),
        ...(federation === undefined ? {} : { federation }),
        // The dashboard, /metrics and the probes share the controller's port.
        http: (controller: Controller) =>
          Effect.map(
            makeControllerHttp(() => controller, {
              inspect: values.inspect === true,
              ...(operators === undefined ? {} : { operators }),
            }),
            (made) => {
              surface = made.handle
              return made.handle
            },
          ),
      },
    }).pipe(withTunables(tunablesFrom(values)), Effect.provideService(Transport, transport), Effect.mapError(unavailable))
    if (probesAt !== undefined) {
      const url = yield* Effect.mapError(
        listenProbes(probesAt.host, probesAt.port, () => surface),
        unavailable,
      )
      yield* Effect.logInfo(`probes and metrics also on ${url} (/healthz, /readyz, /metrics)`)
    }
    const running = node.controller()!
    if (authority === undefined) {
      yield* Effect.logWarning(
        `INSECURE: ${running.address} is plain ws:// with no certificates and no access control: any process that reaches it may register workers, invoke and drain them. For one machine's development only; drop --insecure for mutual TLS.`,
      )
    } else {
      yield* keepRenewed(authority.cell, authority.mintOwn, webSocket.renew())
      yield* Effect.logInfo(
        `${authority.created ? "made a new CA" : "using the CA"} ${authority.ca.name} in ${authority.directory}; peers join with a token: crank token create --data-dir ${dataRootOf(values["data-dir"])}`,
      )
    }
    yield* Effect.logInfo(`controller listening on ${running.address}`)
    printLine(`dashboard: ${httpUrlOf(running.address)}${authority === undefined ? "" : " (operators only)"}`)
    return yield* Effect.never
  })
