/**
 * Used as a library, Crank logs nothing below a warning unless asked: a program that embeds a mesh owns its
 * output. `logLevel` asks for more (the CLI logs every lifecycle transition at info).
 */

import { Mesh } from "crank-mesh"
import { Effect, Logger } from "effect"
import type { LogLevel } from "effect/LogLevel"
import { describe, expect, it } from "vitest"
import { HelloGreet } from "../../examples/hello/capability.ts"
import hello from "../../examples/hello/index.ts"

/** Starts a mesh, serves one request, stops it; returns every line the mesh logged, with its level. */
const logsOfOneRun = (logLevel: LogLevel | undefined): Promise<ReadonlyArray<string>> => {
  const lines: Array<string> = []
  const capture = Logger.make(({ logLevel: level, message }) => {
    lines.push(`${level} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  const run = Effect.gen(function* () {
    const mesh = yield* Mesh.start({
      workers: [hello],
      tunables: { heartbeatIntervalMs: 20, staleAfterMs: 100, evictAfterMs: 200 },
      ...(logLevel === undefined ? {} : { logLevel }),
    })
    yield* mesh.client.invoke(HelloGreet, { message: "quiet" })
  }).pipe(Effect.scoped, Effect.provide(Logger.layer([capture])))
  return Effect.runPromise(run).then(() => lines)
}

describe("a quiet library", () => {
  it("logs nothing below a warning by default", async () => {
    const lines = await logsOfOneRun(undefined)
    expect(lines.filter((line) => !/^(Warn|Error|Fatal) /.test(line))).toEqual([])
  })

  it("logs lifecycle transitions when asked for info", async () => {
    const lines = await logsOfOneRun("Info")
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^Info mesh\/hello-1: starting → registered \(REGISTERED\)/)]))
  })
})
