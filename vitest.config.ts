import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Multi-process and browser tests spawn their own processes; two cores are the budget.
    maxWorkers: 2,
  },
})
