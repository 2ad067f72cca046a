/**
 * The only module that loads the native addon (native/*.cc). It resolves the
 * package root from this file's URL, then asks node-gyp-build for a prebuilt
 * binary (native/prebuilds) or a local build (native/build/Release).
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NativeUnavailableError } from './errors.js'
import { runtime } from './runtime.js'

/** The functions of the addon. Failures come back as negative errnos, never as throws. */
export interface NativeBinding {
  /**
   * Creates (O_EXCL) and maps; writes `firstWord` at offset 0 before the file
   * gets its size. -EFBIG, before creating anything, when `size` is above
   * `maxBytes` (default 4 GiB): Node cannot wrap a larger mapping in a buffer.
   */
  shmCreate(name: string, size: number, mode: number, firstWord?: number, maxBytes?: number): MappedSegment | number
  /**
   * Maps the whole object after checking its fd: -EACCES when it is not a
   * regular file of our euid without group/other bits, -EINVAL when it is
   * smaller than `minBytes`, -EFBIG when it is larger than `maxBytes`
   * (default 4 GiB), unmapped.
   */
  shmOpen(name: string, minBytes: number, maxBytes?: number): MappedSegment | number
  /** Never maps; reads the first bytes into `into` with pread when the file is trusted. */
  shmStat(name: string, into?: Uint8Array): ShmStat | number
  shmUnlink(name: string): number
  effectiveUid(): number
  unmap(buffer: ArrayBuffer): number
  /** True while `buffer` is a mapping of shmCreate/shmOpen not yet unmapped. Optional, as `yieldThread`. */
  isMapping?(buffer: ArrayBuffer): boolean
  armStore(buffer: ArrayBuffer, byteOffset: number, value: number): number
  disarmStore(id: number): boolean
  futexWait(i32: Int32Array, index: number, expected: number, timeoutMs: number): number
  futexWake(i32: Int32Array, index: number, count: number): number
  onWaitComplete(callback: (batch: number[]) => void): number
  /** 0 registered, 1 not-equal, 2 the array is not over a SharedArrayBuffer or a live mapping, or -errno. */
  waitAsync(i32: Int32Array, index: number, expected: number, id: number): number
  cancelWait(id: number): boolean
  /** How async waits sleep in this thread: io_uring, futex_waitv, or a thread per wait (see native/futex.cc). */
  waitMode(): 'uring' | 'waitv' | 'threads'
  /**
   * sched_yield(): lets another runnable thread on this CPU run (a spinning
   * waiter's peer). Optional: the binding of an older @ipc/core, loaded first
   * by that copy and shared through the runtime, has none.
   */
  yieldThread?(): void
  /** Registers this process for remote fences (membarrier); 0 or -errno. Optional, as `yieldThread`. */
  fenceRegister?(): number
  /** A full barrier on every running thread of every registered process; 0 or -errno. See waiting/remote-fence.ts. */
  fenceRemote?(): number
  /** Clock ticks since boot; -1 exited, -2 unreadable (see liveness.ts). */
  processStartTime(pid: number): number
  /** False only when the pid is gone or runs with another start time; true when /proc cannot answer. */
  processAlive(pid: number, startTime: number): boolean
  threadId(): number
}

/** What shmStat saw on the fd of a name (opened O_RDONLY | O_NOFOLLOW | O_NONBLOCK). */
export interface ShmStat {
  size: number
  inode: number
  mtimeMs: number
  uid: number
  /** st_mode: type and permission bits. */
  mode: number
  /** A regular file of our effective uid without group/other bits: the only kind ever mapped or read. */
  trusted: boolean
  /** How many bytes were read into `into` (0 when untrusted or not asked). */
  bytesRead: number
}

/** A mapping returned by shmCreate/shmOpen. */
export interface MappedSegment {
  buffer: ArrayBuffer
  size: number
  inode: number
}

function packageRoot(): string {
  // dist/index.js, dist/index.cjs and src/*.ts all sit one level below the root.
  return dirname(dirname(fileURLToPath(import.meta.url)))
}

function load(): NativeBinding {
  const root = packageRoot()
  const dir = join(root, 'native')
  const require = createRequire(import.meta.url)
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding
    return nodeGypBuild(dir)
  } catch (error) {
    const { readdirSync } = require('node:fs') as typeof import('node:fs')
    const list = (path: string): string[] => {
      try {
        return readdirSync(path).sort()
      } catch {
        return []
      }
    }
    let picked: string | undefined
    try {
      picked = (require('node-gyp-build') as { path(dir: string): string }).path(dir)
    } catch {}
    const failure: LoadFailure = {
      platform: process.platform,
      arch: process.arch,
      glibc: (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
        ?.glibcVersionRuntime,
      node: process.version,
      napi: process.versions.napi,
      dir,
      prebuilds: list(join(dir, 'prebuilds')).flatMap((tuple) =>
        list(join(dir, 'prebuilds', tuple)).map((file) => `${tuple}/${file}`),
      ),
      builds: list(join(dir, 'build', 'Release')).filter((file) => file.endsWith('.node')),
      reason: (error as Error).message.trim(),
      code: (error as NodeJS.ErrnoException).code,
      picked,
    }
    const { message, supported } = nativeLoadErrorMessage(failure)
    // On a platform without prebuilds the message says all there is: no cause, no second stack.
    throw new NativeUnavailableError(message, supported ? { cause: error } : {})
  }
}

/** The page that says which platforms @ipc supports, and the plans for the others. */
export const PLATFORMS_URL = 'https://ipc-js.github.io/ipc/guide/platforms'
/** The prebuilds a release bundles (packages/core/scripts/prepack.mjs), for glibc only. */
const PREBUILT = ['linux-x64', 'linux-arm64']
/** The oldest glibc the prebuilds load on (they link shm_open@GLIBC_2.34 and pthread_create@GLIBC_2.34). */
const MIN_GLIBC = [2, 34] as const

/** What `load()` saw when the addon did not load: the input of nativeLoadErrorMessage. */
export interface LoadFailure {
  /** `process.platform`. */
  platform: string
  /** `process.arch`. */
  arch: string
  /** glibc's version at run time; undefined on musl and off Linux. */
  glibc: string | undefined
  /** `process.version`. */
  node: string
  /** `process.versions.napi`. */
  napi: string | undefined
  /** The package's native/ directory. */
  dir: string
  /** The files under native/prebuilds, as `<platform>-<arch>/<file>`. */
  prebuilds: readonly string[]
  /** The .node files in native/build/Release. */
  builds: readonly string[]
  /** The error's message. */
  reason: string
  /** The error's code (MODULE_NOT_FOUND, ...). */
  code: string | undefined
  /** The binary node-gyp-build picked, when it found one. */
  picked: string | undefined
}

const OS_NAMES: Record<string, string> = { darwin: 'macOS', win32: 'Windows', linux: 'Linux' }

function olderGlibc(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major < MIN_GLIBC[0] || (major === MIN_GLIBC[0] && minor < MIN_GLIBC[1])
}

/**
 * The message of the NativeUnavailableError thrown when the addon does not
 * load, from the facts alone (tests pass any platform). `supported` is false
 * on a platform no release bundles a prebuild for: another OS, musl, another
 * CPU or a glibc older than 2.34; the message then names the platform, says
 * that it is not supported yet and links PLATFORMS_URL.
 */
export function nativeLoadErrorMessage(failure: LoadFailure): { message: string; supported: boolean } {
  const { platform, arch, glibc, dir } = failure
  const here = `${platform}-${arch}`
  const libc = platform !== 'linux' ? '' : glibc ? ` glibc ${glibc}` : ' musl (no glibc)'
  const target = `${here}${libc}, Node ${failure.node}, napi ${failure.napi ?? 'unknown'}`
  const supportedList = `${PREBUILT.join(' and ')} with glibc ${MIN_GLIBC.join('.')} or later`
  const release = join(dir, 'build', 'Release')
  const lookedIn = `Looked in: ${release} (${failure.builds.join(', ') || 'nothing'}), then ${join(dir, 'prebuilds')} (${failure.prebuilds.join(', ') || 'nothing'})`
  const buildFromClone =
    'build the addon in a clone (needs git, pnpm, python3, make and a C++17 compiler) and copy it into this package:\n' +
    '    git clone https://github.com/ipc-js/ipc && cd ipc && pnpm install && pnpm --filter @ipc/core build:native\n' +
    `    mkdir -p ${release} && cp packages/core/native/build/Release/ipc_core.node ${release}/\n` +
    '  (a reinstall of @ipc/core removes the copy; repeat it after one)'

  if (platform !== 'linux') {
    const name = OS_NAMES[platform] ?? platform
    return {
      supported: false,
      message:
        `Cannot load the @ipc/core native addon: ${name} (${here}) is not supported yet. ` +
        `@ipc runs on Linux (${supportedList}): it needs /dev/shm and futexes. ` +
        `The platforms page says what macOS and Windows would need and where that stands: ${PLATFORMS_URL}`,
    }
  }
  const unsupported = !glibc
    ? `Linux with musl libc (${here}, no glibc found, as on Alpine) is not supported yet: the bundled prebuilds need glibc`
    : !PREBUILT.includes(here)
      ? `${here} is not supported yet: prebuilds exist for ${PREBUILT.join(' and ')} only`
      : olderGlibc(glibc)
        ? `glibc ${glibc} is older than ${MIN_GLIBC.join('.')}, which the bundled ${here} prebuild needs: not supported yet`
        : undefined
  if (unsupported !== undefined) {
    const failed = failure.picked === undefined ? '' : `\n${failure.picked} failed to load: ${failure.reason}`
    return {
      supported: false,
      message:
        `Cannot load the @ipc/core native addon for ${target}: ${unsupported}${failed}\n` +
        `${lookedIn}\n` +
        `Supported: ${supportedList}. Status and plans: ${PLATFORMS_URL}\n` +
        `To try it anyway (untested here), ${buildFromClone}`,
    }
  }

  // A supported platform: say what is missing, as seen from an installed copy
  // (node_modules/@ipc/core), and fixes that work from there. The package ships
  // no C++ sources, so `npm rebuild` cannot help; a binary built in a clone can be copied in.
  let missing: string
  if (failure.code === 'MODULE_NOT_FOUND' && failure.reason.includes("'node-gyp-build'")) {
    missing = 'its dependency node-gyp-build is not installed'
  } else if (failure.reason.startsWith('No native build was found')) {
    missing =
      failure.prebuilds.length === 0
        ? `this copy of @ipc/core has no prebuilt binary (${join(dir, 'prebuilds')} is empty or missing: the package was packed without its prebuilds) and no local build in ${release}`
        : `no bundled prebuild matches ${here} glibc; this copy bundles ${failure.prebuilds.join(', ')}`
  } else {
    missing = `${failure.picked ?? 'the binary node-gyp-build picked'} failed to load: ${failure.reason}`
  }
  return {
    supported: true,
    message:
      `Cannot load the @ipc/core native addon for ${target}: ${missing}\n` +
      `${lookedIn}\n` +
      'Possible solutions:\n' +
      `- Released @ipc/core tarballs bundle two prebuilds: ${supportedList} (they serve every Node 20 or later: N-API). ` +
      'Reinstall @ipc/core from a complete tarball (npm install @ipc/core once it is published, ' +
      'or a tarball made with `pnpm pack` in packages/core of https://github.com/ipc-js/ipc, which builds the prebuilds first)\n' +
      `- Or ${buildFromClone}\n` +
      `- Platforms: ${PLATFORMS_URL}`,
  }
}

/** The addon, loaded on first use (importing @ipc/core has no side effects). */
export function native(): NativeBinding {
  const rt = runtime()
  if (rt.native === undefined) rt.native = load()
  return rt.native
}
