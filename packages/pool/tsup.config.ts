import { defineConfig } from 'tsup'
import { packageBuild } from '../../scripts/package-build.mjs'

// Named entries: dist/worker.js is the module each pool worker runs (through @ipc/core's Process).
export default defineConfig(packageBuild({ index: 'src/index.ts', worker: 'src/worker.ts' }))
