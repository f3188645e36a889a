/**
 * What the trust layer's crypto costs, printed (not asserted): `node --import tsx tests/unit/trust/measureTrust.ts`.
 * Each step runs `rounds` times after a warm-up; the figures are per call, in one process: wall-clock quantiles,
 * and CPU time (user + system, `process.cpuUsage`), which a machine shared with other work disturbs less.
 */
import { performance } from "node:perf_hooks"
import { Effect } from "effect"
import * as CertificateAuthority from "../../../trust/CertificateAuthority.ts"
import { createCsr } from "../../../trust/csr.ts"
import { generateKeyPair } from "../../../trust/keyPair.ts"

const rounds = Number(process.argv[2] ?? 200)
const now = new Date()
const identity = { role: "worker", id: "hello-1k3" } as const

const measure = async (name: string, step: () => Promise<unknown>): Promise<void> => {
  for (let index = 0; index < 10; index++) await step()
  const times: number[] = []
  const cpuBefore = process.cpuUsage()
  for (let index = 0; index < rounds; index++) {
    const start = performance.now()
    await step()
    times.push(performance.now() - start)
  }
  const cpu = process.cpuUsage(cpuBefore)
  const cpuMs = ((cpu.user + cpu.system) / 1000 / rounds).toFixed(3)
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3)
  const mean = (times.reduce((sum, time) => sum + time, 0) / times.length).toFixed(3)
  console.log(`${name.padEnd(16)} cpu ${cpuMs} ms  wall mean ${mean} ms  p50 ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}  (${rounds} runs)`)
}

const ca = await Effect.runPromise(CertificateAuthority.create({ now }))
const keyPair = await Effect.runPromise(generateKeyPair())
const csrPem = await Effect.runPromise(createCsr(keyPair, identity))
const leafPem = await Effect.runPromise(ca.signCsr(csrPem, { identity, now }))

await measure("createCa", () => Effect.runPromise(CertificateAuthority.create({ now })))
await measure("generateKeyPair", () => Effect.runPromise(generateKeyPair()))
await measure("createCsr", () => Effect.runPromise(createCsr(keyPair, identity)))
await measure("signCsr", () => Effect.runPromise(ca.signCsr(csrPem, { identity, now })))
await measure("verifyLeaf", () => Effect.runPromise(ca.verifyLeaf(leafPem, now)))
