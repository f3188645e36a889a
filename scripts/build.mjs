#!/usr/bin/env node
// Builds the package: TypeScript to JavaScript and declarations in dist/ (relative `.ts` imports rewritten to
// `.js`), then the dashboard's static page files beside the module that serves them. Runs on `npm ci`
// (`prepare`), before `npm test`, and by `npm pack`.
import { spawnSync } from "node:child_process"
import { cpSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")

rmSync(join(root, "dist"), { recursive: true, force: true })
const run = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root })
if (run.status !== 0) process.exit(run.status ?? 1)
cpSync(join(root, "src/dashboard/page"), join(root, "dist/src/dashboard/page"), { recursive: true })
