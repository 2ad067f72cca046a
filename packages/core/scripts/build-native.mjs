// Builds the addon in native/ with node-gyp (bundled with npm and pnpm), or
// with prebuildify when called with --prebuildify. node-gyp must never
// download headers (the network may be closed): point it at the running
// Node's own headers when they are installed beside it.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const nativeDir = join(here, '..', 'native')
const require = createRequire(import.meta.url)
const env = { ...process.env }
const prefix = dirname(dirname(process.execPath))
if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) env.npm_config_nodedir = prefix

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: nativeDir, env, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`@ipc/core: ${[cmd, ...args].join(' ')} failed (exit ${r.status ?? r.signal})`)
    process.exit(1)
  }
}

function nodeGypBin() {
  const candidates = []
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'))
  } catch {}
  // npm bundles node-gyp; so does pnpm (dist/node_modules/node-gyp).
  const npmPrefix = dirname(dirname(process.execPath))
  candidates.push(join(npmPrefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  candidates.push(
    join(npmPrefix, 'lib', 'node_modules', 'pnpm', 'dist', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  )
  if (process.env.npm_config_node_gyp) candidates.unshift(process.env.npm_config_node_gyp)
  const found = candidates.find((c) => existsSync(c))
  if (!found) {
    console.error(`@ipc/core: node-gyp not found; looked in:\n  ${candidates.join('\n  ')}`)
    process.exit(1)
  }
  return found
}

if (process.argv.includes('--prebuildify')) {
  // prebuildify spawns `node-gyp` from PATH: give it the same node-gyp, and
  // the running Node as target so that nodedir's headers match.
  const shimDir = mkdtempSync(join(tmpdir(), 'ipc-node-gyp-'))
  const shim = join(shimDir, 'node-gyp')
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${nodeGypBin()}" "$@"\n`)
  chmodSync(shim, 0o755)
  env.PATH = `${shimDir}:${env.PATH ?? ''}`
  run(process.execPath, [
    require.resolve('prebuildify/bin.js'),
    '--napi',
    '--strip',
    '--tag-libc',
    '--target',
    `node@${process.versions.node}`,
  ])
} else {
  run(process.execPath, [nodeGypBin(), 'rebuild'])
}
