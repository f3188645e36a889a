/**
 * The joining side's small pieces: the join token as printed (token + CA fingerprint), durations typed on the
 * command line, which hosts a plain-text listener may bind, process ids that fit a certificate, and the renewal
 * loop in virtual time (renewed at two thirds of a certificate's life, retried on failure, never past its owner).
 */
import { Clock, Effect, Fiber, References } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { parseDuration } from "../../src/cli/duration.ts"
import { processId } from "../../src/cli/meshAccess.ts"
import { hostNameOf, isLoopbackAddress, isLoopbackHost } from "../../src/http/loopback.ts"
import { CredentialsCell, type HeldCertificate } from "../../src/trust/credentialsCell.ts"
import { joinTokenOf, parseJoinToken } from "../../src/trust/joinToken.ts"
import { keepRenewed, renewalTime } from "../../src/trust/keepRenewed.ts"
import { caFingerprintOf } from "../../transports/WebSocketTransport.ts"
import { idProblem } from "../../trust/identity.ts"
import { makeCa } from "../transports/tlsFixtures.ts"

const token = `crank1.0123456789abcdef.${"A".repeat(43)}`

describe("a join token as printed", () => {
  it("carries the CA fingerprint after the token, and parses back into both", async () => {
    const ca = await makeCa()
    const printed = joinTokenOf(token, ca.certificatePem)
    expect(printed).toMatch(/^crank1\.0123456789abcdef\.A{43}\.[0-9a-f]{64}$/)
    expect(parseJoinToken(printed)).toEqual({ token, caFingerprint: caFingerprintOf(ca.certificatePem) })
    expect(parseJoinToken(`  ${printed}\n`)).toEqual({ token, caFingerprint: caFingerprintOf(ca.certificatePem) })
  })

  it("takes a bare token without a fingerprint, and nothing that is not a token", () => {
    expect(parseJoinToken(token)).toEqual({ token })
    for (const bad of ["", "crank1", `${token}.abc`, `${token}.${"g".repeat(64)}`, `crank2.0123456789abcdef.${"A".repeat(43)}`, `${token}x`]) {
      expect(parseJoinToken(bad), bad).toBeUndefined()
    }
  })
})

describe("command-line pieces", () => {
  it("reads durations with a unit, or bare milliseconds", () => {
    expect(["250ms", "90s", "15m", "1h", "7d", "1.5h", "500"].map((text) => parseDuration(text, "--ttl"))).toEqual([
      250, 90_000, 900_000, 3_600_000, 604_800_000, 5_400_000, 500,
    ])
    for (const bad of ["", "0", "-1h", "1w", "h", "1 h"]) expect(() => parseDuration(bad, "--ttl"), bad).toThrow(/--ttl must be a positive duration/)
  })

  it("binds a plain-text listener only to loopback hosts", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"].map(isLoopbackHost)).toEqual([true, true, true, true, true, true])
    expect(["0.0.0.0", "::", "10.0.0.5", "example.com", "128.0.0.1", "127.0.0.1.nip.io"].map(isLoopbackHost)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ])
  })

  it("reads the host a request names, and which socket addresses are loopback", () => {
    expect(["127.0.0.1:7070", "[::1]:7070", "localhost", "Attacker.Example:7070", undefined, "a b"].map(hostNameOf)).toEqual([
      "127.0.0.1",
      "::1",
      "localhost",
      "attacker.example",
      undefined,
      undefined,
    ])
    expect(["127.0.0.1", "::ffff:127.0.0.1", "::1", "10.0.0.1", "::ffff:10.0.0.1", undefined].map(isLoopbackAddress)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ])
  })

  it("names a process with an id a certificate can carry", () => {
    for (const prefix of ["", "cli-"]) {
      const id = processId(prefix)
      expect(idProblem(id)).toBeUndefined()
      expect(id.startsWith(prefix) && id.endsWith(String(process.pid))).toBe(true)
    }
  })
})

describe("keepRenewed (virtual time)", () => {
  const held = (obtainedAt: number, notAfter: number, serial: string): HeldCertificate => ({
    identity: { role: "worker", id: "n1" },
    credentials: { privateKeyPem: serial, certificatePem: serial, caCertificatePem: "ca" },
    obtainedAt,
    notAfter,
  })

  it("renews at two thirds of the certificate's life, retries a failed renewal, and swaps the certificate before telling the transport", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          expect(renewalTime({ obtainedAt: 0, notAfter: 3_000 })).toBe(2_000)
          const cell = new CredentialsCell()
          cell.set(held(0, 3_000, "first"))
          let attempts = 0
          const seenByTransport: Array<string> = []
          const renew = Effect.suspend(() => {
            attempts++
            // The first attempt fails (the controller is restarting); the next one succeeds.
            return attempts === 1
              ? Effect.fail("controller restarting")
              : Clock.currentTimeMillis.pipe(Effect.map((now) => held(now, now + 3_000, `renewal ${attempts}`)))
          })
          yield* keepRenewed(
            cell,
            renew,
            Effect.sync(() => void seenByTransport.push(cell.current()!.certificatePem)),
          )
          yield* TestClock.adjust(1_999)
          expect(attempts).toBe(0)
          yield* TestClock.adjust(1)
          expect(attempts).toBe(1)
          expect(cell.current()!.certificatePem).toBe("first")
          // Retried after a tenth of the second left.
          yield* TestClock.adjust(100)
          expect(attempts).toBe(2)
          expect(cell.current()!.certificatePem).toBe("renewal 2")
          expect(seenByTransport).toEqual(["renewal 2"])
          // The next renewal is two thirds into the new certificate's life.
          yield* TestClock.adjust(1_999)
          expect(attempts).toBe(2)
          yield* TestClock.adjust(1)
          expect(seenByTransport).toEqual(["renewal 2", "renewal 3"])
        }),
      ).pipe(Effect.provide(TestClock.layer()), Effect.provideService(References.MinimumLogLevel, "None")),
    ))

  it("stops with its scope", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const cell = new CredentialsCell()
        cell.set(held(0, 3_000, "first"))
        let attempts = 0
        const fiber = yield* Effect.forkChild(
          Effect.scoped(
            Effect.andThen(
              keepRenewed(
                cell,
                Effect.sync(() => held(0, 3_000, `r${++attempts}`)),
                Effect.void,
              ),
              Effect.sleep(1_000),
            ),
          ),
          { startImmediately: true },
        )
        yield* TestClock.adjust(1_000)
        yield* Fiber.join(fiber)
        yield* TestClock.adjust(10_000)
        expect(attempts).toBe(0)
      }).pipe(Effect.provide(TestClock.layer())),
    ))
})
