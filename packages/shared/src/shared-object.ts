/**
 * What SharedValue, SharedArray, RawValue and RawArray have in common. Each
 * is a segment with the shared header of layout.ts (element type, length,
 * the lock's kind and name) and elements after it; the lock is a Lock or
 * RLock of @ipc/semaphore in a segment of its own. `sharedKind` declares the
 * four primitive kinds (the shell is @ipc/core's Primitive), `sharedSpec`
 * validates creation options, `openShared` is every `open(name, type?,
 * options)`, and SharedObject, the base class, holds the lock.
 */
import { inspect } from 'node:util'
import { ClosedError, CorruptError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import {
  type Attachment,
  attachTo,
  type CreationSpec,
  checkHandle,
  checkOptionsObject,
  checkPersistent,
  type Handle,
  invalidArgType,
  lockHandleOf,
  openAttachment,
  openOrCreateAttachment,
  Primitive,
  type PrimitiveKind,
  type Segment,
  type SegmentKind,
} from '@ipc/core/internal'
import { type AcquireOptions, type AcquireSyncOptions, Lock, RLock } from '@ipc/semaphore'
import { type ElementType, elementType, elementTypeById, type TypeName, type ValueType } from './element-types.js'
import { type LockRecord, OFFSET_ELEMENTS, readSharedHeader, writeSharedHeader } from './layout.js'
import { RAW_OPTIONS, type RawOptions, SHARED_OPEN_OPTIONS, SHARED_OPTIONS, type SharedOptions } from './options.js'

/** The lock of a SharedValue or SharedArray: an RLock by default (as in Python), or the Lock or RLock given. */
export type SharedLock = Lock | RLock

/** An attached shared value or array: the segment and what its header says. */
export interface SharedAttachment extends Attachment {
  readonly type: ElementType
  readonly length: number
  /** The lock the header names, if any. */
  readonly record: LockRecord | undefined
  /** Set when this call created the segment: the lock object to use (made for it, or given by the user). */
  readonly lockAtCreation: SharedLock | undefined
}

/** What a new object's segment holds after the header: `length` elements in `dataBytes`, written by `fill`. */
export interface SharedContents {
  length: number
  dataBytes: number
  /** Writes the initial elements, before the segment is published. */
  fill(created: Segment): void
}

/** The validated creation options of a shared value or array. */
export interface SharedSpec extends CreationSpec, SharedContents {
  type: ElementType
  /** `true`: make an RLock for the object; `false`: none; else the lock given. */
  lock: boolean | SharedLock
}

/** The primitive kind of one of the four classes: which lengths its header may hold, and whether it uses the lock. */
export interface SharedKind extends PrimitiveKind<SharedAttachment, SharedSpec> {
  /** False for RawValue and RawArray: the lock the header may name is not opened. */
  readonly usesLock: boolean
}

/** The kind and name of a lock given as `options.lock` (a Lock or RLock of any copy of @ipc/semaphore). */
function givenLock(lock: unknown): SharedLock {
  const handle = lockHandleOf(lock, 'The "lock" option must be true, false, a Lock or an RLock')
  const given = lock as SharedLock
  if (given.closed) throw new ClosedError(`Cannot use ${handle.kind} "${handle.name}" as the lock: it was closed`)
  return given
}

/**
 * The lock objects given at creation (`options.lock`) that values of this
 * thread use, by kind and name, so that values sharing one lock in another
 * process share one lock object there too (one owner per thread, as where they
 * were made). Kept on globalThis: one registry per thread, shared by the ESM
 * and CJS copies of this package.
 */
interface SharedLockEntry {
  lock: SharedLock
  /** Values of this thread using it. */
  users: number
  /** Whether the last user closes it (it was opened here, not given by the user). */
  close: boolean
}

const REGISTRY = Symbol.for('@ipc/shared/given-locks')

function givenLocks(): Map<string, SharedLockEntry> {
  const holder = globalThis as unknown as Record<symbol, Map<string, SharedLockEntry> | undefined>
  let found = holder[REGISTRY]
  if (found === undefined) {
    found = new Map()
    holder[REGISTRY] = found
  }
  return found
}

function lockKey(kind: string, name: string): string {
  return `${kind}/${name}`
}

/**
 * The lock object an attaching value uses for `record`. A lock made with
 * `lock: true` is opened per value object (and created again if it vanished:
 * it is the value's own, so nobody can be attached to an older one); a lock
 * given at creation is shared by the values of this thread.
 */
function attachLock(record: LockRecord): SharedLock {
  const open = (): SharedLock => {
    const options = record.owned ? { create: true } : undefined
    return record.kind === 'lock' ? Lock.open(record.name, options) : RLock.open(record.name, options)
  }
  if (record.owned) return open()
  const registry = givenLocks()
  const key = lockKey(record.kind, record.name)
  const entry = registry.get(key)
  if (entry !== undefined && !entry.lock.closed) {
    entry.users++
    return entry.lock
  }
  const lock = open()
  registry.set(key, { lock, users: 1, close: true })
  return lock
}

/** Registers a value of this thread that uses the lock object given at its creation. */
function useGivenLock(lock: SharedLock): void {
  const registry = givenLocks()
  const key = lockKey(lock.handle.kind, lock.name)
  const entry = registry.get(key)
  if (entry !== undefined && entry.lock === lock) entry.users++
  else registry.set(key, { lock, users: 1, close: false })
}

/** A value stops using `lock`: closes it if nothing else of this thread uses it and the value layer opened it. */
function detachLock(lock: SharedLock, record: LockRecord): void {
  if (record.owned) {
    lock.close()
    return
  }
  const registry = givenLocks()
  const key = lockKey(record.kind, record.name)
  const entry = registry.get(key)
  if (entry === undefined || entry.lock !== lock) return
  if (--entry.users > 0) return
  registry.delete(key)
  if (entry.close) lock.close()
}

/** Removes a lock made for an object that was not made after all (it may be persistent: unlink it). */
function discard(made: RLock | undefined): void {
  if (made === undefined) return
  made.unlink()
  made.close()
}

/** The options of a RawValue/RawArray: the same object without the lock. */
function withoutLock(options: RawOptions | undefined): SharedOptions | undefined {
  if (options === undefined) return { lock: false }
  checkOptionsObject(options, RAW_OPTIONS)
  return { name: options.name as string, persistent: options.persistent as boolean, lock: false }
}

/**
 * The lock objects `init` made or was given, for the `attach` of the same
 * Segment.create call (JS runs it synchronously, so an entry is set and
 * taken within one call).
 */
const creating = new WeakMap<Segment, SharedLock>()

/**
 * Whether a header's `length` (a float64 anyone can scribble) is a count of
 * `type` elements that fit the segment's data area after the header.
 */
export function elementsFit(length: number, type: ElementType, segment: Segment): boolean {
  return Number.isSafeInteger(length) && length >= 0 && OFFSET_ELEMENTS + length * type.bytes <= segment.dataBytes
}

/**
 * Declares one of the four kinds: `segment` (VALUE_KIND or ARRAY_KIND),
 * the class's export name and module, whether it uses the lock, and `fits`:
 * whether `length` elements of `type` are a valid header in `segment`.
 * Opening checks the header (CorruptError for a word out of range,
 * IncompatibleError for another kind's header).
 */
export function sharedKind(
  segment: SegmentKind,
  className: string,
  module: string,
  usesLock: boolean,
  fits: (length: number, type: ElementType, segment: Segment) => boolean,
): SharedKind {
  return {
    segment,
    className,
    module,
    usesLock,
    dataBytes: (spec) => OFFSET_ELEMENTS + spec.dataBytes,
    init(created, spec) {
      // lock: true makes an RLock for this object (as Python's Value) before
      // the segment that names it is published; Segment.create removes the
      // segment if init throws, and the lock is removed with it.
      const made = spec.lock === true ? new RLock({ persistent: spec.persistent }) : undefined
      const lock = made ?? (typeof spec.lock === 'boolean' ? undefined : spec.lock)
      try {
        const record =
          lock === undefined ? undefined : { kind: lock.handle.kind, name: lock.name, owned: made !== undefined }
        writeSharedHeader(created, { typeId: spec.type.id, length: spec.length, lock: record })
        spec.fill(created)
      } catch (error) {
        discard(made)
        throw error
      }
      if (lock !== undefined) creating.set(created, lock)
    },
    attach(opened) {
      const lock = creating.get(opened)
      creating.delete(opened)
      const header = readSharedHeader(
        opened,
        (what) =>
          new CorruptError(`Cannot open ${segment.label} "${opened.name}": its shared memory is corrupt: ${what}`),
      )
      const stored = header === undefined ? undefined : elementTypeById(header.typeId)
      if (header === undefined || stored === undefined || !fits(header.length, stored, opened))
        throw new IncompatibleError(
          `Cannot open ${segment.label} "${opened.name}": its header is not a ${segment.label}'s`,
        )
      return { segment: opened, type: stored, length: header.length, record: header.lock, lockAtCreation: lock }
    },
  }
}

/**
 * Validates the creation options of a value or array: `type`, then
 * `options`, then (through `contents`) the initial elements.
 * @throws {TypeError} for an unknown type or bad options.
 */
export function sharedSpec(
  type: unknown,
  options: SharedOptions | undefined,
  contents: (type: ElementType) => SharedContents,
  name?: string,
): SharedSpec {
  const elementTypeOf = elementType(type)
  checkOptionsObject(options, SHARED_OPTIONS)
  const option = options?.lock ?? true
  const lock = typeof option === 'boolean' ? option : givenLock(option)
  const persistent = checkPersistent(options?.persistent)
  const { length, dataBytes, fill } = contents(elementTypeOf)
  return { name: name ?? options?.name, persistent, type: elementTypeOf, lock, length, dataBytes, fill }
}

/** Throws IncompatibleError (closing the segment) when `expected` is given and the segment holds another type. */
function checkType(kind: SharedKind, attached: SharedAttachment, expected: ElementType | undefined): SharedAttachment {
  if (expected === undefined || expected === attached.type) return attached
  attached.segment.close()
  throw new IncompatibleError(
    `Cannot open ${kind.segment.label} "${attached.segment.name}" as ${expected.name}: it holds ${attached.type.name}`,
  )
}

/** The lock and persistence of a `create` option whose names were checked (the contents go apart). */
export function creationOptions(create: Omit<SharedOptions, 'name'>): SharedOptions {
  const options: SharedOptions = {}
  if (create.lock !== undefined) options.lock = create.lock
  if (create.persistent !== undefined) options.persistent = create.persistent
  return options
}

/** The validated `create` option of `open(name, type, { create })`: the creation options and the initial contents. */
export interface SharedCreation {
  options: SharedOptions
  contents: (type: ElementType) => SharedContents
}

/**
 * `open(name, type?, options)` of every class: attaches to `name` (checking
 * its type, when given); with `options.create` (validated by `creation`),
 * creates it of `type` when the name does not exist, atomically under races
 * (Segment.openOrCreate: exactly one process creates it, all attach to it).
 * @throws {NotFoundError} when no segment has that name (and no `create`).
 * @throws {IncompatibleError} when it is not of this kind or holds another type.
 * @throws {CorruptError} when its header breaks the layout's rules.
 * @throws {TypeError} with `create` but no `type`.
 */
export function openShared<P>(
  construct: () => P,
  kind: SharedKind,
  name: string,
  type: ValueType | undefined,
  options?: { create?: unknown } | undefined,
  creation?: (create: unknown) => SharedCreation | undefined,
): P {
  checkOptionsObject(options, SHARED_OPEN_OPTIONS)
  const expected = type === undefined ? undefined : elementType(type)
  const create = options?.create === undefined ? undefined : creation?.(options.create)
  if (create === undefined) return attachTo(construct, kind, checkType(kind, openAttachment(kind, name), expected))
  if (type === undefined)
    throw invalidArgType(
      `Cannot create ${kind.segment.label} "${name}": pass its type, as in open(name, 'int32', { create })`,
    )
  const spec = sharedSpec(type, create.options, create.contents, name)
  const { attached, created } = openOrCreateAttachment(kind, name, spec)
  return attachTo(construct, kind, checkType(kind, attached, expected), { created })
}

/** `from(handle)` of every class: opens the handle's name, checking its type. */
export function fromSharedHandle<P>(construct: () => P, kind: SharedKind, handle: unknown): P {
  const checked = checkHandle<Handle & { type: ValueType }>(handle, kind.segment.kind)
  return openShared(construct, kind, checked.name, checked.type)
}

/** Lock and RLock have the same withLock/withLockSync; this type calls them on the union. */
interface LockLike {
  withLock<R>(fn: (lock: SharedLock) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>>
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: AcquireSyncOptions): R
}

/**
 * The base of SharedValue and SharedArray: a name, an element type, an
 * optional Lock or RLock that every object attached to the same memory uses,
 * and the lifetime (Primitive's, plus the lock).
 */
export abstract class SharedObject<H extends Handle = Handle> extends Primitive<SharedAttachment, H> {
  readonly #lock: SharedLock | undefined

  /**
   * Creates an object of `kind` from `type`, `options` (without the lock
   * for RawValue/RawArray) and `contents`, all validated first, or attaches
   * to the one `openShared` opened; then takes the lock: the one made or
   * given at creation, or else (a lock-using kind) the one the header names.
   */
  protected constructor(
    kind: SharedKind,
    type: unknown,
    options: SharedOptions | RawOptions | undefined,
    contents: SharedCreation['contents'],
  ) {
    super(kind, () => sharedSpec(type, kind.usesLock ? options : withoutLock(options), contents))
    const { record, lockAtCreation } = this.attachment
    if (!(this.kind as SharedKind).usesLock) return
    if (lockAtCreation !== undefined) {
      this.#lock = lockAtCreation
      if (!record?.owned) useGivenLock(lockAtCreation)
    } else if (record !== undefined) {
      try {
        this.#lock = attachLock(record)
      } catch (error) {
        this.close()
        throw error
      }
    }
  }

  /** The element type's name ('int32', …; typecodes are resolved). */
  get type(): TypeName {
    return this.attachment.type.name
  }

  /** Whether this object has a lock (false for RawValue, RawArray and `lock: false`). */
  get hasLock(): boolean {
    return this.#lock !== undefined
  }

  /** The error every member of a closed object throws. */
  protected closedError(): ClosedError {
    return new ClosedError(`Cannot use ${this.kind.segment.label} "${this.name}": it was closed`)
  }

  /**
   * The lock of this object: an `RLock` made for it (`lock: true`, the
   * default, as in Python), or the `Lock` or `RLock` given as `options.lock`
   * (the same object), in every process the same lock. Single reads and
   * writes need no lock; hold it around read-modify-write sequences and
   * multi-element snapshots or updates.
   * @throws {ValueError} when this object has no lock (RawValue, RawArray, `lock: false`).
   * @throws {ClosedError} after `close()`.
   * @example
   * ```ts
   * const total = new SharedValue('float64', 0)
   * const lock = total.getLock()
   * lock.acquireSync()
   * try {
   *   total.value += 0.5
   * } finally {
   *   lock.release()
   * }
   * ```
   */
  getLock(): SharedLock {
    if (this.#lock === undefined)
      throw new ValueError(
        `Cannot get the lock of ${this.kind.segment.label} "${this.name}": it was opened without a lock (lock: false)`,
      )
    if (this.closed) throw this.closedError()
    return this.#lock
  }

  /**
   * Runs `fn` holding the lock and releases it when `fn` returns, throws or
   * (async `fn`) settles. Waits for the lock without blocking the event loop.
   * `fn` gets the lock: check `lock.previousOwnerDied` to learn that a holder
   * died mid-update.
   * @throws {ValueError} when this object has no lock.
   * @throws {TimeoutError} when `timeout` ms pass before the lock is taken (`fn` does not run).
   * @example
   * ```ts
   * const xs = new SharedArray('int32', [1, 2])
   * await xs.withLock(() => {
   *   const [a, b] = xs.toArray()
   *   xs.set(0, b as number)
   *   xs.set(1, a as number)
   * })
   * ```
   */
  withLock<R>(fn: (lock: SharedLock) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    try {
      return (this.getLock() as LockLike).withLock(fn, options)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Blocks the thread until it holds the lock, runs `fn`, releases. For
   * worker threads and scripts; an `fn` returning a promise keeps the lock
   * until it settles.
   * @throws {ValueError} when this object has no lock, or holds its `Lock` (not RLock) already.
   * @throws {TimeoutError} when `timeout` ms pass before the lock is taken (`fn` does not run).
   * @example
   * ```ts
   * const counter = new SharedValue('int32', 0)
   * counter.withLockSync(() => {
   *   counter.value += 1
   * })
   * ```
   */
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: AcquireSyncOptions): R {
    return (this.getLock() as LockLike).withLockSync(fn, options)
  }

  /**
   * Detaches this object (idempotent); later calls throw ClosedError. It
   * closes the lock object it opened or made (a lock it still holds is given
   * up: the next holder sees `previousOwnerDied`); a lock given as
   * `options.lock` stays open for its owner. The shared memory is removed
   * when the last attached object closes or its process dies, unless it is
   * persistent.
   * @example
   * ```ts
   * const flag = new SharedValue('bool', false)
   * flag.close()
   * ```
   */
  override close(): void {
    super.close()
  }

  /** Run once by `close()`: lets go of the lock (see `close()`). */
  protected override detach(): void {
    const record = this.attachment.record
    if (this.#lock !== undefined && record !== undefined) detachLock(this.#lock, record)
  }

  /**
   * Removes the name now: later `open(name)` calls throw NotFoundError, and
   * attached objects keep working until they close. A lock made for the
   * object (`lock: true`) is unlinked with it; a given lock is not.
   */
  override unlink(): void {
    super.unlink()
    const record = this.attachment.record
    if (record?.owned !== true) return
    if (this.#lock !== undefined) {
      this.#lock.unlink()
      return
    }
    // A RawValue/RawArray does not use the lock, but must not strand a persistent one.
    let lock: SharedLock
    try {
      lock = record.kind === 'lock' ? Lock.open(record.name) : RLock.open(record.name)
    } catch (error) {
      if (error instanceof NotFoundError) return
      throw error
    }
    lock.unlink()
    lock.close()
  }

  protected override closedFields(): Record<string, unknown> {
    return { type: this.type }
  }

  /** Primitive's, on one line however long the name and values are (as Python's repr). */
  override [inspect.custom](depth: number, options: object): string {
    return super[inspect.custom](depth, { ...options, breakLength: Number.POSITIVE_INFINITY })
  }
}
