#!/usr/bin/env node
// Builds the package: TypeScript to JavaScript and declarations in dist/ (relative `.ts` imports rewritten to
// `.js`), then the dashboard's static page files beside the module that serves them. Runs on `npm ci`
// (`prepare`), before `npm test`, and by `npm pack`. It builds into a folder of its own and swaps it into place,
// so a `crank` process started meanwhile (another test run in this tree) never finds dist/ half made or gone.
import { spawnSync } from "node:child_process"
import { cpSync, renameSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")
const building = join(root, `dist.building-${process.pid}`)
const dist = join(root, "dist")

rmSync(building, { recursive: true, force: true })
const run = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", building], { stdio: "inherit", cwd: root })
if (run.status !== 0) {
  rmSync(building, { recursive: true, force: true })
  process.exit(run.status ?? 1)
}
cpSync(join(root, "src/dashboard/page"), join(building, "src/dashboard/page"), { recursive: true })
const old = join(root, `dist.old-${process.pid}`)
try {
  renameSync(dist, old)
} catch {
  // No dist/ yet.
}
renameSync(building, dist)
rmSync(old, { recursive: true, force: true })
