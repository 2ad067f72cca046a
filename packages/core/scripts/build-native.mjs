// Builds the addon in native/.
//
//   node scripts/build-native.mjs                             node-gyp rebuild in native/ -> native/build/Release (development)
//   node scripts/build-native.mjs --prebuildify               this machine's prebuild -> native/prebuilds/<platform>-<arch>/
//   node scripts/build-native.mjs --prebuildify --arch=arm64  the linux-arm64 glibc prebuild, cross-compiled on linux-x64
//                                                             with Debian's g++-aarch64-linux-gnu
//
// Prebuilds are compiled in a temporary copy of native/, so native/build (the
// development build that the other packages' tests load) is never replaced
// half-way by another architecture's binary. node-gyp must never download
// headers (the network may be closed): it uses the running Node's own headers,
// installed beside it; N-API makes them the same for every architecture.
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..')
const nativeDir = join(packageDir, 'native')
const require = createRequire(import.meta.url)

/**
 * Cross toolchains, by target arch, for a linux-x64 host: the GNU triple whose
 * `<triple>-gcc`, `-g++` and `-strip` must be on PATH, and the Debian package
 * that provides them (its sysroot, /usr/<triple>, is also what qemu-user needs).
 */
export const CROSS = {
  arm64: { triple: 'aarch64-linux-gnu', debianPackage: 'g++-aarch64-linux-gnu' },
}

/** True when `<triple>-g++` runs (the cross compiler for `arch` is installed). */
export function hasCrossCompiler(arch) {
  const cross = CROSS[arch]
  if (cross === undefined) return false
  const result = spawnSync(`${cross.triple}-g++`, ['--version'], { stdio: 'ignore' })
  return result.status === 0
}

function fail(message) {
  console.error(`@ipc/core: ${message}`)
  process.exit(1)
}

function run(cmd, args, cwd, env) {
  const r = spawnSync(cmd, args, { cwd, env, stdio: 'inherit' })
  if (r.status !== 0) fail(`${[cmd, ...args].join(' ')} failed (exit ${r.status ?? r.signal})`)
}

function baseEnv() {
  const env = { ...process.env }
  const prefix = dirname(dirname(process.execPath))
  if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) env.npm_config_nodedir = prefix
  return env
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
  if (!found) fail(`node-gyp not found; looked in:\n  ${candidates.join('\n  ')}`)
  return found
}

/**
 * Builds native/prebuilds/linux-<arch>/ipc-core-native.glibc.node with
 * prebuildify (--napi --strip --tag-libc). `arch` other than this machine's
 * needs the CROSS toolchain; the process exits with a message on failure.
 */
export function buildPrebuild(arch = process.arch) {
  const env = baseEnv()
  const args = ['--napi', '--strip', '--tag-libc', '--target', `node@${process.versions.node}`, `--arch=${arch}`]
  if (arch !== process.arch) {
    const cross = CROSS[arch]
    if (process.platform !== 'linux' || process.arch !== 'x64' || cross === undefined) {
      fail(
        `cannot cross-build a ${arch} prebuild on ${process.platform}-${process.arch}; supported: linux-x64 to ${Object.keys(CROSS).join(', ')}`,
      )
    }
    if (!hasCrossCompiler(arch)) {
      fail(`${cross.triple}-g++ is not installed; on Debian: apt-get install ${cross.debianPackage}`)
    }
    Object.assign(env, {
      CC: `${cross.triple}-gcc`,
      CXX: `${cross.triple}-g++`,
      LINK: `${cross.triple}-g++`,
      AR: `${cross.triple}-ar`,
    })
    args.push(`--strip-bin=${cross.triple}-strip`)
  }
  // A copy of the sources (and native/package.json, whose name tags the file)
  // in a temporary directory; binding.gyp's `require('node-addon-api')` finds
  // this package's copy through NODE_PATH.
  const work = mkdtempSync(join(tmpdir(), 'ipc-prebuild-'))
  try {
    const source = join(work, 'native')
    mkdirSync(source)
    for (const name of readdirSync(nativeDir)) {
      if (/\.(cc|h|gyp)$/.test(name) || name === 'package.json') cpSync(join(nativeDir, name), join(source, name))
    }
    // prebuildify spawns `node-gyp` from PATH: give it the same node-gyp, and
    // the running Node as target so that nodedir's headers match.
    const shim = join(work, 'node-gyp')
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${nodeGypBin()}" "$@"\n`)
    chmodSync(shim, 0o755)
    env.PATH = `${work}:${env.PATH ?? ''}`
    env.NODE_PATH = join(packageDir, 'node_modules')
    args.push('--cwd', source, '--out', nativeDir, '--cache', join(work, 'cache'))
    run(process.execPath, [require.resolve('prebuildify/bin.js'), ...args], source, env)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** The development build: node-gyp rebuild in native/ (native/build/Release/ipc_core.node). */
export function buildDevelopment() {
  run(process.execPath, [nodeGypBin(), 'rebuild'], nativeDir, baseEnv())
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const archArg = process.argv.find((arg) => arg.startsWith('--arch='))
  if (process.argv.includes('--prebuildify')) buildPrebuild(archArg === undefined ? process.arch : archArg.slice(7))
  else if (archArg !== undefined) fail('--arch needs --prebuildify (the development build is for this machine only)')
  else buildDevelopment()
}
