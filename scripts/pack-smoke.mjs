// Packs every publishable package, installs the tarballs into an empty project
// with `npm install --ignore-scripts` (as users with scripts disabled do), and
// checks that both `import` and `require` work and that the native addon loads
// from the bundled prebuild, with no compiler involved.
//
// Before that, what `changeset publish` would publish: each tarball's
// package.json has the metadata npm shows and provenance checks (name,
// version, license, repository with its directory, homepage on the docs site,
// bugs, keywords, no `workspace:` range, no install script); each tarball holds
// LICENSE, README.md and dist (core: the linux-x64 and linux-arm64 glibc
// prebuilds, one file each, and no other);
// `pnpm publish --dry-run` and `changeset status` succeed. Nothing is
// published and nobody logs in. (That each README stands alone on the npm
// page is apps/docs/test/readme-sync.test.ts's job.)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
/** Where apps/docs is published (GitHub Pages of the repository); homepage and README links point there. */
const DOCS_URL = 'https://ipc-js.github.io/ipc/'
const packages = ['core', 'queue', 'pipe', 'shared', 'semaphore', 'sync', 'pool']
/** The prebuilds every @ipc/core tarball bundles (scripts/arm64-smoke.mjs runs the arm64 one under qemu). */
const CORE_PREBUILDS = ['linux-x64', 'linux-arm64']
const work = mkdtempSync(join(tmpdir(), 'ipc-pack-'))
const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })

try {
  const tarballs = []
  for (const p of packages) {
    const dir = join(root, 'packages', p)
    sh('pnpm', ['pack', '--pack-destination', work], dir)
  }
  for (const f of readdirSync(work)) if (f.endsWith('.tgz')) tarballs.push(join(work, f))
  checkPublishable(tarballs)
  const core = tarballs.find((t) => t.includes('ipc-core-'))
  const listing = sh('tar', ['-tzf', core])
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
    import { Barrier, Condition, Event } from '@ipc/sync'
    import { Pool } from '@ipc/pool'
    if (deserialize(serialize({ a: 1 })).a !== 1) throw new Error('codec')
    if (waitSync(new Int32Array(new SharedArrayBuffer(4)), 0, 0, { timeout: 1 }) !== 'timed-out') throw new Error('futex')
    const q = new Queue(); q.putSync('x'); if (q.getSync() !== 'x') throw new Error('queue'); q.close()
    const [a, b] = Pipe(); a.sendSync(1); if (b.recvSync() !== 1) throw new Error('pipe'); a.close(); b.close()
    const v = new SharedValue('int32', 5); if (v.value !== 5) throw new Error('value'); v.close()
    const s = new Semaphore(1); if (!s.tryAcquire()) throw new Error('semaphore'); s.release(); s.close()
    const e = new Event(); e.set(); if (!(await e.wait({ timeout: 0 }))) throw new Error('event'); e.close()
    const c = new Condition(); c.acquireSync(); if (c.waitSync({ timeout: 0 })) throw new Error('condition'); c.release(); c.close()
    const br = new Barrier(1); if (br.waitSync() !== 0) throw new Error('barrier'); br.close()
    const pool = new Pool('data:text/javascript,export const twice = (x) => 2 * x', { size: 1 })
    if ((await pool.map('twice', [1, 2])).join() !== '2,4') throw new Error('pool'); pool.close(); await pool.join()
    // The /redis subpath loads without its optional peer @redis/client, and says what to install when used.
    const { Semaphore: RedisSemaphore } = await import('@ipc/semaphore/redis')
    const remote = new RedisSemaphore(1, { url: 'redis://127.0.0.1:1' })
    const missing = await remote.ready().then(() => undefined, (error) => error)
    if (!String(missing?.message).includes('npm install @redis/client')) throw new Error('redis subpath: ' + missing)
    await remote.close()
    const { SharedValue: RedisValue } = await import('@ipc/shared/redis')
    const remoteValue = new RedisValue('int32', 0, { url: 'redis://127.0.0.1:1' })
    const missingToo = await remoteValue.get().then(() => undefined, (error) => error)
    if (!String(missingToo?.message).includes('npm install @redis/client')) throw new Error('shared redis subpath: ' + missingToo)
    await remoteValue.close()
    const { Queue: RedisQueue } = await import('@ipc/queue/redis')
    const remoteQueue = new RedisQueue({ url: 'redis://127.0.0.1:1' })
    const missingQueue = await remoteQueue.ready().then(() => undefined, (error) => error)
    if (!String(missingQueue?.message).includes('npm install @redis/client')) throw new Error('redis queue subpath: ' + missingQueue)
    await remoteQueue.close()
    console.log('esm ok')
  `
  const cjs = `
    const { serialize, deserialize } = require('@ipc/core')
    const { Queue } = require('@ipc/queue')
    const { SharedValue } = require('@ipc/shared')
    if (deserialize(serialize('héllo')) !== 'héllo') throw new Error('codec')
    const q = new Queue(); q.putSync(1); if (q.getSync() !== 1) throw new Error('queue'); q.close()
    const v = new SharedValue('int64', 7n); if (v.value !== 7n) throw new Error('value'); v.close()
    const { Event } = require('@ipc/sync')
    const e = new Event(); e.set(); if (!e.isSet()) throw new Error('event'); e.close()
    const { Lock: RedisLock } = require('@ipc/semaphore/redis')
    if (typeof RedisLock.open !== 'function') throw new Error('redis subpath (CJS)')
    const { SharedArray: RedisArray } = require('@ipc/shared/redis')
    if (typeof RedisArray.open !== 'function') throw new Error('shared redis subpath (CJS)')
    const { JoinableQueue: RedisJoinableQueue } = require('@ipc/queue/redis')
    if (typeof RedisJoinableQueue.open !== 'function') throw new Error('redis queue subpath (CJS)')
    const { Pool } = require('@ipc/pool')
    const pool = new Pool('data:text/javascript,export const twice = (x) => 2 * x', { size: 1 })
    pool.run('twice', [21]).then(async (x) => { if (x !== 42) throw new Error('pool'); await pool.terminate(); console.log('cjs ok') })
  `
  // Every subpath's CommonJS build exports what its ES module build does, as plain read-only
  // values (scripts/package-build.mts says why: esbuild's getters cost a megamorphic load per use).
  const exportsCheck = `
    import { readFileSync } from 'node:fs'
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    const problems = []
    for (const name of ${JSON.stringify(packages)}) {
      const manifest = JSON.parse(readFileSync('node_modules/@ipc/' + name + '/package.json', 'utf8'))
      for (const [subpath, target] of Object.entries(manifest.exports)) {
        if (typeof target !== 'object' || target.require === undefined) continue
        const spec = '@ipc/' + name + subpath.slice(1)
        const cjs = require(spec)
        const esm = await import(spec)
        const cjsKeys = Object.keys(cjs).sort().join()
        const esmKeys = Object.keys(esm).sort().join()
        if (cjsKeys !== esmKeys) problems.push(spec + ': CommonJS exports ' + cjsKeys + ', the ES module ' + esmKeys)
        if (cjs.__esModule !== true) problems.push(spec + ': CommonJS exports lack __esModule')
        for (const key of Object.keys(cjs)) {
          const property = Object.getOwnPropertyDescriptor(cjs, key)
          if (!('value' in property) || property.writable) problems.push(spec + ': CommonJS export ' + key + ' is not a plain read-only value')
        }
      }
    }
    if (problems.length > 0) throw new Error(problems.join('\\n'))
    console.log('exports ok')
  `
  writeFileSync(join(app, 'esm.mjs'), esm)
  writeFileSync(join(app, 'cjs.cjs'), cjs)
  writeFileSync(join(app, 'exports.mjs'), exportsCheck)
  process.stdout.write(sh('node', ['esm.mjs'], app))
  process.stdout.write(sh('node', ['cjs.cjs'], app))
  process.stdout.write(sh('node', ['exports.mjs'], app))
  const built = readdirSync(join(app, 'node_modules', '@ipc', 'core', 'native'))
  if (built.includes('build')) throw new Error('the addon was compiled at install time; it must load the prebuild')
  console.log('pack smoke: all packages install with --ignore-scripts and load in ESM and CJS')
} finally {
  rmSync(work, { recursive: true, force: true })
}

/** The metadata, contents and README of each tarball, then the publish dry run. */
function checkPublishable(tarballs) {
  const problems = []
  // The CommonJS build exports values read once the module has run (scripts/package-build.mts):
  // a binding reassigned later would go stale there.
  for (const p of packages)
    for (const file of sourceFiles(join(root, 'packages', p, 'src')))
      if (/^export (let|var)\b/m.test(readFileSync(file, 'utf8')))
        problems.push(`${file}: exports a reassignable binding (export let/var)`)
  const license = readFileSync(join(root, 'LICENSE'), 'utf8')
  for (const p of packages) {
    const tarball = tarballs.find((t) => t.includes(`ipc-${p}-`))
    if (!tarball) {
      problems.push(`@ipc/${p}: no tarball`)
      continue
    }
    const listing = sh('tar', ['-tzf', tarball]).split('\n').filter(Boolean)
    const read = (file) => sh('tar', ['-xzOf', tarball, `package/${file}`])
    const manifest = JSON.parse(read('package.json'))
    const where = `@ipc/${p} (${tarball.split('/').pop()})`
    const expect = (ok, what) => ok || problems.push(`${where}: ${what}`)

    expect(manifest.name === `@ipc/${p}`, `name is ${manifest.name}`)
    expect(/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(manifest.version ?? ''), `version is ${manifest.version}`)
    expect(manifest.license === 'MIT', `license is ${manifest.license}`)
    expect(typeof manifest.description === 'string' && manifest.description.length > 20, 'no description')
    expect(
      manifest.repository?.type === 'git' &&
        manifest.repository?.url === 'git+https://github.com/ipc-js/ipc.git' &&
        manifest.repository?.directory === `packages/${p}`,
      `repository is ${JSON.stringify(manifest.repository)} (provenance needs the GitHub URL and directory)`,
    )
    expect(manifest.bugs?.url === 'https://github.com/ipc-js/ipc/issues', `bugs is ${JSON.stringify(manifest.bugs)}`)
    expect(
      typeof manifest.homepage === 'string' && docsPageExists(manifest.homepage),
      `homepage ${manifest.homepage} is not a page of the docs site (apps/docs)`,
    )
    expect(Array.isArray(manifest.keywords) && manifest.keywords.length >= 3, 'fewer than 3 keywords')
    expect(
      manifest.publishConfig?.access === 'public' && manifest.publishConfig?.provenance === true,
      `publishConfig is ${JSON.stringify(manifest.publishConfig)}`,
    )
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [name, range] of Object.entries(manifest[field] ?? {})) {
        expect(!String(range).startsWith('workspace:'), `${field}.${name} is ${range}`)
      }
    }
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
      expect(manifest.scripts?.[hook] === undefined, `has a "${hook}" script`)
    }

    for (const file of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
    ]) {
      expect(listing.includes(`package/${file}`), `${file} is not in the tarball`)
    }
    if (listing.includes('package/LICENSE'))
      expect(read('LICENSE') === license, 'LICENSE differs from the root LICENSE')
    if (p === 'core') {
      for (const platform of CORE_PREBUILDS) {
        const prefix = `package/native/prebuilds/${platform}/`
        const files = listing.filter((file) => file.startsWith(prefix))
        expect(
          files.length === 1 && /^[^/]+\.glibc\.node$/.test(files[0].slice(prefix.length)),
          `native/prebuilds/${platform}/ holds ${files.map((file) => file.slice(prefix.length)).join(', ') || 'nothing'}, not one *.glibc.node (pack where the aarch64 cross compiler is installed: packages/core/scripts/prepack.mjs)`,
        )
        // Linked to stay loaded (native/binding.gyp, -z nodelete): unloaded with a worker, the
        // addon crashed the process while that worker's waiter threads still ran its code.
        for (const file of files) {
          const addon = join(work, `${platform}.node`)
          writeFileSync(addon, execFileSync('tar', ['-xzOf', tarball, file]))
          expect(/\bNODELETE\b/.test(sh('readelf', ['-d', addon])), `${file} is not linked with -z nodelete`)
        }
      }
      const others = listing.filter(
        (file) =>
          file.startsWith('package/native/prebuilds/') &&
          !CORE_PREBUILDS.some((platform) => file.startsWith(`package/native/prebuilds/${platform}/`)),
      )
      expect(others.length === 0, `ships prebuilds no release plans: ${others.join(', ')}`)
    }
  }

  for (const p of packages) {
    try {
      const out = sh('pnpm', ['publish', '--dry-run', '--no-git-checks', '--json'], join(root, 'packages', p))
      const report = JSON.parse(out.slice(out.indexOf('{')))
      const files = (report[`@ipc/${p}`] ?? report).files?.map((f) => f.path) ?? []
      if (!files.includes('LICENSE') || !files.includes('README.md'))
        problems.push(`@ipc/${p}: pnpm publish --dry-run would publish ${files.join(', ')}`)
    } catch (error) {
      problems.push(`@ipc/${p}: pnpm publish --dry-run failed: ${error.message}`)
    }
  }
  try {
    sh('pnpm', ['exec', 'changeset', 'status'], root)
  } catch (error) {
    problems.push(`changeset status failed: ${error.message}`)
  }

  if (problems.length > 0) throw new Error(`not ready to publish:\n  ${problems.join('\n  ')}`)
  console.log(`publish check: ${packages.length} packages have their metadata, LICENSE, README and dist; dry runs pass`)
}

/** True if `url`, under the docs site's base, is a page of apps/docs (clean URLs, `#anchor` ignored). */
function docsPageExists(url) {
  if (!url.startsWith(DOCS_URL)) return false
  const path = url.slice(DOCS_URL.length).replace(/#.*$/, '')
  const docs = join(root, 'apps', 'docs')
  if (path === '' || path.endsWith('/')) return existsSync(join(docs, path, 'index.md'))
  return existsSync(join(docs, `${path}.md`))
}

/** The TypeScript files under `dir`, tests excluded. */
function sourceFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && !file.endsWith('.test-d.ts'))
    .map((file) => join(dir, file))
}
