import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as JoinTokens from "../../../trust/JoinTokens.ts"
import type { TrustError } from "../../../trust/TrustError.ts"
import { useTempDirs } from "./tempDirs.ts"

const run = <A>(effect: Effect.Effect<A, TrustError>): Promise<A> => Effect.runPromise(effect)
const reasonOf = async (effect: Effect.Effect<unknown, TrustError>): Promise<string> => (await Effect.runPromise(Effect.flip(effect))).reason
const outcomeOf = async (effect: Effect.Effect<unknown, TrustError>): Promise<string> => {
  const result = await Effect.runPromise(Effect.result(effect))
  return result._tag === "Success" ? "ok" : result.failure.reason
}

const now = new Date("2030-01-15T12:00:00.000Z")
const hour = 3_600_000
const later = (ms: number) => new Date(now.getTime() + ms)

describe("JoinTokens", () => {
  const tempDir = useTempDirs()
  const store = () => {
    const dir = tempDir()
    return { dir, file: path.join(dir, JoinTokens.tokensFile), tokens: Effect.runSync(JoinTokens.make(dir)) }
  }

  it("creates crank1.<id>.<secret> tokens and stores only the secret's SHA-256, in a 0600 file", async () => {
    const { file, tokens } = store()
    const { token, record } = await run(tokens.create({ role: "worker", ttlMs: hour, uses: 3, now }))
    expect(token).toMatch(/^crank1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/)
    const { tokenId, secret } = JoinTokens.parseToken(token)!
    expect(Buffer.from(secret, "base64url")).toHaveLength(32)
    expect(record).toEqual({ id: tokenId, role: "worker", createdAt: now.toISOString(), expiresAt: later(hour).toISOString(), usesLeft: 3, revoked: false })
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    const text = fs.readFileSync(file, "utf8")
    expect(text).not.toContain(secret)
    expect(JSON.parse(text).tokens[0].secretSha256).toMatch(/^[0-9a-f]{64}$/)
    expect(fs.readdirSync(path.dirname(file))).toEqual([JoinTokens.tokensFile])
    expect(await run(tokens.list())).toEqual([record])
  })

  it("redeems a token for its role, spending one use each time, then refuses it as used up", async () => {
    const { tokens } = store()
    const { token, record } = await run(tokens.create({ role: "client", ttlMs: hour, uses: 2, now }))
    expect(await run(tokens.redeem(token, now))).toEqual({ role: "client", tokenId: record.id })
    expect((await run(tokens.list()))[0]?.usesLeft).toBe(1)
    expect(await run(tokens.redeem(token, now))).toEqual({ role: "client", tokenId: record.id })
    expect(await reasonOf(tokens.redeem(token, now))).toBe("token-used-up")
    expect(JoinTokens.tokenStatus((await run(tokens.list()))[0]!, now)).toBe("used-up")
  })

  it("lets a token without a use count admit any number of joins until it expires", async () => {
    const { tokens } = store()
    const { token } = await run(tokens.create({ role: "operator", ttlMs: hour, now }))
    for (let index = 0; index < 5; index++) expect((await run(tokens.redeem(token, later(index * 1000)))).role).toBe("operator")
    expect((await run(tokens.list()))[0]).not.toHaveProperty("usesLeft")
    expect(await run(tokens.redeem(token, later(hour - 1)))).toMatchObject({ role: "operator" })
    const expired = await Effect.runPromise(Effect.flip(tokens.redeem(token, later(hour))))
    expect(expired.reason).toBe("token-expired")
    expect(expired.message).toContain(later(hour).toISOString())
  })

  it("refuses a revoked token, and revoking an unknown id", async () => {
    const { tokens } = store()
    const { token, record } = await run(tokens.create({ role: "worker", ttlMs: hour, now }))
    expect(await run(tokens.revoke(record.id))).toEqual({ ...record, revoked: true })
    expect(await reasonOf(tokens.redeem(token, now))).toBe("token-revoked")
    expect(JoinTokens.tokenStatus((await run(tokens.list()))[0]!, now)).toBe("revoked")
    expect(await reasonOf(tokens.revoke("0123456789abcdef"))).toBe("token-unknown")
  })

  it("refuses a wrong secret before saying anything about the token's state", async () => {
    const { tokens } = store()
    const { token, record } = await run(tokens.create({ role: "worker", ttlMs: hour, uses: 1, now }))
    const secret = JoinTokens.parseToken(token)!.secret
    const wrong = `crank1.${record.id}.${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`
    expect(await reasonOf(tokens.redeem(wrong, now))).toBe("token-wrong-secret")
    // A wrong secret spends nothing.
    expect((await run(tokens.list()))[0]?.usesLeft).toBe(1)
    await run(tokens.revoke(record.id))
    expect(await reasonOf(tokens.redeem(wrong, later(2 * hour)))).toBe("token-wrong-secret")
  })

  it("refuses malformed and unknown tokens", async () => {
    const { tokens } = store()
    const { token } = await run(tokens.create({ role: "worker", ttlMs: hour, now }))
    const secret = JoinTokens.parseToken(token)!.secret
    const malformed = [
      "",
      "crank1",
      token.replace("crank1", "crank2"),
      `${token}x`,
      token.slice(0, -1),
      ` ${token}`,
      `crank1.ABCDEF0123456789.${secret}`,
      token.replaceAll(".", ":"),
    ]
    for (const text of malformed) expect(await reasonOf(tokens.redeem(text, now)), text).toBe("token-malformed")
    expect(await reasonOf(tokens.redeem(`crank1.0123456789abcdef.${secret}`, now))).toBe("token-unknown")
  })

  it("refuses to create a token with a bad role, TTL or use count", async () => {
    const { tokens } = store()
    expect(await reasonOf(tokens.create({ role: "controller" as "worker", ttlMs: hour, now }))).toBe("invalid-argument")
    expect(await reasonOf(tokens.create({ role: "worker", ttlMs: 0, now }))).toBe("invalid-argument")
    expect(await reasonOf(tokens.create({ role: "worker", ttlMs: hour, uses: 0, now }))).toBe("invalid-argument")
    expect(await reasonOf(tokens.create({ role: "worker", ttlMs: hour, uses: 1.5, now }))).toBe("invalid-argument")
    expect(await run(tokens.list())).toEqual([])
  })

  it("is shared by every store on the directory: one creates, another redeems, the first sees the use spent", async () => {
    const { dir, tokens } = store()
    const other = Effect.runSync(JoinTokens.make(dir))
    const { token } = await run(tokens.create({ role: "worker", ttlMs: hour, uses: 1, now }))
    expect((await run(other.redeem(token, now))).role).toBe("worker")
    expect(await reasonOf(tokens.redeem(token, now))).toBe("token-used-up")
  })

  it("admits a single-use token once however many redeem it at the same time, in one store or two", async () => {
    const { dir, tokens } = store()
    const other = Effect.runSync(JoinTokens.make(dir))
    const { token } = await run(tokens.create({ role: "worker", ttlMs: hour, uses: 1, now }))
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, index) => outcomeOf((index % 2 === 0 ? tokens : other).redeem(token, now))))
    expect(outcomes.filter((outcome) => outcome === "ok")).toHaveLength(1)
    expect(outcomes.filter((outcome) => outcome === "token-used-up")).toHaveLength(19)
  })

  it("refuses a store file that others can read, or that is not a store", async () => {
    const { file, tokens } = store()
    await run(tokens.create({ role: "worker", ttlMs: hour, now }))
    fs.chmodSync(file, 0o644)
    expect(await reasonOf(tokens.list())).toBe("file-exposed")
    fs.chmodSync(file, 0o600)
    fs.writeFileSync(file, '{"version":1,"tokens":[{"id":"x"}]}')
    expect(await reasonOf(tokens.list())).toBe("file-corrupt")
    expect(await reasonOf(tokens.create({ role: "worker", ttlMs: hour, now }))).toBe("file-corrupt")
  })

  it("loses no update when another process creates and redeems tokens at the same time", async () => {
    const { dir, tokens } = store()
    const { token: shared } = await run(tokens.create({ role: "worker", ttlMs: hour, uses: 1, now }))
    const script = fileURLToPath(new URL("./tokenStoreProcess.ts", import.meta.url))
    const rounds = 20
    const child = spawn(process.execPath, ["--import", "tsx", script, "churn", dir, shared, String(rounds)], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const started = new Promise<void>((resolve) => child.stdout.on("data", (chunk) => ((output += chunk), resolve())))
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve))
    try {
      // Ours start with the child's first write, so both processes update the file at the same time.
      await Promise.race([started, exited])
      const ours = await Promise.all(
        Array.from({ length: rounds }, async () => {
          const { record } = await run(tokens.create({ role: "worker", ttlMs: hour, uses: 1, now }))
          return { record, outcome: await outcomeOf(tokens.redeem(shared, now)) }
        }),
      )
      expect(await exited).toBe(0)
      const lines = output.trim().split("\n")
      const theirTokens = lines.filter((line) => line.startsWith("created ")).map((line) => JoinTokens.parseToken(line.slice("created ".length))!.tokenId)
      const theirOutcomes = lines.filter((line) => line.startsWith("redeemed ")).map((line) => line.slice("redeemed ".length))
      expect(theirTokens).toHaveLength(rounds)
      const listed = await run(tokens.list())
      expect(listed).toHaveLength(1 + 2 * rounds)
      for (const id of theirTokens) expect(listed.map((record) => record.id)).toContain(id)
      for (const { record } of ours) expect(listed).toContainEqual(record)
      const outcomes = [...theirOutcomes, ...ours.map(({ outcome }) => outcome)]
      expect(outcomes.filter((outcome) => outcome === "ok")).toHaveLength(1)
      expect(outcomes.filter((outcome) => outcome === "token-used-up")).toHaveLength(2 * rounds - 1)
      expect(fs.readdirSync(dir).sort()).toEqual([JoinTokens.tokensFile])
    } finally {
      child.kill("SIGKILL")
    }
  })
})
