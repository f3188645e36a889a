/** The npm test tier (`npm test`): unit, integration, multi-process and browser tests, with nothing but npm. */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url))

/**
 * Tests and examples import the package by name, as users do; here that name means the TypeScript sources, so a
 * test and the example it loads share one copy of every module.
 */
export const packageAlias = [
  { find: /^crank-mesh$/, replacement: source("./src/index.ts") },
  { find: /^crank-mesh\/testing$/, replacement: source("./src/testing.ts") },
]

export default defineConfig({
  resolve: { alias: packageAlias },
  test: {
    // Tests live in tests/, and beside the workers they test (examples/<name>/, and workers/<name>/ where
    // `crank new worker` puts new ones).
    include: ["tests/**/*.test.ts", "examples/**/*.test.ts", "workers/**/*.test.ts"],
    exclude: ["tests/interop/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Multi-process and browser tests spawn their own processes; two cores are the budget.
    maxWorkers: 2,
  },
})
