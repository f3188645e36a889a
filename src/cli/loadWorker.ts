/**
 * Loads the worker a module exports, for `crank worker <module>` and `crank dev [module ...]`: a file, or a
 * folder with an index file. The module's default export (or its `worker` export) must be a
 * `defineWorker(...)` result. A module may also export `workers`, every worker it offers (the default one and, say,
 * a second registration of it labelled `gpu`): `crank dev` runs them all, `crank worker` the default. TypeScript modules are loaded through tsx's loader, registered the first time
 * one is needed: the built CLI itself is plain JavaScript.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { isWorkerDefinition, type WorkerDefinition } from "../../actors/WorkerDefinition.ts"
import { UsageError, WorkerModuleError } from "./errors.ts"

const indexFiles = ["index.ts", "index.mts", "index.js", "index.mjs"]

const candidates = (path: string): ReadonlyArray<string> =>
  existsSync(path) && statSync(path).isDirectory() ? indexFiles.map((f) => join(path, f)) : [path, `${path}.ts`, `${path}.js`]

let tsxRegistered = false

const registerTypeScript = async (): Promise<void> => {
  if (tsxRegistered) return
  const { register } = await import("tsx/esm/api")
  register()
  tsxRegistered = true
}

/** An import failure with its kind (SyntaxError, Error...), as a user would want to read it. */
const describeError = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error))

/** Imports a worker module, or says why it cannot (no such file, an import that throws). */
const importModule = async (specifier: string): Promise<{ readonly file: string; readonly module: Record<string, unknown> }> => {
  const file = candidates(resolve(specifier)).find((f) => existsSync(f) && statSync(f).isFile())
  if (file === undefined) throw new UsageError(`no worker module at ${specifier} (a file, or a folder with index.ts)`)
  if (/\.[cm]?ts$/.test(file)) await registerTypeScript()
  try {
    return { file, module: (await import(pathToFileURL(file).href)) as Record<string, unknown> }
  } catch (error) {
    throw new WorkerModuleError(file, `cannot load the worker module ${file}: ${describeError(error)}`)
  }
}

const defaultWorkerOf = (file: string, module: Record<string, unknown>): WorkerDefinition => {
  const definition = [module.default, module.worker].find(isWorkerDefinition)
  if (definition === undefined) {
    throw new WorkerModuleError(file, `${file} does not export a worker (export default defineWorker({ ... }))`)
  }
  return definition
}

/** The worker a module exports by default: what `crank worker <module>` runs. */
export const loadWorker = async (specifier: string): Promise<WorkerDefinition> => {
  const { file, module } = await importModule(specifier)
  return defaultWorkerOf(file, module)
}

/** Every worker a module offers (its `workers` export), or its default one: what `crank dev` runs. */
export const loadWorkers = async (specifier: string): Promise<ReadonlyArray<WorkerDefinition>> => {
  const { file, module } = await importModule(specifier)
  const listed = module.workers
  if (listed === undefined) return [defaultWorkerOf(file, module)]
  if (!Array.isArray(listed) || listed.length === 0 || !listed.every(isWorkerDefinition)) {
    throw new WorkerModuleError(file, `${file} exports \`workers\`, but not as a non-empty array of defineWorker(...) results`)
  }
  return listed
}

/** The root of the crank-mesh package this CLI belongs to (the folder of its package.json). */
const packageRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, "package.json")
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "crank-mesh") return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error("the crank-mesh package.json was not found above the CLI")
    dir = parent
  }
}

/** The example worker folders shipped with the package (`examples/<name>/index.ts`), sorted by name. */
export const exampleModules = (): ReadonlyArray<string> => {
  const folder = join(packageRoot(), "examples")
  if (!existsSync(folder)) return []
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && indexFiles.some((f) => existsSync(join(folder, entry.name, f))))
    .map((entry) => join(folder, entry.name))
    .sort()
}
