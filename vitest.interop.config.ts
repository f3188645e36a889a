import { defineConfig } from "vitest/config"
import { packageAlias } from "./vitest.config.ts"

// `npm run test:interop`: checks judged by programs only Debian ships (promtool, a prometheus server, nats-server).
export default defineConfig({
  resolve: { alias: packageAlias },
  test: {
    include: ["tests/interop/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
})
