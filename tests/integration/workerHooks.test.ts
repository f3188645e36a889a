/**
 * A worker's data directory and lifecycle hooks: `started` runs before the worker is routed to and sees its
 * directory, handlers read the same directory as `context.dataDir`, `stopped` runs after the drain, a failing
 * `started` fails the start, and a mesh of workers that keep nothing makes no directory.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { defineCapability, defineWorker, implement } from "crank-mesh"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import hello from "../../examples/hello/index.ts"

const ReadNote = defineCapability({
  id: "test.read_note",
  version: "1.0.0",
  name: "Read the note",
  description: "Reads the note its worker's started hook wrote in the data directory.",
  input: Schema.Struct({}),
  output: Schema.Struct({ note: Schema.String, dataDir: Schema.String }),
})

const roots: Array<string> = []
const freshRoot = () => {
  const root = mkdtempSync(join(tmpdir(), "crank-hooks-"))
  roots.push(root)
  return root
}
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** A worker whose hooks leave traces: `started` writes a note, `stopped` appends to a log beside it. */
const noteWorker = (events: Array<string>) =>
  defineWorker({
    name: "notes",
    implements: [implement(ReadNote, (_input, context) => ({ note: readFileSync(join(context.dataDir, "note.txt"), "utf8"), dataDir: context.dataDir }))],
    started: ({ dataDir, name }) => {
      events.push(`started ${name}`)
      writeFileSync(join(dataDir, "note.txt"), `written by ${name}`)
    },
    stopped: ({ dataDir }) => {
      events.push("stopped")
      writeFileSync(join(dataDir, "stopped.txt"), "bye")
    },
  })

describe("worker data directory and hooks", () => {
  it("started runs before serving, in <root>/workers/<name>; stopped runs when the mesh stops", async () => {
    const root = freshRoot()
    const events: Array<string> = []
    const mesh = await startTestMesh([noteWorker(events)], { dataDir: root })
    expect(events).toEqual(["started notes"])
    const answer = await mesh.invoke(ReadNote, {})
    expect(answer).toEqual({ note: "written by notes", dataDir: join(root, "workers", "notes") })
    await mesh.stop()
    expect(events).toEqual(["started notes", "stopped"])
    expect(readFileSync(join(root, "workers", "notes", "stopped.txt"), "utf8")).toBe("bye")
  })

  it("a second mesh on the same root finds what the first left", async () => {
    const root = freshRoot()
    const first = await startTestMesh([noteWorker([])], { dataDir: root })
    await first.stop()
    writeFileSync(join(root, "workers", "notes", "extra.txt"), "kept")
    const second = await startTestMesh([noteWorker([])], { dataDir: root })
    expect((await second.invoke(ReadNote, {})).dataDir).toBe(join(root, "workers", "notes"))
    expect(readFileSync(join(root, "workers", "notes", "extra.txt"), "utf8")).toBe("kept")
    await second.stop()
  })

  it("a started hook that throws fails the start, naming the worker and the hook", async () => {
    const failing = defineWorker({
      name: "broken",
      implements: [implement(ReadNote, () => ({ note: "", dataDir: "" }))],
      started: () => {
        throw new Error("model file is corrupt")
      },
    })
    await expect(startTestMesh([failing], { dataDir: freshRoot() })).rejects.toThrow(/worker mesh\/broken-1: its started hook failed: model file is corrupt/)
  })

  it("callHandler runs the hooks around one call, in a temporary directory unless given one", async () => {
    const events: Array<string> = []
    const answer = await callHandler(noteWorker(events), ReadNote, {})
    expect(answer.note).toBe("written by notes")
    expect(events).toEqual(["started notes", "stopped"])
    expect(existsSync(answer.dataDir)).toBe(false)
    const root = freshRoot()
    expect((await callHandler(noteWorker([]), ReadNote, {}, { dataDir: root })).dataDir).toBe(root)
    expect(existsSync(join(root, "stopped.txt"))).toBe(true)
  })

  it("workers that keep nothing leave no directory", async () => {
    const root = freshRoot()
    const mesh = await startTestMesh([hello], { dataDir: root })
    await mesh.stop()
    expect(existsSync(join(root, "workers"))).toBe(false)
  })
})
