import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'docs',
    include: ['test/**/*.test.ts'],
    // The examples start real processes and share /dev/shm: one file at a time.
    fileParallelism: false,
    // beforeAll starts a redis-server and a three-node Redis Cluster for the Redis examples.
    hookTimeout: 60_000,
  },
})
