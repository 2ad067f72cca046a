// Packs every publishable package, installs the tarballs into an empty project
// with `npm install --ignore-scripts` (as users with scripts disabled do), and
// checks that both `import` and `require` work and that the native addon loads
// from the bundled prebuild, with no compiler involved.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const packages = ['core', 'queue', 'pipe', 'shared', 'semaphore']
const work = mkdtempSync(join(tmpdir(), 'ipc-pack-'))
const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })

try {
  const tarballs = []
  for (const p of packages) {
    const dir = join(root, 'packages', p)
    sh('pnpm', ['pack', '--pack-destination', work], dir)
  }
  for (const f of readdirSync(work)) if (f.endsWith('.tgz')) tarballs.push(join(work, f))
  const core = tarballs.find((t) => t.includes('ipc-core-'))
  const listing = sh('tar', ['-tzf', core])
  if (!/native\/prebuilds\/linux-x64\/.*\.node/.test(listing))
    throw new Error('@ipc/core tarball has no linux-x64 prebuild')
  if (/native\/build\//.test(listing) || /\.cc$/m.test(listing))
    throw new Error('@ipc/core tarball ships build output or C++ sources')

  const app = join(work, 'app')
  sh('mkdir', ['-p', app])
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, version: '1.0.0' }))
  sh('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', ...tarballs], app)

  const esm = `
    import { serialize, deserialize, waitSync } from '@ipc/core'
    import { Queue } from '@ipc/queue'
    import { Pipe } from '@ipc/pipe'
    import { SharedValue } from '@ipc/shared'
    import { Semaphore } from '@ipc/semaphore'
    if (deserialize(serialize({ a: 1 })).a !== 1) throw new Error('codec')
    if (waitSync(new Int32Array(new SharedArrayBuffer(4)), 0, 0, { timeout: 1 }) !== 'timed-out') throw new Error('futex')
    const q = new Queue(); q.putSync('x'); if (q.getSync() !== 'x') throw new Error('queue'); q.close()
    const [a, b] = Pipe(); a.sendSync(1); if (b.recvSync() !== 1) throw new Error('pipe'); a.close(); b.close()
    const v = new SharedValue('int32', 5); if (v.value !== 5) throw new Error('value'); v.close()
    const s = new Semaphore(1); if (!s.tryAcquire()) throw new Error('semaphore'); s.release(); s.close()
    console.log('esm ok')
  `
  const cjs = `
    const { serialize, deserialize } = require('@ipc/core')
    const { Queue } = require('@ipc/queue')
    const { SharedValue } = require('@ipc/shared')
    if (deserialize(serialize('héllo')) !== 'héllo') throw new Error('codec')
    const q = new Queue(); q.putSync(1); if (q.getSync() !== 1) throw new Error('queue'); q.close()
    const v = new SharedValue('int64', 7n); if (v.value !== 7n) throw new Error('value'); v.close()
    console.log('cjs ok')
  `
  writeFileSync(join(app, 'esm.mjs'), esm)
  writeFileSync(join(app, 'cjs.cjs'), cjs)
  process.stdout.write(sh('node', ['esm.mjs'], app))
  process.stdout.write(sh('node', ['cjs.cjs'], app))
  const built = readdirSync(join(app, 'node_modules', '@ipc', 'core', 'native'))
  if (built.includes('build')) throw new Error('the addon was compiled at install time; it must load the prebuild')
  console.log('pack smoke: all packages install with --ignore-scripts and load in ESM and CJS')
} finally {
  rmSync(work, { recursive: true, force: true })
}
