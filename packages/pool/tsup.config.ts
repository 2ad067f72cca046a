import { defineConfig } from 'tsup'

export default defineConfig({
  // Named entries: dist/worker.js is the module each pool worker runs (through @ipc/core's Process).
  entry: { index: 'src/index.ts', worker: 'src/worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  platform: 'node',
  target: 'node20',
  shims: true,
  splitting: false,
})
