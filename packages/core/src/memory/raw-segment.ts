/**
 * A raw shared-memory object: a POSIX name used as is (`/name`, the way
 * Python's `shared_memory.SharedMemory(name=…)` names it), with no @ipc
 * header. Its bytes are all data; nothing in it is read as a word of ours.
 *
 * Trust is the same as for our segments: an existing object is mapped only
 * when the native fstat check accepts it (a regular file of this user with
 * no group/other permission bits; Python creates with mode 0600), else
 * PermissionError. Names starting with `ipc-` are refused, so a raw object
 * never aliases an @ipc segment (nor is seen by the cleanup scan).
 *
 * Lifetime: without a header there is no attach table, so nobody can tell
 * who else maps the object.
 * - Opened (not created here): `close()` only unmaps; the name stays.
 * - Created here, not persistent: `close()` (or this process's normal exit)
 *   unlinks the name, as Python's resource tracker unlinks what its process
 *   created; processes that mapped it keep their mapping.
 * - Created persistent: stays until someone calls `unlink()` (Python's
 *   `track=False`).
 * - SIGKILL of the creator leaves the name in place: no scan can know it is
 *   dead (it has no header). `unlink()` it from anywhere, or `rm` it.
 */
import { randomBytes } from 'node:crypto'
import { ExistsError, IncompatibleError, IpcError, invalidArgValue, NotFoundError, systemError } from '../errors.js'
import { native } from '../native.js'
import {
  checkMappable,
  checkName,
  MAX_MAPPED_BYTES,
  refused,
  releaseMapping,
  SHM_PREFIX,
  tooLargeToMap,
  unlinkIfSame,
} from './segment.js'

const ENOENT = 2
const EACCES = 13
const EEXIST = 17
const EINVAL = 22
const EFBIG = 27

function shmNameOf(name: string): string {
  return `/${name}`
}

function checkRawName(name: unknown): string {
  const checked = checkName(name)
  if (checked.startsWith(SHM_PREFIX))
    throw invalidArgValue(
      `The "name" of a raw shared memory block must not start with "${SHM_PREFIX}" (those are @ipc's own segments), received ${JSON.stringify(checked)}`,
    )
  return checked
}

export class RawSegment {
  /** The name as given (without the leading '/'), as Python's `SharedMemory.name` reports it. */
  readonly name: string
  readonly buffer: ArrayBuffer
  /** Data starts at byte 0: there is no header. */
  readonly dataOffset = 0
  /** Bytes mapped: the object's size (fstat) when opened. */
  readonly dataBytes: number
  /** True when this process created it. */
  readonly created: boolean
  /** Not unlinked by its creator's close (Python's `track=False`). */
  readonly persistent: boolean
  readonly #inode: number
  #closed = false

  private constructor(
    name: string,
    buffer: ArrayBuffer,
    size: number,
    inode: number,
    created: boolean,
    persistent: boolean,
  ) {
    this.name = name
    this.buffer = buffer
    this.dataBytes = size
    this.#inode = inode
    this.created = created
    this.persistent = persistent
  }

  /**
   * Creates `/name` (O_EXCL, mode 0600) of `size` zeroed bytes (the object
   * is at least 4 bytes long, what the native create needs); a random
   * `psm_…` name when `name` is undefined (Python's own prefix).
   * @throws {ExistsError} when the name is taken.
   * @throws {RangeError} when `size` is more than this Node.js can map (MAX_MAPPED_BYTES).
   */
  static create(name: string | undefined, size: number, persistent: boolean): RawSegment {
    const chosen = name === undefined ? `psm_${randomBytes(8).toString('hex')}` : checkRawName(name)
    const shm = shmNameOf(chosen)
    // The native create writes a first int32 (0 here: the bytes start zeroed
    // anyway), so the object has at least 4 bytes; `dataBytes` stays `size`.
    checkMappable(size, `raw shared memory "${chosen}"`)
    const mapped = native().shmCreate(shm, Math.max(size, 4), 0o600, 0, MAX_MAPPED_BYTES)
    if (typeof mapped === 'number') {
      if (mapped === -EEXIST)
        throw new ExistsError(`Cannot create raw shared memory "${chosen}": an object with that name exists`)
      throw new IpcError(`Cannot create raw shared memory "${chosen}": shared memory is not available`, {
        cause: systemError(-mapped, 'shm_open', shm),
      })
    }
    return new RawSegment(chosen, mapped.buffer, size, mapped.inode, true, persistent)
  }

  /**
   * Maps all of the existing object `/name`.
   * @throws {NotFoundError} when no object has that name.
   * @throws {PermissionError} when it is not a regular file of this user with mode 0600 (nothing is mapped).
   * @throws {IncompatibleError} when it is empty (nothing to map), or larger than this Node.js can map.
   */
  static open(name: string): RawSegment {
    const checked = checkRawName(name)
    const shm = shmNameOf(checked)
    const what = `raw shared memory "${checked}"`
    const mapped = native().shmOpen(shm, 1, MAX_MAPPED_BYTES)
    if (typeof mapped === 'number') {
      if (mapped === -ENOENT) throw new NotFoundError(`Cannot open ${what}: no object with that name exists`)
      if (mapped === -EACCES) throw refused(shm, what)
      if (mapped === -EINVAL) throw new IncompatibleError(`Cannot open ${what}: it is empty (0 bytes)`)
      if (mapped === -EFBIG) throw tooLargeToMap(what)
      throw new IpcError(`Cannot open ${what}: shared memory is not available`, {
        cause: systemError(-mapped, 'shm_open', shm),
      })
    }
    return new RawSegment(checked, mapped.buffer, mapped.size, mapped.inode, false, true)
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Removes the name now, if it still names this object; mappings stay valid until closed. */
  unlink(): void {
    unlinkIfSame(shmNameOf(this.name), this.#inode)
  }

  /** Unmaps (idempotent); a creator that is not persistent unlinks the name first. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.created && !this.persistent) this.unlink()
    releaseMapping(this.buffer)
  }
}
