#!/usr/bin/env node
// The `crank` executable: the CLI built to dist/ (`npm run build`, which `npm ci` and `npm pack` run).
// One process: signals sent to it reach the mesh itself. tsx is loaded only when a worker module is TypeScript.
try {
  await import("../dist/src/cli/main.js")
} catch (error) {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/src/cli/main.js")) {
    process.stderr.write("error INTERNAL: crank is not built; run `npm run build` in the crank-mesh package\n")
    process.exit(13)
  }
  throw error
}
