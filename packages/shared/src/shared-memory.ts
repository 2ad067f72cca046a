/**
 * SharedMemory: Python's multiprocessing.shared_memory.SharedMemory, a named
 * block of bytes that processes and threads map and use in place.
 */
import { inspect } from 'node:util'
import { ClosedError, IncompatibleError } from '@ipc/core'
import {
  checkHandle,
  type Handle,
  invalidArgType,
  outOfRange,
  Segment,
  TRANSFER,
  type TransferDescriptor,
} from '@ipc/core/internal'
import { MEMORY_KIND, MEMORY_MAGIC, OFFSET_DATA, OFFSET_MAGIC, OFFSET_SIZE } from './layout.js'
import type { SharedMemoryOptions } from './options.js'

/** The plain JSON handle of a SharedMemory: pass it anywhere, then `SharedMemory.from(handle)`. */
export interface SharedMemoryHandle extends Handle {
  kind: 'shared-memory'
  name: string
  /** Bytes of `buf`. */
  size: number
}

const ATTACH: unique symbol = Symbol('attach')

function checkSize(size: unknown): number {
  if (typeof size !== 'number')
    throw invalidArgType(`The "size" option must be a number of bytes, received ${typeof size}`)
  if (!Number.isSafeInteger(size) || size <= 0)
    throw outOfRange(`The "size" option must be a positive integer, received ${size}`)
  return size
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
export class SharedMemory {
  /** The name other processes open it by. */
  readonly name: string
  /** Bytes of `buf`. */
  readonly size: number
  readonly #segment: Segment
  readonly #buf: Uint8Array
  #closed = false

  /** Creates a block of `size` zeroed bytes; the same as `SharedMemory.create(options)`. */
  constructor(options: SharedMemoryOptions) {
    let segment: Segment
    const attached = (options as { [ATTACH]?: Segment } | null)?.[ATTACH]
    if (attached !== undefined) {
      segment = attached
    } else {
      if (typeof options !== 'object' || options === null)
        throw invalidArgType(
          `The options must be an object with a "size", received ${options === null ? 'null' : typeof options}`,
        )
      const size = checkSize(options.size)
      // Rounded up to 8 bytes: core's Int32Array view of the mapping needs a multiple of 4.
      segment = Segment.create(MEMORY_KIND, OFFSET_DATA + Math.ceil(size / 8) * 8, {
        name: options.name,
        init(created) {
          const view = new DataView(created.buffer, created.dataOffset, OFFSET_DATA)
          view.setFloat64(OFFSET_SIZE, size, true)
          view.setUint32(OFFSET_MAGIC, MEMORY_MAGIC, true)
        },
      })
    }
    const view = new DataView(segment.buffer, segment.dataOffset, OFFSET_DATA)
    this.name = segment.name
    this.size = view.getFloat64(OFFSET_SIZE, true)
    this.#segment = segment
    this.#buf = new Uint8Array(segment.buffer, segment.dataOffset + OFFSET_DATA, this.size)
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
    return new SharedMemory(options)
  }

  /**
   * Attaches to the block called `name` from any process or thread.
   * @throws {NotFoundError} when no block has that name.
   * @throws {IncompatibleError} when `name` is another kind of primitive.
   * @example
   * ```ts
   * const shm = SharedMemory.open('frame')
   * ```
   */
  static open(name: string): SharedMemory {
    const segment = Segment.open(MEMORY_KIND, name)
    const view = new DataView(segment.buffer, segment.dataOffset, Math.min(OFFSET_DATA, segment.dataBytes))
    const size = view.byteLength >= OFFSET_DATA ? view.getFloat64(OFFSET_SIZE, true) : -1
    if (
      view.byteLength < OFFSET_DATA ||
      view.getUint32(OFFSET_MAGIC, true) !== MEMORY_MAGIC ||
      !(size > 0 && OFFSET_DATA + size <= segment.dataBytes)
    ) {
      segment.close()
      throw new IncompatibleError(`Cannot open shared memory "${name}": its header is not a shared memory block's`)
    }
    return new SharedMemory({ [ATTACH]: segment } as never)
  }

  /**
   * Attaches to the block a `.handle` describes.
   * @throws {TypeError} when `handle` is not a shared memory handle.
   */
  static from(handle: SharedMemoryHandle): SharedMemory {
    return SharedMemory.open(checkHandle<SharedMemoryHandle>(handle, 'shared-memory').name)
  }

  /**
   * The bytes, a Uint8Array over the shared memory itself (zero copy).
   * @throws {ClosedError} after `close()`.
   */
  get buf(): Uint8Array {
    if (this.#closed) throw new ClosedError(`Cannot use shared memory "${this.name}": it was closed`)
    return this.#buf
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed
  }

  /** A small plain JSON object; `SharedMemory.from(handle)` attaches to the same block. */
  get handle(): SharedMemoryHandle {
    return { kind: 'shared-memory', name: this.name, size: this.size }
  }

  /**
   * Detaches this object (idempotent): `buf` then throws ClosedError. The memory
   * is removed when the last attached object closes or its process dies.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#segment.close()
  }

  /** Alias of `close()`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** Removes the name now (Python's `unlink()`); attached objects keep working until they close. */
  unlink(): void {
    this.#segment.unlink()
  }

  /** For `Process`: how to attach to this block in a child. */
  [TRANSFER](): TransferDescriptor {
    return { module: import.meta.url, export: 'SharedMemory', handle: this.handle }
  }

  [inspect.custom](): string {
    return `SharedMemory { name: '${this.name}', size: ${this.size}${this.#closed ? ', closed: true' : ''} }`
  }
}
