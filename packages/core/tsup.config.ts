import { defineConfig } from 'tsup'
import { packageBuild } from '../../scripts/package-build.mjs'

// Named entries: dist/ stays flat (dist/child-entry.js is what Process forks).
export default defineConfig(
  packageBuild({
    index: 'src/index.ts',
    internal: 'src/internal.ts',
    'child-entry': 'src/process/child-entry.ts',
    redis: 'src/redis/index.ts',
  }),
)
