/**
 * Type-level checks for `Client.invoke`: given a capability, the input is checked against the capability's input
 * type and a wrong field is reported as that field, not as a mismatch with the string-ref form.
 *
 * Proven two ways: `@ts-expect-error` lines checked by `tsc --noEmit -p .` (part of `npm test`), and a test that
 * runs the compiler on a small fixture and reads the diagnostic itself, since `@ts-expect-error` proves only that
 * there is an error, not which one.
 */
import { execFile } from "node:child_process"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import type { Effect } from "effect"
import { describe, expect, expectTypeOf, it } from "vitest"
import type { Client, InvokeFunction } from "../../actors/Client.ts"
import type { CrankError } from "../../capabilities/CrankError.ts"
import { type GreetOutput, HelloGreet } from "../../examples/hello/capability.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))

/** Only type-checked, never run: a client needs no mesh to be typed. */
// biome-ignore lint/correctness/noUnusedVariables: only type-checked, never called
const typed = (client: Client) => {
  expectTypeOf(client.invoke).toEqualTypeOf<InvokeFunction>()
  expectTypeOf(client.invoke(HelloGreet, { message: "hi" })).toEqualTypeOf<Effect.Effect<GreetOutput, CrankError>>()
  expectTypeOf(client.invoke("hello.greet@^1", { anything: 1 })).toEqualTypeOf<Effect.Effect<unknown, CrankError>>()
  // @ts-expect-error: `mesage` is not a field of hello.greet's input (the fixture test below checks the message)
  client.invoke(HelloGreet, { mesage: "hi" })
  // @ts-expect-error: `message` must be a string
  client.invoke(HelloGreet, { message: 3 })
  // @ts-expect-error: neither a capability nor a string ref
  client.invoke(42, {})
}

const fixture = `
import type { Effect } from "effect"
import type { Client } from "../../actors/Client.ts"
import type { Capability, InputOf, OutputOf } from "../../capabilities/Capability.ts"
import { HelloGreet } from "../../examples/hello/capability.ts"
declare const client: Client
client.invoke(HelloGreet, { mesage: "hi" })
client.invoke(HelloGreet, { message: 3 })
/** The two overloads invoke used to have: the test must tell them apart from the one signature. */
declare const overloaded: {
  <C extends Capability>(capability: C, input: InputOf<C>): Effect.Effect<OutputOf<C>>
  (ref: string, input: unknown): Effect.Effect<unknown>
}
overloaded(HelloGreet, { mesage: "hi" })
`

/** `fixture.ts(7,29): error TS2561: ...` lines, by fixture line number. */
const diagnosticsOf = (output: string): Map<number, string> => {
  const byLine = new Map<number, string>()
  for (const match of output.matchAll(/fixture\.ts\((\d+),(\d+)\): (error .*(?:\n {2}.*)*)/g)) {
    byLine.set(Number(match[1]), `${match[2]}: ${match[3]}`)
  }
  return byLine
}

describe("Client.invoke (types)", () => {
  it("the compiler names the wrong input field, not the string-ref form", async () => {
    // tmp/ is gitignored; a folder of our own in it, so parallel runs do not share a fixture.
    await mkdir(join(root, "tmp"), { recursive: true })
    const dir = await mkdtemp(join(root, "tmp", "invoke-types-"))
    try {
      await writeFile(join(dir, "fixture.ts"), fixture)
      await writeFile(join(dir, "tsconfig.json"), JSON.stringify({ extends: "../../tsconfig.json", include: ["fixture.ts"] }))
      const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
      const output = await promisify(execFile)(process.execPath, [tsc, "--noEmit", "--pretty", "false", "-p", dir], { cwd: root }).then(
        (done) => done.stdout,
        (failed: { stdout?: string }) => failed.stdout ?? "",
      )
      const diagnostics = diagnosticsOf(output)
      // Line 7: the misspelt field, reported at the field (column 29) as an unknown property.
      expect(diagnostics.get(7), output).toMatch(/^29: error TS\d+: .*'mesage' does not exist in type '\{ readonly message: string;/)
      expect(diagnostics.get(7)).toContain("Did you mean to write 'message'?")
      // Line 8: a field of the wrong type, reported at the field.
      expect(diagnostics.get(8), output).toMatch(/^29: error TS2322: Type 'number' is not assignable to type 'string'/)
      for (const line of [7, 8]) expect(diagnostics.get(line)).not.toContain("parameter of type 'string'")
      // The old overloads, for contrast: the same mistake reported against the string overload.
      expect(diagnostics.get(14), output).toContain("parameter of type 'string'")
      expect(diagnostics.size, output).toBe(3)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
