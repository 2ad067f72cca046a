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
    const platform = `${process.platform}-${process.arch} (Node ${process.version}, napi ${process.versions.napi})`
    throw new NativeUnavailableError(
      `Cannot load the @ipc/core native addon for ${platform}: ${(error as Error).message}\n` +
        `Tried: ${join(dir, 'prebuilds')} and ${join(dir, 'build', 'Release')}\n` +
        'Possible solutions:\n' +
        '- Use a platform with a bundled prebuild (linux-x64 glibc)\n' +
        `- Build it from source: cd ${root} && node scripts/build-native.mjs (needs python3, make and a C++ compiler)`,
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
