import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The smoke run spawns real processes; it states its own timeouts.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
})
