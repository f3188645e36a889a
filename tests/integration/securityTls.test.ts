/**
 * Trust end to end over real mutual TLS on 127.0.0.1, in one process: a controller on `wss://` with its CA and
 * token store (what `crank controller` starts with), workers and clients that join with tokens and present the
 * certificates they got. Every refusal is checked for its typed code and reason, for being counted in the
 * controller's refusals, and for serving nothing (the worker's completed count does not move). Renewal runs on
 * three-second certificates under a bounded load loop. The same steps through the `crank` command line, as the
 * README shows them, are in securityCli.test.ts; the browser's Origin in tests/e2e/origin.test.ts.
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Fiber, References, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Client from "../../actors/Client.ts"
import * as Controller from "../../actors/Controller.ts"
import { Revocations, revocationFile } from "../../actors/revocation.ts"
import { withTunables } from "../../actors/Tunables.ts"
import * as Worker from "../../actors/Worker.ts"
import { CrankDrain, CrankRevoke } from "../../capabilities/crank.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import helloWorker from "../../examples/hello/index.ts"
import { openControllerAuthority } from "../../src/trust/controllerAuthority.ts"
import { CredentialsCell, type HeldCertificate } from "../../src/trust/credentialsCell.ts"
import { keepRenewed } from "../../src/trust/keepRenewed.ts"
import { requestCertificate } from "../../src/trust/requestCertificate.ts"
import { type ControlMessage, protocolVersion } from "../../transports/Envelope.ts"
import { type CloseInfo, Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { caCertificateFile, caKeyFile } from "../../trust/CertificateAuthority.ts"
import type { Role } from "../../trust/identity.ts"
import { tokensFile } from "../../trust/JoinTokens.ts"
import type { Credentials } from "../../trust/tlsOptions.ts"
import { eventually } from "../support/poll.ts"
import { issue, makeCa, selfSigned } from "../transports/tlsFixtures.ts"

const timings = { heartbeatIntervalMs: 100, staleAfterMs: 5_000, evictAfterMs: 60_000 }
const dirs: Array<string> = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "crank-tls-"))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** Runs `effect` quietly (refusals are logged at Warn by design), with the test timings. */
const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(withTunables(timings), Effect.provideService(References.MinimumLogLevel, "None"))

/**
 * A secure controller on 127.0.0.1:0, as `crank controller` starts it, with helpers to join it: `join(role, id)`
 * makes a token, and over a TLS link that presents no certificate gets one (the token's CA fingerprint pins the
 * controller), then returns a transport that presents it.
 */
const secureMesh = (lifetimeMs = 3_600_000) =>
  Effect.gen(function* () {
    const dir = tempDir()
    const authority = yield* openControllerAuthority(dir, lifetimeMs)
    let controller: Controller.Controller | undefined
    const transport = WebSocketTransport.make({
      tls: { credentials: authority.cell.current, allowAnonymous: true },
      onRefusal: (reason, remote, detail) => controller?.refused(reason === "origin" ? "origin" : "tls", remote, detail),
    })
    controller = yield* Controller.make({
      addresses: ["wss://127.0.0.1:0"],
      access: "certificates",
      signer: { ca: authority.ca, tokens: authority.tokens, lifetimeMs, revocations: authority.revocations },
    }).pipe(Effect.provideService(Transport, transport))
    yield* keepRenewed(authority.cell, authority.mintOwn, transport.renew())
    const pin = WebSocketTransport.caFingerprintOf(authority.ca.certificatePem)
    const token = (role: Role, options: { uses?: number; ttlMs?: number; now?: Date } = {}) =>
      Effect.map(
        authority.tokens.create({
          role,
          ttlMs: options.ttlMs ?? 60_000,
          now: options.now ?? new Date(),
          ...(options.uses === undefined ? {} : { uses: options.uses }),
        }),
        (created) => created.token,
      )
    /** A process's transport: its certificate from `cell`, the controller pinned while it has none. */
    const processTransport = (cell: CredentialsCell, expectController = false) =>
      WebSocketTransport.make({
        tls: { credentials: cell.current, caFingerprint: pin, ...(expectController ? { expectServer: { role: "controller" as const } } : {}) },
      })
    const ask = (id: string, hint: Role, tokenText: string | undefined, cell = new CredentialsCell()) =>
      requestCertificate({ controller: controller!.address, id, hint, caFingerprint: pin, ...(tokenText === undefined ? {} : { token: tokenText }) }).pipe(
        Effect.provideService(Transport, processTransport(cell, true)),
      )
    const join = (role: Role, id: string) =>
      Effect.gen(function* () {
        const cell = new CredentialsCell()
        cell.set(yield* ask(id, role, yield* token(role)))
        return { cell, transport: processTransport(cell), held: cell.certificate()! }
      })
    return { dir, authority, controller: controller!, address: controller!.address, token, ask, join, processTransport }
  })

type Mesh = Effect.Success<ReturnType<typeof secureMesh>>

/** A raw link presenting `transport`'s certificate, recording what the controller says and how it closes. */
const rawLink = (transport: Transport, address: string) =>
  Effect.gen(function* () {
    const inbox: Array<ControlMessage> = []
    const closes: Array<CloseInfo> = []
    const connection = yield* transport.connect(address, () => ({
      onMessage: (message) => void inbox.push(message),
      onClose: (info) => void closes.push(info),
      serve: () => Effect.never,
    }))
    return { connection, inbox, closes }
  })

const registerAs = (workerId: string, nodeId: string): ControlMessage => ({
  _tag: "Register",
  protocolVersion,
  workerId,
  nodeId,
  capabilities: [],
  maxInFlight: 10,
})

const codeOf = <A>(exit: Exit.Exit<A, { readonly code: string; readonly message: string }>) =>
  Exit.isSuccess(exit) ? "success" : exit.cause.reasons.flatMap((r) => (r._tag === "Fail" ? [`${r.error.code}: ${r.error.message}`] : [String(r)])).join("; ")

describe("trust over mutual TLS on 127.0.0.1", () => {
  const scope = Effect.runSync(Scope.make())
  const within = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(quiet(effect.pipe(Scope.provide(scope))))
  let mesh: Mesh
  let worker: Worker.RunningWorker

  beforeAll(async () => {
    mesh = await within(secureMesh())
    const joined = await within(mesh.join("worker", "n1"))
    worker = await within(
      Worker.start(helloWorker, { controller: mesh.address, listen: "wss://127.0.0.1:0", workerId: "n1/hello-1", nodeId: "n1" }).pipe(
        Effect.provideService(Transport, joined.transport),
      ),
    )
    await within(eventually("n1/hello-1 healthy", () => mesh.controller.worker("n1/hello-1")?.state === "healthy"))
  }, 30_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  it("a worker joins with a token, gets a certificate for its node, registers and serves; a client with a client token invokes, directly and relayed", () =>
    within(
      Effect.gen(function* () {
        expect(worker.address).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
        const client = yield* mesh.join("client", "c1")
        expect(client.held.identity).toEqual({ role: "client", id: "c1" })
        expect(yield* mesh.authority.ca.verifyLeaf(client.held.credentials.certificatePem, new Date())).toEqual({ role: "client", id: "c1" })
        const before = worker.completed()
        for (const direct of [true, false]) {
          const link = yield* Client.make({ controller: mesh.address, direct }).pipe(Effect.provideService(Transport, client.transport))
          expect(yield* link.invoke(HelloGreet, { message: "over mTLS" })).toEqual({ greeting: "Hello, over mTLS", worker: "n1/hello-1" })
        }
        expect(worker.completed()).toBe(before + 2)
      }),
    ))

  it("refuses a join with UNAUTHORIZED and its reason, and serves nothing: no token, a wrong one, an expired one, a single-use one used again", () =>
    within(
      Effect.gen(function* () {
        const before = { completed: worker.completed(), refused: mesh.controller.refusals().get("unauthorized") ?? 0 }
        expect(codeOf(yield* Effect.exit(mesh.ask("x1", "worker", undefined)))).toMatch(/^UNAUTHORIZED: a certificate is signed for a join token/)
        const once = yield* mesh.token("worker", { uses: 1 })
        expect(codeOf(yield* Effect.exit(mesh.ask("x1", "worker", `${once.slice(0, -6)}AAAAAA`)))).toMatch(
          /^UNAUTHORIZED: join token refused \(token-wrong-secret\)/,
        )
        const expired = yield* mesh.token("worker", { ttlMs: 1_000, now: new Date(Date.now() - 60_000) })
        expect(codeOf(yield* Effect.exit(mesh.ask("x1", "worker", expired)))).toMatch(/^UNAUTHORIZED: join token refused \(token-expired\)/)
        expect(codeOf(yield* Effect.exit(mesh.ask("x1", "worker", once)))).toBe("success")
        expect(codeOf(yield* Effect.exit(mesh.ask("x2", "worker", once)))).toMatch(/^UNAUTHORIZED: join token refused \(token-used-up\)/)
        // A TLS client without a certificate may ask for one, and nothing else.
        const anonymous = yield* Client.make({ controller: mesh.address, direct: false }).pipe(
          Effect.provideService(Transport, mesh.processTransport(new CredentialsCell(), true)),
        )
        expect(codeOf(yield* Effect.exit(anonymous.invoke(HelloGreet, { message: "sneak" })))).toMatch(
          /^UNAUTHORIZED: this controller admits only peers with a certificate/,
        )
        expect(worker.completed()).toBe(before.completed)
        expect(mesh.controller.refusals().get("unauthorized")).toBe(before.refused + 5)
      }),
    ))

  it("refuses at the TLS handshake, before any request: a certificate from another CA, a self-signed one, plain ws:// to the wss:// port", () =>
    within(
      Effect.gen(function* () {
        const before = { completed: worker.completed(), refused: mesh.controller.refusals().get("tls") ?? 0 }
        const meshCa = mesh.authority.ca
        const otherCa = yield* Effect.promise(() => makeCa())
        const impostors: Array<[string, Credentials]> = [
          ["another CA's", yield* Effect.promise(() => issue(otherCa, { role: "operator", id: "x" }, { trustedCa: meshCa }))],
          ["self-signed", yield* Effect.promise(() => selfSigned({ role: "operator", id: "x" }, meshCa))],
        ]
        for (const [what, credentials] of impostors) {
          const transport = WebSocketTransport.make({ tls: { credentials: () => credentials } })
          const attempt = yield* Effect.exit(
            Effect.flatMap(Client.make({ controller: mesh.address, direct: false, timeoutMs: 3_000 }), (client) =>
              client.invoke(CrankDrain, { workerId: "n1/hello-1" }),
            ).pipe(Effect.provideService(Transport, transport)),
          )
          expect(codeOf(attempt), what).toMatch(/^UNAVAILABLE: /)
        }
        const plain = yield* Effect.exit(
          WebSocketTransport.make().connect(mesh.address.replace("wss://", "ws://"), () => ({
            onMessage: () => {},
            onClose: () => {},
            serve: () => Effect.never,
          })),
        )
        expect(Exit.isFailure(plain)).toBe(true)
        yield* eventually("three handshakes refused and counted", () => (mesh.controller.refusals().get("tls") ?? 0) >= before.refused + 3, {
          show: () => [...mesh.controller.refusals()],
        })
        expect(mesh.controller.worker("n1/hello-1")?.state).toBe("healthy")
        expect(worker.completed()).toBe(before.completed)
      }),
    ))

  it("lets a worker's certificate register only its own node, and never takes a live worker's id", () =>
    within(
      Effect.gen(function* () {
        const cell = new CredentialsCell()
        cell.set(yield* mesh.ask("n3", "worker", yield* mesh.token("worker")))
        const n3 = mesh.processTransport(cell)
        // A valid worker certificate (node n3) registering as a worker of node n1.
        const elsewhere = yield* rawLink(n3, mesh.address)
        yield* elsewhere.connection.send(registerAs("n1/hello-1", "n1"))
        yield* eventually("refused and closed", () => elsewhere.closes.length === 1)
        expect(elsewhere.inbox).toMatchObject([{ _tag: "Failure", code: "FORBIDDEN" }])
        expect(elsewhere.closes[0]!.reason).toBe("worker n3 may register only as node n3 (worker n3 or n3/<name>); it asked for worker n1/hello-1 on node n1")

        // A second connection with n1's own identity cannot take the live n1/hello-1, nor get a certificate for n1.
        const twin = new CredentialsCell()
        const taken = yield* Effect.exit(mesh.ask("n1", "worker", yield* mesh.token("worker"), twin))
        expect(codeOf(taken)).toMatch(/^FORBIDDEN: worker n1 is connected now/)
        expect(mesh.controller.worker("n1/hello-1")?.state).toBe("healthy")
        yield* eventually("n1 still serves", () => worker.state() === "healthy")
      }),
    ))

  it("refuses a second connection registering a live worker's id, whoever it is", () =>
    within(
      Effect.gen(function* () {
        // The live worker's identity, issued by the mesh's CA (as if the CA had signed it twice): still refused.
        const twin = yield* Effect.promise(() => issue(mesh.authority.ca, { role: "worker", id: "n1" }))
        const second = yield* rawLink(WebSocketTransport.make({ tls: { credentials: () => twin } }), mesh.address)
        yield* second.connection.send(registerAs("n1/hello-1", "n1"))
        yield* eventually("refused and closed", () => second.closes.length === 1)
        expect(second.inbox).toMatchObject([{ _tag: "Failure", code: "FORBIDDEN" }])
        expect(second.closes[0]!.reason).toMatch(/^worker n1\/hello-1 is healthy on another connection; a second connection cannot take its id/)
        expect(mesh.controller.refusals().get("id-taken")).toBe(1)
        const client = yield* mesh.join("client", "c2")
        const link = yield* Client.make({ controller: mesh.address, direct: false }).pipe(Effect.provideService(Transport, client.transport))
        expect(yield* link.invoke(HelloGreet, { message: "still n1" })).toMatchObject({ worker: "n1/hello-1" })
      }),
    ))

  it("refuses a client's drain FORBIDDEN; an operator's drains", () =>
    within(
      Effect.gen(function* () {
        const other = yield* mesh.join("worker", "n2")
        const drained = yield* Worker.start(helloWorker, { controller: mesh.address, workerId: "n2/hello-1", nodeId: "n2" }).pipe(
          Effect.provideService(Transport, other.transport),
        )
        yield* eventually("n2 healthy", () => mesh.controller.worker("n2/hello-1")?.state === "healthy")
        const client = yield* mesh.join("client", "c3")
        const asClient = yield* Client.make({ controller: mesh.address, direct: false }).pipe(Effect.provideService(Transport, client.transport))
        expect(codeOf(yield* Effect.exit(asClient.invoke(CrankDrain, { workerId: "n2/hello-1" })))).toBe(
          "FORBIDDEN: client c3 may not drain: it needs the operator role",
        )
        expect(mesh.controller.worker("n2/hello-1")?.state).toBe("healthy")
        const operator = yield* mesh.join("operator", "ops")
        const asOperator = yield* Client.make({ controller: mesh.address, direct: false }).pipe(Effect.provideService(Transport, operator.transport))
        expect(yield* asOperator.invoke(CrankDrain, { workerId: "n2/hello-1" })).toEqual({ workerId: "n2/hello-1", draining: true })
        yield* drained.stopped
      }),
    ))

  it("revokes a worker's certificate: its link is closed, it cannot reconnect, renew or join again under that id; a client may not revoke", () =>
    within(
      Effect.gen(function* () {
        const joined = yield* mesh.join("worker", "n9")
        const revoked = yield* Worker.start(helloWorker, { controller: mesh.address, workerId: "n9/hello-1", nodeId: "n9" }).pipe(
          Effect.provideService(Transport, joined.transport),
        )
        yield* eventually("n9 healthy", () => mesh.controller.worker("n9/hello-1")?.state === "healthy")
        const client = yield* mesh.join("client", "c9")
        const asClient = yield* Client.make({ controller: mesh.address, direct: false }).pipe(Effect.provideService(Transport, client.transport))
        expect(codeOf(yield* Effect.exit(asClient.invoke(CrankRevoke, { role: "worker", id: "n9" })))).toBe(
          "FORBIDDEN: client c9 may not revoke: it needs the operator role",
        )
        const operator = yield* mesh.join("operator", "ops9")
        const asOperator = yield* Client.make({ controller: mesh.address, direct: false }).pipe(Effect.provideService(Transport, operator.transport))
        const answer = yield* asOperator.invoke(CrankRevoke, { role: "worker", id: "n9" })
        expect(answer).toMatchObject({ role: "worker", id: "n9", closed: 1 })
        expect(answer.until - Date.now()).toBeGreaterThan(59 * 60_000)
        // Its link was closed; it redials with the revoked certificate and is refused each time.
        yield* eventually("n9 stale", () => mesh.controller.worker("n9/hello-1")?.state === "stale")
        yield* eventually("refused again", () => (mesh.controller.refusals().get("revoked") ?? 0) >= 2)
        expect(revoked.state()).not.toBe("healthy")
        const renewal = yield* Effect.exit(
          requestCertificate({ controller: mesh.address, id: "n9", hint: "worker" }).pipe(Effect.provideService(Transport, joined.transport)),
        )
        expect(codeOf(renewal)).toMatch(/^(FORBIDDEN: the certificate of worker n9 was revoked|UNAVAILABLE: )/)
        const rejoin = yield* Effect.exit(mesh.ask("n9", "worker", yield* mesh.token("worker")))
        expect(codeOf(rejoin)).toBe("FORBIDDEN: the certificate of worker n9 was revoked; it gets no other until the revocation lapses")
        // Written beside the CA: a restarted controller refuses it too.
        const reread = yield* Revocations.open(revocationFile(mesh.authority.directory))
        expect(reread.isRevoked({ role: "worker", id: "n9" }, Date.now())).toBe(true)
        expect(statSync(revocationFile(mesh.authority.directory)).mode & 0o777).toBe(0o600)
      }),
    ))

  it("keeps the CA key 0600 (and the token store), the certificate 0644; a key others can read is refused at start", () =>
    within(
      Effect.gen(function* () {
        const directory = mesh.authority.directory
        expect(statSync(join(directory, caKeyFile)).mode & 0o777).toBe(0o600)
        expect(statSync(join(directory, caCertificateFile)).mode & 0o777).toBe(0o644)
        expect(statSync(join(directory, tokensFile)).mode & 0o777).toBe(0o600)
        expect(statSync(directory).mode & 0o777).toBe(0o700)
        // Restarted on the same directory: the same CA.
        const again = yield* openControllerAuthority(mesh.dir, 60_000)
        expect(again.created).toBe(false)
        expect(again.ca.certificatePem).toBe(mesh.authority.ca.certificatePem)
        const exposed = tempDir()
        const made = yield* openControllerAuthority(exposed, 60_000)
        chmodSync(join(made.directory, caKeyFile), 0o644)
        const refused = yield* Effect.exit(openControllerAuthority(exposed, 60_000))
        expect(Exit.isFailure(refused) && refused.cause.reasons[0]?._tag === "Fail" ? refused.cause.reasons[0].error : undefined).toMatchObject({
          reason: "file-exposed",
          message: expect.stringContaining("chmod 600"),
        })
      }),
    ))
})

describe("certificate renewal over mutual TLS", () => {
  it(
    "renews the controller's, a worker's and a client's certificates under load and loses no request",
    () =>
      Effect.runPromise(
        quiet(
          Effect.scoped(
            Effect.gen(function* () {
              // Four-second certificates (X.509 keeps whole seconds: 3 to 4 s of life), each side renewing on its own
              // schedule at two thirds of it.
              const mesh = yield* secureMesh(4_000)
              const joined = yield* mesh.join("worker", "r1")
              const renewals: Array<HeldCertificate> = []
              const renewOwn = (cell: CredentialsCell, transport: WebSocketTransport.WebSocketTransport, id: string, hint: Role) =>
                keepRenewed(
                  cell,
                  requestCertificate({ controller: mesh.address, id, hint }).pipe(
                    Effect.provideService(Transport, transport),
                    Effect.tap((held) => Effect.sync(() => hint === "worker" && renewals.push(held))),
                  ),
                  transport.renew(),
                )
              yield* renewOwn(joined.cell, joined.transport, "r1", "worker")
              const worker = yield* Worker.start(helloWorker, {
                controller: mesh.address,
                listen: "wss://127.0.0.1:0",
                workerId: "r1/hello-1",
                nodeId: "r1",
              }).pipe(Effect.provideService(Transport, joined.transport))
              yield* eventually("healthy", () => mesh.controller.worker("r1/hello-1")?.state === "healthy")
              const client = yield* mesh.join("client", "load")
              yield* renewOwn(client.cell, client.transport, "load", "client")
              const steady = yield* Client.make({ controller: mesh.address, direct: true }).pipe(Effect.provideService(Transport, client.transport))

              let sent = 0
              let answered = 0
              const failures: Array<string> = []
              const one = (via: Client.Client) =>
                Effect.suspend(() => {
                  sent++
                  return via
                    .invoke(HelloGreet, { message: `n${sent}` })
                    .pipe(Effect.match({ onSuccess: () => void answered++, onFailure: (error) => void failures.push(`${error.code}: ${error.message}`) }))
                })
              // Bounded: at most 300 rounds (each a batch on the long-lived links and one request over fresh handshakes),
              // stopping once the worker has renewed three times.
              for (let round = 0; round < 300 && renewals.length < 3; round++) {
                const fresh = yield* Effect.scoped(
                  Effect.flatMap(Client.make({ controller: mesh.address, direct: true }).pipe(Effect.provideService(Transport, client.transport)), one),
                ).pipe(Effect.forkChild({ startImmediately: true }))
                yield* Effect.all(
                  Array.from({ length: 20 }, () => one(steady)),
                  { concurrency: "unbounded" },
                )
                yield* Fiber.join(fresh)
                yield* Effect.sleep(20)
              }
              expect(renewals.length).toBeGreaterThanOrEqual(3)
              expect(failures).toEqual([])
              expect(answered).toBe(sent)
              expect(worker.completed()).toBe(sent)
              // Each renewal is a new certificate for the same node, valid later than the one before.
              expect(new Set(renewals.map((held) => held.credentials.certificatePem)).size).toBe(renewals.length)
              expect(renewals.every((held) => held.identity.id === "r1" && held.identity.role === "worker")).toBe(true)
              expect(mesh.authority.cell.certificate()!.obtainedAt).toBeGreaterThan(Date.now() - 4_000)
            }),
          ),
        ),
      ),
    60_000,
  )
})
