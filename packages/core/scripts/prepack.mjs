// `prepack` of @ipc/core (npm pack, pnpm pack, pnpm publish, changeset publish):
// the tarball must carry the built JavaScript and the glibc prebuilds, or
// packing fails here. Users never compile: there is no install script, and the
// C++ sources are not shipped.
//
//   - dist/ must exist (this script does not run tsup: `pnpm build` first);
//   - each prebuild in PREBUILDS, native/prebuilds/<platform>-<arch>/*.glibc.node,
//     is (re)built with prebuildify when it is missing or older than a file in
//     native/: linux-x64 natively (python3, make, g++), linux-arm64 with the
//     cross compiler (Debian's g++-aarch64-linux-gnu) on linux-x64;
//   - linux-x64 is always required. linux-arm64 is required when CI is set
//     (CI=true: CI and the release job); elsewhere, without the cross
//     compiler, a missing one is left out with a warning, and a stale one
//     refuses (it would be packed);
//   - every shipped prebuild must be an ELF shared object for its CPU, and the
//     one for this machine must load in this Node and export the addon's functions.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildPrebuild, CROSS, hasCrossCompiler } from './build-native.mjs'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = join(packageDir, 'native')
/** What a release ships. `elfMachine` is e_machine of the ELF header (x86-64: 62, AArch64: 183). */
const PREBUILDS = [
  { arch: 'x64', elfMachine: 62, required: true },
  { arch: 'arm64', elfMachine: 183, required: Boolean(process.env.CI) && process.env.CI !== 'false' },
]
const LIBC = 'glibc'

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

function findPrebuild(arch) {
  const dir = join(nativeDir, 'prebuilds', `linux-${arch}`)
  if (!existsSync(dir)) return undefined
  const file = readdirSync(dir).find((name) => name.endsWith(`.${LIBC}.node`))
  return file === undefined ? undefined : join(dir, file)
}

/** e_machine of a 64-bit little-endian ELF shared object (e_type 3), or undefined. */
function elfMachine(file) {
  const header = readFileSync(file).subarray(0, 20)
  const isElf64Le = header.length === 20 && header.readUInt32BE(0) === 0x7f454c46 && header[4] === 2 && header[5] === 1
  return isElf64Le && header.readUInt16LE(16) === 3 ? header.readUInt16LE(18) : undefined
}

const herePlatform = `${process.platform}-${process.arch}`
const hereGlibc = Boolean(process.report?.getReport().header.glibcVersionRuntime)
const newest = newestSource()
const shipped = []
for (const { arch, elfMachine: machine, required } of PREBUILDS) {
  const target = `linux-${arch}`
  let prebuild = findPrebuild(arch)
  const stale = prebuild !== undefined && statSync(prebuild).mtimeMs < newest
  if (prebuild === undefined || stale) {
    const why = prebuild === undefined ? 'is missing' : 'is older than the sources in native/'
    const native = herePlatform === target && hereGlibc
    const cross = herePlatform === 'linux-x64' && hereGlibc && arch in CROSS
    if (!native && !(cross && hasCrossCompiler(arch))) {
      const lines = [
        `The ${target} ${LIBC} prebuild (native/prebuilds/${target}/*.${LIBC}.node) ${why},`,
        `and this machine (${herePlatform}, ${hereGlibc ? 'glibc' : 'not glibc'}) cannot build it.`,
        cross
          ? `Fix: install the cross compiler (Debian: apt-get install ${CROSS[arch].debianPackage}), then pack again.`
          : `Fix: pack on linux-x64 with glibc, or copy a fresh prebuild there first.`,
      ]
      if (required) refuse(lines)
      // A stale file would still be packed (`files` ships native/prebuilds): never ship one.
      if (prebuild !== undefined) refuse([...lines, `Or delete native/prebuilds/${target}/ to pack without it.`])
      console.error(`@ipc/core prepack: WARNING, packing without ${target}. ${lines.join(' ')}`)
      continue
    }
    console.error(`@ipc/core prepack: the ${target} prebuild ${why}; building it with prebuildify`)
    buildPrebuild(arch)
    prebuild = findPrebuild(arch)
    if (prebuild === undefined) refuse([`Building the ${target} prebuild left no file; see the output above.`])
  }
  if (elfMachine(prebuild) !== machine) {
    refuse([`${relative(packageDir, prebuild)} is not an ELF shared object for ${arch} (e_machine ${machine}).`])
  }
  if (herePlatform === target && hereGlibc) {
    try {
      const addon = createRequire(import.meta.url)(prebuild)
      if (typeof addon.shmOpen !== 'function') throw new Error('it does not export shmOpen()')
    } catch (error) {
      refuse([`${relative(packageDir, prebuild)} does not load: ${error.message}`])
    }
  }
  shipped.push(relative(packageDir, prebuild))
}
console.error(`@ipc/core prepack: shipping ${shipped.join(', ')}`)
