/**
 * Where the socket of a local `Listener` name lives, and who may use it.
 *
 * A local name is a Unix-domain socket file in a directory private to the
 * user: `${os.tmpdir()}/ipc-<uid>/<name>.sock`. Linux's abstract namespace is
 * not used: it has no permissions, so another user could take a name first
 * and receive what `Client(name)` sends (CPython left it after
 * CVE-2022-42919).
 *
 * Rules (both Listener and Client, before anything is bound, connected or sent):
 * - The directory must be a real directory (lstat: a symbolic link is
 *   refused), owned by this user, with no group or other permission bits.
 *   Anything else throws PermissionError. The Listener creates it (0700)
 *   when it is missing; the Client then throws NotFoundError.
 * - The socket file must be a socket owned by this user (PermissionError).
 * - A path must fit in 107 bytes (`sun_path`). A name whose path is longer
 *   becomes `<base64url SHA-256 of the name>.hsock`: both sides compute the
 *   same file. A plain name's file ends in ".sock" and a hashed one in
 *   ".hsock", so the two never collide.
 *
 * - A listener's socket file is removed at `close()`, or when its process
 *   exits without closing (not after SIGKILL: the next Listener of the name
 *   finds that connecting is refused, and replaces the stale file).
 *
 * Why a path checked once stays ours: only the owner (and root) can create,
 * rename or remove entries of a 0700 directory, and the temp directory is
 * sticky (`/tmp`), so nobody else can rename the directory itself.
 */
import { createHash } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, type Stats, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { NotFoundError, PermissionError } from '@ipc/core'

/** The longest Unix-domain socket path, in bytes (108-byte `sun_path` with its NUL). */
export const MAX_SOCKET_PATH = 107

/** This user's id, or undefined where the platform has none. */
function uid(): number | undefined {
  return process.getuid?.()
}

/** The directory of this user's local names: `<tmpdir>/ipc-<uid>`. */
export function localSocketDir(base: string = tmpdir()): string {
  return join(base, `ipc-${uid() ?? 'user'}`)
}

/** The socket path of a local name in `dir` (hashed when the plain path would not fit). */
export function localSocketPath(name: string, dir: string = localSocketDir()): string {
  const plain = join(dir, `${name}.sock`)
  if (Buffer.byteLength(plain) <= MAX_SOCKET_PATH) return plain
  return join(dir, `${createHash('sha256').update(name, 'utf8').digest('base64url')}.hsock`)
}

function code(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path)
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined
    throw error
  }
}

/** Throws PermissionError unless `st` (of `path`) belongs to this user; `what` starts the message. */
function checkOwner(st: Stats, path: string, what: string, kind: string): void {
  const me = uid()
  if (me !== undefined && st.uid !== me)
    throw new PermissionError(
      `${what}: the ${kind} ${path} belongs to uid ${st.uid}, not to this user (uid ${me}); another user may be trying to intercept local connections. Remove it (as root, or as uid ${st.uid}) or set TMPDIR to a directory only you can write`,
    )
}

/**
 * Checks the private directory `dir`, creating it (mode 0700) when `create`
 * and it is missing.
 *
 * @throws {PermissionError} when it is not a real directory owned by this user with no group/other bits.
 * @throws {NotFoundError} when it is missing and `create` is false.
 */
export function checkPrivateDir(dir: string, what: string, create: boolean): void {
  checkParentDir(dirname(dir), what)
  let st = lstatOrUndefined(dir)
  if (st === undefined) {
    if (!create) throw new NotFoundError(`${what}: no listener with that name exists (no directory ${dir})`)
    try {
      mkdirSync(dir, { mode: 0o700 })
      // The umask may have cleared owner bits; nobody else can touch a fresh entry of a sticky directory.
      chmodSync(dir, 0o700)
    } catch (error) {
      if (code(error) !== 'EEXIST') throw error
    }
    st = lstatSync(dir)
  }
  if (!st.isDirectory())
    throw new PermissionError(
      `${what}: ${dir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, where this user's private directory of local names belongs; remove it or set TMPDIR to another directory`,
    )
  checkOwner(st, dir, what, 'directory')
  if ((st.mode & 0o077) !== 0)
    throw new PermissionError(
      `${what}: the directory ${dir} is open to group or other (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run "chmod 700 ${dir}" or remove it`,
    )
}

/**
 * The private directory is only as safe as its parent: in a directory that
 * others may write without the sticky bit (as `/tmp` has), another user could
 * rename ours away and put a link in its place between our check and our
 * bind or connect.
 *
 * @throws {PermissionError} when `parent` is writable by group or other and not sticky.
 */
function checkParentDir(parent: string, what: string): void {
  const st = lstatOrUndefined(parent)
  if (st === undefined) return // mkdir fails below with ENOENT
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0)
    throw new PermissionError(
      `${what}: the temporary directory ${parent} is writable by others without the sticky bit (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}), so another user could swap this user's private directory of local names; run "chmod +t ${parent}" or set TMPDIR to a directory only you can write`,
    )
}

/**
 * Checks the socket file at `path`: undefined when there is none, its stats
 * when it is a socket of this user.
 *
 * @throws {PermissionError} when it belongs to another user.
 */
export function statSocket(path: string, what: string): Stats | undefined {
  const st = lstatOrUndefined(path)
  if (st === undefined) return undefined
  checkOwner(st, path, what, 'file')
  return st
}

// The connect test runs in a worker thread so that the Listener constructor
// stays synchronous: it blocks on `cell` until the worker writes its verdict.
const PROBE_SOURCE = `
const { workerData } = require('node:worker_threads')
const { connect } = require('node:net')
const { cell, path } = workerData
const socket = connect({ path })
const done = (verdict) => {
  socket.destroy()
  Atomics.store(cell, 0, verdict)
  Atomics.notify(cell, 0)
}
socket.once('connect', () => done(1))
socket.once('error', (error) => done(error.code === 'ECONNREFUSED' ? 2 : error.code === 'ENOENT' ? 3 : 1))
`
const PROBE_VERDICTS = ['unknown', 'live', 'dead', 'gone'] as const
const PROBE_TIMEOUT = 5000

/**
 * Whether a listener answers on the socket file `path`: 'dead' when the
 * connection is refused (a listener that died left its file), 'gone' when the
 * file vanished, 'live' when a listener (or anything) accepted, 'unknown' when
 * the test did not finish within 5 s.
 */
export function probeSocket(path: string): (typeof PROBE_VERDICTS)[number] {
  const cell = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(PROBE_SOURCE, { eval: true, workerData: { cell, path }, stdout: true, stderr: true })
  worker.unref()
  worker.on('error', () => {})
  Atomics.wait(cell, 0, 0, PROBE_TIMEOUT)
  const verdict = PROBE_VERDICTS[Atomics.load(cell, 0)] ?? 'unknown'
  if (verdict === 'unknown') void worker.terminate()
  return verdict
}

/** The socket file a listener bound: removed at close only while it is still that file. */
export interface SocketFile {
  path: string
  dev: number
  ino: number
}

// Socket files of listeners not yet closed in this thread, removed when it exits.
const boundFiles = new Set<SocketFile>()
let exitHookInstalled = false

/** Records the socket file just bound at `path`, to remove it at close or exit. */
export function trackSocketFile(path: string): SocketFile {
  const st = lstatSync(path)
  const file = { path, dev: st.dev, ino: st.ino }
  boundFiles.add(file)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const f of [...boundFiles]) removeSocketFile(f)
    })
  }
  return file
}

/** Removes the socket file unless another listener replaced it meanwhile. Idempotent. */
export function removeSocketFile(file: SocketFile): void {
  boundFiles.delete(file)
  try {
    const st = lstatSync(file.path)
    if (st.dev === file.dev && st.ino === file.ino) unlinkSync(file.path)
  } catch {}
}
