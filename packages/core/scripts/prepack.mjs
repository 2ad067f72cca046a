// `prepack` of @ipc/core (npm pack, pnpm pack, pnpm publish, changeset publish):
// the tarball must carry the built JavaScript and the linux-x64 glibc prebuild,
// or packing fails here. Users never compile: there is no install script, and
// the C++ sources are not shipped.
//
//   - dist/ must exist (this script does not run tsup: `pnpm build` first);
//   - native/prebuilds/linux-x64/*.glibc.node is (re)built with prebuildify when
//     it is missing or older than a file in native/, which only works on
//     linux-x64 glibc with python3, make and a C++ compiler;
//   - the prebuild must then load in this Node and export the addon's functions.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = join(packageDir, 'native')
/** Phase 1 ships one prebuild. Add a platform here when CI builds it. */
const EXPECTED = { platformArch: 'linux-x64', libc: 'glibc' }
const prebuildDir = join(nativeDir, 'prebuilds', EXPECTED.platformArch)

function refuse(lines) {
  console.error(`@ipc/core prepack: refusing to pack.\n${lines.join('\n')}`)
  process.exit(1)
}

const missingDist = ['index.js', 'index.cjs', 'internal.js', 'internal.cjs', 'child-entry.js', 'child-entry.cjs']
  .map((file) => join('dist', file))
  .filter((file) => !existsSync(join(packageDir, file)))
if (missingDist.length > 0) {
  refuse([`Missing ${missingDist.join(', ')}.`, 'Fix: pnpm --filter @ipc/core build, then pack again.'])
}

/** The newest modification time among the addon's sources (native/*.cc, *.h, binding.gyp). */
function newestSource() {
  let newest = 0
  for (const entry of readdirSync(nativeDir, { withFileTypes: true })) {
    if (entry.isFile() && /\.(cc|h|gyp)$/.test(entry.name)) {
      newest = Math.max(newest, statSync(join(nativeDir, entry.name)).mtimeMs)
    }
  }
  return newest
}

function expectedPrebuild() {
  if (!existsSync(prebuildDir)) return undefined
  const file = readdirSync(prebuildDir).find((name) => name.endsWith(`.${EXPECTED.libc}.node`))
  return file === undefined ? undefined : join(prebuildDir, file)
}

const here = `${process.platform}-${process.arch}`
const hereLibc = process.report?.getReport().header.glibcVersionRuntime ? 'glibc' : 'other'
let prebuild = expectedPrebuild()
const stale = prebuild !== undefined && statSync(prebuild).mtimeMs < newestSource()
if (prebuild === undefined || stale) {
  const why = prebuild === undefined ? 'is missing' : 'is older than the sources in native/'
  if (here !== EXPECTED.platformArch || hereLibc !== EXPECTED.libc) {
    refuse([
      `The ${EXPECTED.platformArch} ${EXPECTED.libc} prebuild (native/prebuilds/${EXPECTED.platformArch}/*.${EXPECTED.libc}.node) ${why},`,
      `and this machine (${here}, ${hereLibc === 'glibc' ? 'glibc' : 'not glibc'}) cannot build it.`,
      `Fix: pack on ${EXPECTED.platformArch} ${EXPECTED.libc}, or copy a fresh prebuild there first.`,
    ])
  }
  console.error(`@ipc/core prepack: the ${EXPECTED.platformArch} prebuild ${why}; building it with prebuildify`)
  const result = spawnSync(process.execPath, [join(packageDir, 'scripts', 'build-native.mjs'), '--prebuildify'], {
    cwd: packageDir,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  prebuild = expectedPrebuild()
  if (result.status !== 0 || prebuild === undefined) {
    refuse([
      `Building the ${EXPECTED.platformArch} prebuild failed (exit ${result.status ?? result.signal}); see the output above.`,
      'It needs python3, make and a C++ compiler (Debian: apt-get install python3 make g++).',
    ])
  }
}

if (here === EXPECTED.platformArch && hereLibc === EXPECTED.libc) {
  try {
    const addon = createRequire(import.meta.url)(prebuild)
    if (typeof addon.shmOpen !== 'function') throw new Error('it does not export shmOpen()')
  } catch (error) {
    refuse([`${relative(packageDir, prebuild)} does not load: ${error.message}`])
  }
}
console.error(`@ipc/core prepack: shipping ${relative(packageDir, prebuild)}`)
