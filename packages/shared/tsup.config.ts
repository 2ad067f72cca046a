import { defineConfig } from 'tsup'
import { packageBuild } from '../../scripts/package-build.mjs'

// Named entries: dist/index.* is the shared-memory package, dist/redis.* the
// `@ipc/shared/redis` subpath (the only one that loads @redis/client).
export default defineConfig(packageBuild({ index: 'src/index.ts', redis: 'src/redis/index.ts' }))
