import { defineConfig } from 'tsup'

export default defineConfig({
  // Named entries: dist/index.* is the shared-memory package, dist/redis.* the
  // `@ipc/queue/redis` subpath (the only one that loads @redis/client).
  entry: { index: 'src/index.ts', redis: 'src/redis/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  platform: 'node',
  target: 'node20',
  shims: true,
  splitting: false,
})
