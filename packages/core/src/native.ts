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
  /** Creates (O_EXCL) and maps; writes `firstWord` at offset 0 before the file gets its size. */
  shmCreate(name: string, size: number, mode: number, firstWord?: number): MappedSegment | number
  /**
   * Maps the whole object after checking its fd: -EACCES when it is not a
   * regular file of our euid without group/other bits, -EINVAL when it is
   * smaller than `minBytes`.
   */
  shmOpen(name: string, minBytes: number): MappedSegment | number
  /** Never maps; reads the first bytes into `into` with pread when the file is trusted. */
  shmStat(name: string, into?: Uint8Array): ShmStat | number
  shmUnlink(name: string): number
  effectiveUid(): number
  unmap(buffer: ArrayBuffer): number
  armStore(buffer: ArrayBuffer, byteOffset: number, value: number): number
  disarmStore(id: number): boolean
  futexWait(i32: Int32Array, index: number, expected: number, timeoutMs: number): number
  futexWake(i32: Int32Array, index: number, count: number): number
  onWaitComplete(callback: (batch: number[]) => void): number
  waitAsync(i32: Int32Array, index: number, expected: number, id: number): number
  cancelWait(id: number): boolean
  /** How async waits sleep in this process: futex_waitv, or a thread per wait (see native/futex.cc). */
  waitMode(): 'waitv' | 'threads'
  processStartTime(pid: number): number
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
    // Say what is missing, as seen from an installed copy (node_modules/@ipc/core),
    // and fixes that work from there: the package ships no C++ sources, so
    // `npm rebuild` cannot help; a binary built in a clone can be copied in.
    const { readdirSync } = require('node:fs') as typeof import('node:fs')
    const list = (path: string): string[] => {
      try {
        return readdirSync(path).sort()
      } catch {
        return []
      }
    }
    const reason = (error as Error).message.trim()
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
      ?.glibcVersionRuntime
    const here = `${process.platform}-${process.arch}`
    const target = `${here} ${glibc ? `glibc ${glibc}` : 'without glibc'}, Node ${process.version}, napi ${process.versions.napi}`
    const prebuilds = list(join(dir, 'prebuilds')).flatMap((tuple) =>
      list(join(dir, 'prebuilds', tuple)).map((file) => `${tuple}/${file}`),
    )
    const builds = list(join(dir, 'build', 'Release')).filter((file) => file.endsWith('.node'))
    let missing: string
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && reason.includes("'node-gyp-build'")) {
      missing = 'its dependency node-gyp-build is not installed'
    } else if (reason.startsWith('No native build was found')) {
      missing =
        prebuilds.length === 0
          ? `this copy of @ipc/core has no prebuilt binary (${join(dir, 'prebuilds')} is empty or missing: the package was packed without its prebuilds) and no local build in ${join(dir, 'build', 'Release')}`
          : `no bundled prebuild matches ${here}${glibc ? ' glibc' : ''}; this copy bundles ${prebuilds.join(', ')}`
    } else {
      let file = 'the binary node-gyp-build picked'
      try {
        file = (require('node-gyp-build') as { path(dir: string): string }).path(dir)
      } catch {}
      missing = `${file} failed to load: ${reason}`
    }
    throw new NativeUnavailableError(
      `Cannot load the @ipc/core native addon for ${target}: ${missing}\n` +
        `Looked in: ${join(dir, 'build', 'Release')} (${builds.join(', ') || 'nothing'}), then ${join(dir, 'prebuilds')} (${prebuilds.join(', ') || 'nothing'})\n` +
        'Possible solutions:\n' +
        '- Released @ipc/core tarballs bundle one prebuild: linux-x64 with glibc (it serves every Node 20 or later: N-API). ' +
        'On that platform, reinstall @ipc/core from a complete tarball (npm install @ipc/core once it is published, ' +
        'or a tarball made with `pnpm pack` in packages/core of https://github.com/ipc-js/ipc, which builds the prebuild first)\n' +
        '- Elsewhere on Linux (another CPU, musl, a glibc older than the prebuild needs), build the addon in a clone ' +
        `(needs git, pnpm, python3, make and a C++17 compiler) and copy it into this package:\n` +
        '    git clone https://github.com/ipc-js/ipc && cd ipc && pnpm install && pnpm --filter @ipc/core build:native\n' +
        `    mkdir -p ${join(dir, 'build', 'Release')} && cp packages/core/native/build/Release/ipc_core.node ${join(dir, 'build', 'Release')}/\n` +
        '  (a reinstall of @ipc/core removes the copy; repeat it after one)\n' +
        '- Other operating systems are not supported yet: @ipc needs Linux (/dev/shm and futexes)',
      { cause: error },
    )
  }
}

/** The addon, loaded on first use (importing @ipc/core has no side effects). */
export function native(): NativeBinding {
  const rt = runtime()
  if (rt.native === undefined) rt.native = load()
  return rt.native
}
