import { defineConfig } from 'tsup'

export default defineConfig({
  // Named entries: dist/ stays flat (dist/child-entry.js is what Process forks).
  entry: {
    index: 'src/index.ts',
    internal: 'src/internal.ts',
    'child-entry': 'src/process/child-entry.ts',
    redis: 'src/redis/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  platform: 'node',
  target: 'node20',
  shims: true,
  splitting: false,
})
