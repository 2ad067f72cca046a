/**
 * SharedMemory: Python's multiprocessing.shared_memory.SharedMemory, a named
 * block of bytes that processes and threads map and use in place.
 */
import { ClosedError, IncompatibleError } from '@ipc/core'
import {
  type Attachment,
  attachTo,
  type CreationSpec,
  checkHandle,
  checkOptionNames,
  checkOptionsObject,
  checkPersistent,
  fromHandle,
  type Handle,
  invalidArgType,
  openPrimitive,
  outOfRange,
  Primitive,
  type PrimitiveKind,
  RawSegment,
  type Segment,
} from '@ipc/core/internal'
import { MEMORY_KIND, MEMORY_MAGIC, OFFSET_DATA, OFFSET_MAGIC, OFFSET_SIZE } from './layout.js'
import {
  MEMORY_CREATE_OPTIONS,
  MEMORY_OPEN_OPTIONS,
  MEMORY_OPTIONS,
  type SharedMemoryOpenOptions,
  type SharedMemoryOptions,
} from './options.js'

/** The plain JSON handle of a SharedMemory: pass it anywhere, then `SharedMemory.from(handle)`. */
export interface SharedMemoryHandle extends Handle {
  kind: 'shared-memory'
  name: string
  /** Bytes of `buf`. */
  size: number
  /** A raw block (no @ipc header, the name used as is); `SharedMemory.from` opens it raw. */
  raw?: boolean
}

interface MemorySpec extends CreationSpec {
  size: number
}

interface MemoryAttachment extends Attachment {
  /** Bytes of `buf`, from the header (a raw block: its size). */
  size: number
  /** Where `buf` starts in the mapping. */
  offset: number
  raw: boolean
}

function checkSize(size: unknown): number {
  if (typeof size !== 'number')
    throw invalidArgType(`The "size" option must be a number of bytes, received ${typeof size}`)
  if (!Number.isSafeInteger(size) || size <= 0)
    throw outOfRange(`The "size" option must be a positive integer, received ${size}`)
  return size
}

function checkMemoryOptions(options: SharedMemoryOptions): MemorySpec {
  if (typeof options !== 'object' || options === null)
    throw invalidArgType(
      `The options must be an object with a "size", received ${options === null ? 'null' : typeof options}`,
    )
  checkOptionNames(options, MEMORY_OPTIONS)
  return { size: checkSize(options.size), name: options.name, persistent: checkPersistent(options.persistent) }
}

function checkRaw(value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw invalidArgType(`The "raw" option must be a boolean, received ${typeof value}`)
  return value
}

/**
 * A raw block as the shell's attachment: the RawSegment stands in for the
 * segment (the shell calls only its name, persistent, close and unlink), and
 * `buf` is the whole mapping.
 */
function rawAttachment(raw: RawSegment): MemoryAttachment {
  return { segment: raw as unknown as Segment, size: raw.dataBytes, offset: 0, raw: true }
}

const MEMORY: PrimitiveKind<MemoryAttachment, MemorySpec> = {
  segment: MEMORY_KIND,
  className: 'SharedMemory',
  module: import.meta.url,
  // Rounded up to 8 bytes: core's Int32Array view of the mapping needs a multiple of 4.
  dataBytes: (spec) => OFFSET_DATA + Math.ceil(spec.size / 8) * 8,
  init(created, spec) {
    const view = new DataView(created.buffer, created.dataOffset, OFFSET_DATA)
    view.setFloat64(OFFSET_SIZE, spec.size, true)
    view.setUint32(OFFSET_MAGIC, MEMORY_MAGIC, true)
  },
  attach(segment: Segment): MemoryAttachment {
    const view = new DataView(segment.buffer, segment.dataOffset, Math.min(OFFSET_DATA, segment.dataBytes))
    const size = view.byteLength >= OFFSET_DATA ? view.getFloat64(OFFSET_SIZE, true) : -1
    if (
      view.byteLength < OFFSET_DATA ||
      view.getUint32(OFFSET_MAGIC, true) !== MEMORY_MAGIC ||
      !(Number.isSafeInteger(size) && size > 0 && OFFSET_DATA + size <= segment.dataBytes)
    )
      throw new IncompatibleError(
        `Cannot open shared memory "${segment.name}": its header is not a shared memory block's`,
      )
    return { segment, size, offset: OFFSET_DATA, raw: false }
  },
}

/**
 * A named block of shared memory (Python's `shared_memory.SharedMemory`):
 * `buf` is a Uint8Array over the memory itself, so a write in one process is
 * seen by every process and thread that opened the same name.
 *
 * Guarantees:
 * - `buf` starts zeroed and is 64-byte aligned, so any typed array can view it:
 *   `new Float64Array(shm.buf.buffer, shm.buf.byteOffset, shm.size / 8)`.
 * - No synchronisation is implied: use Atomics on integer views, or a lock.
 * - A `buf` view kept past `close()` never dangles (it is emptied, or keeps
 *   the memory mapped until garbage-collected), but do not use it.
 * - The memory is removed when the last attached object closes or its process
 *   dies (even by SIGKILL); `unlink()` removes the name at once.
 *
 * @throws {RangeError} when `size` is not a positive integer.
 * @throws {ExistsError} when `name` is taken.
 * @example
 * ```ts
 * const shm = SharedMemory.create({ size: 16 })
 * shm.buf[0] = 42
 * const other = SharedMemory.open(shm.name)
 * other.buf[0] // => 42
 * other.close()
 * shm.close()
 * ```
 */
export class SharedMemory extends Primitive<MemoryAttachment, SharedMemoryHandle> implements Disposable {
  /** Bytes of `buf`. */
  readonly size: number
  readonly #buf: Uint8Array

  /** Creates a block of `size` zeroed bytes; the same as `SharedMemory.create(options)`. */
  constructor(options: SharedMemoryOptions) {
    super(MEMORY, () => checkMemoryOptions(options))
    const { segment, size, offset } = this.attachment
    this.size = size
    this.#buf = new Uint8Array(segment.buffer, segment.dataOffset + offset, size)
  }

  /**
   * Creates a block of `size` zeroed bytes.
   * @throws {RangeError} when `size` is not a positive integer.
   * @throws {ExistsError} when `name` is taken.
   * @example
   * ```ts
   * const shm = SharedMemory.create({ size: 1024, name: 'frame' })
   * ```
   */
  static create(options: SharedMemoryOptions): SharedMemory {
    if (typeof options === 'object' && options !== null && checkRaw(options.raw)) {
      const spec = checkMemoryOptions(options)
      const raw = RawSegment.create(spec.name, spec.size, spec.persistent)
      return attachTo(() => new SharedMemory(undefined as never), MEMORY, rawAttachment(raw), { created: true })
    }
    return new SharedMemory(options)
  }

  /**
   * Attaches to the block called `name` from any process or thread. With
   * `{ create: { size } }`, creates it when no object has that name,
   * atomically: of processes racing on one name exactly one creates it (its
   * `created` is true) and all map the same bytes. The block opened keeps
   * its own size, whatever `create.size` says.
   * @throws {NotFoundError} when no block has that name (and `create` is not given).
   * @throws {IncompatibleError} when `name` is another kind of primitive.
   * @throws {RangeError} when `create.size` is not a positive integer (nothing is created).
   * @example
   * ```ts
   * const shm = SharedMemory.open('frame', { create: { size: 1024 } })
   * ```
   */
  static open(name: string, options?: SharedMemoryOpenOptions): SharedMemory {
    checkOptionsObject(options, MEMORY_OPEN_OPTIONS)
    if (checkRaw(options?.raw)) {
      if (options?.create !== undefined && options.create !== false)
        throw invalidArgType(
          'The "create" option cannot be combined with "raw": create a raw block with SharedMemory.create({ size, name, raw: true })',
        )
      return attachTo(() => new SharedMemory(undefined as never), MEMORY, rawAttachment(RawSegment.open(name)))
    }
    const create = options?.create
    if (typeof create === 'object' && create !== null && (create as { raw?: unknown }).raw !== undefined)
      throw invalidArgType(
        'The "create" option cannot hold "raw": create a raw block with SharedMemory.create({ size, name, raw: true })',
      )
    return openPrimitive(
      () => new SharedMemory(undefined as never),
      MEMORY,
      name,
      // `raw` was handled above: open() sees only `create`.
      (options === undefined ? undefined : { create: options.create }) as SharedMemoryOpenOptions | undefined,
      (create) => checkMemoryOptions(create as SharedMemoryOptions),
      MEMORY_CREATE_OPTIONS,
    )
  }

  /**
   * Attaches to the block a `.handle` describes (raw when its `raw` is true).
   * @throws {TypeError} when `handle` is not a shared memory handle, or its `raw` is not a boolean.
   */
  static from(handle: SharedMemoryHandle | Handle): SharedMemory {
    // The same kind and shape checks as every handle, raw or not.
    const checked = checkHandle<SharedMemoryHandle>(handle, MEMORY_KIND.kind)
    if (checkRaw(checked.raw)) return SharedMemory.open(checked.name, { raw: true })
    return fromHandle(() => new SharedMemory(undefined as never), MEMORY, checked)
  }

  /** True for a raw block (`raw: true`): no @ipc header, the name used as is, as Python names it. */
  get raw(): boolean {
    return this.attachment.raw
  }

  /**
   * The bytes, a Uint8Array over the shared memory itself (zero copy).
   * @throws {ClosedError} after `close()`.
   */
  get buf(): Uint8Array {
    if (this.closed) throw new ClosedError(`Cannot use shared memory "${this.name}": it was closed`)
    return this.#buf
  }

  protected override handleFields(): Record<string, unknown> {
    return this.raw ? { size: this.size, raw: true } : { size: this.size }
  }

  protected inspectFields(): Record<string, unknown> {
    return this.raw ? { size: this.size, raw: true } : { size: this.size }
  }
}
