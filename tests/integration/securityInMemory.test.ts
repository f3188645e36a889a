/**
 * The controller's authorization and its certificate signer, in memory: each connection is given the identity
 * mutual TLS would have proved (`tests/support/peerTransport.ts`), so every rule is checked without a wire. The
 * same rules over real TLS on loopback are in securityTls.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, References, type Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Controller from "../../actors/Controller.ts"
import * as Worker from "../../actors/Worker.ts"
import { descriptorOf } from "../../capabilities/Capability.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
import helloWorker from "../../examples/hello/index.ts"
import { type ControlMessage, type Invoke, protocolVersion, type Reply } from "../../transports/Envelope.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { type CloseInfo, Transport } from "../../transports/Transport.ts"
import * as CertificateAuthority from "../../trust/CertificateAuthority.ts"
import { createCsr } from "../../trust/csr.ts"
import type { Identity } from "../../trust/identity.ts"
import * as JoinTokens from "../../trust/JoinTokens.ts"
import { generateKeyPair } from "../../trust/keyPair.ts"
import { type PeerTransport, withPeers } from "../support/peerTransport.ts"
import { settled } from "../support/poll.ts"

const address = "memory://controller"
const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

let sequence = 0
const invoke = (capability: string, input: unknown): Invoke => ({ _tag: "Invoke", id: `r${++sequence}`, capability, range: "*", input, timeoutMs: 5_000 })

/** A controller in `certificates` mode with a CA and a token store, on a transport whose peers the test names. */
const secureMesh = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "crank-security-"))
  dirs.push(dir)
  const now = new Date()
  const ca = yield* CertificateAuthority.create({ now })
  const tokens = yield* JoinTokens.make(dir)
  const transport = withPeers(MemoryTransport.make())
  const controller = yield* Controller.make({ addresses: [address], access: "certificates", signer: { ca, tokens } }).pipe(
    Effect.provideService(Transport, transport),
  )
  /** A raw connection that proves `peer` (or nothing). */
  const connect = (peer: Identity | undefined) =>
    Effect.gen(function* () {
      const inbox: Array<ControlMessage> = []
      const closes: Array<CloseInfo> = []
      transport.as = peer
      const connection = yield* transport.connect(address, () => ({
        onMessage: (message) => void inbox.push(message),
        onClose: (info) => void closes.push(info),
        serve: (request) => Effect.succeed({ _tag: "Result", id: request.id, output: { greeting: "hi", worker: "w" } } as Reply),
      }))
      return { connection, inbox, closes, call: (capability: string, input: unknown) => connection.call(invoke(capability, input)) }
    })
  const token = (role: "worker" | "client" | "operator", options: { uses?: number; ttlMs?: number; now?: Date } = {}) =>
    Effect.map(
      tokens.create({ role, ttlMs: options.ttlMs ?? 60_000, now: options.now ?? new Date(), ...(options.uses === undefined ? {} : { uses: options.uses }) }),
      (created) => created.token,
    )
  const csrFor = (hint: Identity) => Effect.flatMap(generateKeyPair(), (keys) => createCsr(keys, hint))
  return { ca, tokens, transport, controller, connect, token, csrFor }
})

const register = (workerId: string, nodeId: string): ControlMessage => ({
  _tag: "Register",
  protocolVersion,
  workerId,
  nodeId,
  capabilities: [descriptorOf(HelloGreet)],
  maxInFlight: 10,
})

const run = <A, E>(body: Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(body).pipe(Effect.provideService(References.MinimumLogLevel, "None")))

const failureCode = (reply: Reply) => (reply._tag === "Failure" ? `${reply.code}: ${reply.message}` : "Result")

describe("trust in memory: who may do what", () => {
  it("signs a CSR for the token's role and the id asked, whatever the CSR says; the certificate verifies against the CA", () =>
    run(
      Effect.gen(function* () {
        const { ca, connect, token, csrFor, controller } = yield* secureMesh
        const anonymous = yield* connect(undefined)
        // The CSR asks to be an operator; the token grants a worker: the token decides.
        const csr = yield* csrFor({ role: "operator", id: "root" })
        const reply = yield* anonymous.call("certificate.sign_csr", { csr, id: "n1", token: yield* token("worker") })
        expect(reply._tag).toBe("Result")
        const output = (reply as { output: { certificate: string; caCertificate: string; role: string; id: string; notAfter: number } }).output
        expect(output).toMatchObject({ role: "worker", id: "n1", caCertificate: ca.certificatePem })
        expect(yield* ca.verifyLeaf(output.certificate, new Date())).toEqual({ role: "worker", id: "n1" })
        expect(output.notAfter - Date.now()).toBeGreaterThan(59 * 60_000)
        expect(controller.refusals().size).toBe(0)
      }),
    ))

  it("refuses joins with UNAUTHORIZED and a reason: no token, wrong, malformed, expired, revoked, a single-use token reused", () =>
    run(
      Effect.gen(function* () {
        const { tokens, connect, token, csrFor, controller } = yield* secureMesh
        const anonymous = yield* connect(undefined)
        const csr = yield* csrFor({ role: "worker", id: "n1" })
        const sign = (input: Record<string, unknown>) => Effect.map(anonymous.call("certificate.sign_csr", { csr, id: "n1", ...input }), failureCode)

        expect(yield* sign({})).toMatch(/^UNAUTHORIZED: a certificate is signed for a join token/)
        const good = yield* token("worker", { uses: 1 })
        const wrong = `${good.slice(0, -4)}AAAA`
        expect(yield* sign({ token: wrong })).toMatch(/^UNAUTHORIZED: join token refused \(token-wrong-secret\)/)
        expect(yield* sign({ token: "crank1.nope" })).toMatch(/^UNAUTHORIZED: join token refused \(token-malformed\)/)
        const expired = yield* token("worker", { ttlMs: 1_000, now: new Date(Date.now() - 60_000) })
        expect(yield* sign({ token: expired })).toMatch(/^UNAUTHORIZED: join token refused \(token-expired\)/)
        const revoked = yield* token("worker")
        yield* tokens.revoke(revoked.split(".")[1]!)
        expect(yield* sign({ token: revoked })).toMatch(/^UNAUTHORIZED: join token refused \(token-revoked\)/)
        // The single-use token admits once, then never again.
        expect(yield* sign({ token: good })).toBe("Result")
        const second = yield* connect(undefined)
        const again = yield* second.call("certificate.sign_csr", { csr, id: "n2", token: good })
        expect(failureCode(again)).toMatch(/^UNAUTHORIZED: join token refused \(token-used-up\)/)
        expect(controller.refusals().get("unauthorized")).toBe(6)
      }),
    ))

  it("lets a connection without a certificate ask for one and nothing else", () =>
    run(
      Effect.gen(function* () {
        const { connect, controller } = yield* secureMesh
        const anonymous = yield* connect(undefined)
        expect(failureCode(yield* anonymous.call("crank.status", {}))).toMatch(/^UNAUTHORIZED: this controller admits only peers with a certificate/)
        expect(failureCode(yield* anonymous.call("hello.greet", { message: "x" }))).toMatch(/^UNAUTHORIZED/)
        yield* anonymous.connection.send(register("n1/hello-1", "n1"))
        yield* settled("refused and closed", () => anonymous.closes.length === 1)
        expect(anonymous.inbox).toMatchObject([{ _tag: "Failure", code: "UNAUTHORIZED" }])
        expect(controller.workers()).toEqual([])
        expect(controller.refusals().get("unauthorized")).toBe(3)
      }),
    ))

  it("gives each role what it may: a client reads status and invokes but may not drain; an operator drains", () =>
    run(
      Effect.gen(function* () {
        const { connect, controller } = yield* secureMesh
        const worker = yield* connect({ role: "worker", id: "n1" })
        yield* worker.connection.send(register("n1/hello-1", "n1"))
        yield* worker.connection.send({ _tag: "Heartbeat", workerId: "n1/hello-1", seq: 1, inFlight: 0, completed: 0 })
        yield* settled("healthy", () => controller.worker("n1/hello-1")?.state === "healthy")

        const client = yield* connect({ role: "client", id: "c1" })
        expect((yield* client.call("crank.status", {}))._tag).toBe("Result")
        expect((yield* client.call("crank.routes", {}))._tag).toBe("Result")
        expect(yield* client.call("hello.greet", { message: "x" })).toMatchObject({ _tag: "Result", output: { greeting: "hi" } })
        const drain = yield* client.call("crank.drain", { workerId: "n1/hello-1" })
        expect(failureCode(drain)).toBe("FORBIDDEN: client c1 may not drain: it needs the operator role")
        expect(controller.worker("n1/hello-1")?.state).toBe("healthy")
        // A worker's certificate serves; it does not call.
        expect(failureCode(yield* worker.call("hello.greet", { message: "x" }))).toMatch(/^FORBIDDEN: worker n1 may not invoke/)

        const operator = yield* connect({ role: "operator", id: "ops" })
        expect((yield* operator.call("crank.drain", { workerId: "n1/hello-1" }))._tag).toBe("Result")
        yield* settled("draining", () => controller.worker("n1/hello-1")?.state === "draining")
        expect(controller.refusals().get("forbidden")).toBe(2)
      }),
    ))

  it("lets a worker register only on the node its certificate names", () =>
    run(
      Effect.gen(function* () {
        const { connect, controller } = yield* secureMesh
        const elsewhere = yield* connect({ role: "worker", id: "n1" })
        yield* elsewhere.connection.send(register("n2/hello-1", "n2"))
        yield* settled("refused", () => elsewhere.closes.length === 1)
        expect(elsewhere.inbox[0]).toMatchObject({ _tag: "Failure", code: "FORBIDDEN" })
        expect(elsewhere.closes[0]!.reason).toBe("worker n1 may register only as node n1 (worker n1 or n1/<name>); it asked for worker n2/hello-1 on node n2")
        // The right node, but the worker id of another node: refused too.
        const mixed = yield* connect({ role: "worker", id: "n1" })
        yield* mixed.connection.send(register("n2/hello-1", "n1"))
        yield* settled("refused", () => mixed.closes.length === 1)
        const client = yield* connect({ role: "client", id: "n1" })
        yield* client.connection.send(register("n1/hello-1", "n1"))
        yield* settled("refused", () => client.closes.length === 1)
        expect(client.closes[0]!.reason).toMatch(/^client n1 may not register/)

        const own = yield* connect({ role: "worker", id: "n1" })
        yield* own.connection.send(register("n1/hello-1", "n1"))
        yield* settled("registered", () => own.inbox.some((m) => m._tag === "Registered"))
        expect(controller.workers().map((w) => w.id)).toEqual(["n1/hello-1"])
        expect(controller.refusals().get("forbidden")).toBe(3)
      }),
    ))

  it("renews a peer's own identity without a token, and nothing else; no certificate for an id a live connection holds", () =>
    run(
      Effect.gen(function* () {
        const { ca, connect, token, csrFor } = yield* secureMesh
        const worker = yield* connect({ role: "worker", id: "n1" })
        const renewal = yield* worker.call("certificate.sign_csr", { csr: yield* csrFor({ role: "worker", id: "n1" }), id: "n1" })
        expect(renewal._tag).toBe("Result")
        expect(yield* ca.verifyLeaf((renewal as { output: { certificate: string } }).output.certificate, new Date())).toEqual({ role: "worker", id: "n1" })
        const other = yield* worker.call("certificate.sign_csr", { csr: yield* csrFor({ role: "worker", id: "n2" }), id: "n2" })
        expect(failureCode(other)).toBe("FORBIDDEN: worker n1 may renew only its own certificate; it asked for n2")

        // n1 is connected: a token does not buy a second process its identity, and the token is not spent.
        const once = yield* token("worker", { uses: 1 })
        const anonymous = yield* connect(undefined)
        const taken = yield* anonymous.call("certificate.sign_csr", { csr: yield* csrFor({ role: "worker", id: "n1" }), id: "n1", token: once })
        expect(failureCode(taken)).toMatch(/^FORBIDDEN: worker n1 is connected now/)
        const elsewhere = yield* anonymous.call("certificate.sign_csr", { csr: yield* csrFor({ role: "worker", id: "n3" }), id: "n3", token: once })
        expect(elsewhere._tag).toBe("Result")
      }),
    ))

  it("a worker serves a direct link only to a peer that may invoke (a client, an operator), never to another worker's certificate", () =>
    run(
      Effect.gen(function* () {
        const { transport } = yield* secureMesh
        const worker = yield* Worker.start(helloWorker, { controller: address, listen: "memory://n1-hello", workerId: "n1/hello-1", nodeId: "n1" }).pipe(
          Effect.provideService(Transport, transport),
        )
        const dial = (peer: Identity) => {
          transport.as = peer
          return transport.connect(worker.address!, () => ({ onMessage: () => {}, onClose: () => {}, serve: () => Effect.never }))
        }
        const greet = invoke("hello.greet", { message: "direct" })
        const asWorker = yield* dial({ role: "worker", id: "n2" })
        expect(failureCode(yield* asWorker.call(greet))).toBe("FORBIDDEN: worker n2 may not invoke: it needs the client or operator role")
        const asClient = yield* dial({ role: "client", id: "c1" })
        expect(yield* asClient.call(greet)).toMatchObject({ _tag: "Result", output: { greeting: "Hello, direct" } })
        expect(worker.completed()).toBe(1)
      }),
    ))

  it("in open mode (one process, --insecure) a connection without a certificate may do everything, as before", () =>
    run(
      Effect.gen(function* () {
        const transport = withPeers(MemoryTransport.make()) as PeerTransport
        const controller = yield* Controller.make({ addresses: [address] }).pipe(Effect.provideService(Transport, transport))
        const link = yield* transport.connect(address, () => ({ onMessage: () => {}, onClose: () => {}, serve: () => Effect.never }))
        expect((yield* link.call(invoke("crank.status", {})))._tag).toBe("Result")
        yield* link.send(register("any/hello-1", "any"))
        yield* settled("registered", () => controller.worker("any/hello-1") !== undefined)
        expect((yield* link.call(invoke("crank.drain", { workerId: "any/hello-1" })))._tag).toBe("Result")
        expect(failureCode(yield* link.call(invoke("certificate.sign_csr", { csr: "x", id: "n1", token: "t" })))).toMatch(
          /^NO_WORKER: this controller has no CA/,
        )
        expect(controller.refusals().size).toBe(0)
      }),
    ))
})
