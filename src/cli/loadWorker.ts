/**
 * Loads the worker a module exports, for `crank worker <module>`: a file, or a folder with an index file.
 * The module's default export (or its `worker` export) must be a `defineWorker(...)` result.
 */
import { existsSync, statSync } from "node:fs"
import { resolve, join } from "node:path"
import { pathToFileURL } from "node:url"
import { isWorkerDefinition, type WorkerDefinition } from "../../actors/Worker.ts"
import { UsageError } from "./options.ts"

const candidates = (path: string): ReadonlyArray<string> =>
  existsSync(path) && statSync(path).isDirectory()
    ? ["index.ts", "index.mts", "index.js", "index.mjs"].map((f) => join(path, f))
    : [path, `${path}.ts`, `${path}.js`]

let tsxRegistered = false

/** TypeScript worker modules are loaded through tsx's loader, registered the first time one is needed. */
const registerTypeScript = async (): Promise<void> => {
  if (tsxRegistered) return
  const { register } = await import("tsx/esm/api")
  register()
  tsxRegistered = true
}

export const loadWorker = async (specifier: string): Promise<WorkerDefinition> => {
  const file = candidates(resolve(specifier)).find((f) => existsSync(f) && statSync(f).isFile())
  if (file === undefined) throw new UsageError(`no worker module at ${specifier} (a file, or a folder with index.ts)`)
  if (/\.[cm]?ts$/.test(file)) await registerTypeScript()
  const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  const definition = [module.default, module.worker].find(isWorkerDefinition)
  if (definition === undefined) {
    throw new UsageError(`${file} must export a worker (export default defineWorker({ ... }))`)
  }
  return definition
}
