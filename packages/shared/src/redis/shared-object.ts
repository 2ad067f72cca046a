/**
 * RedisSharedObject: what SharedValue and SharedArray on Redis share on top
 * of RedisObject (attach, heartbeat, close, unlink: @ipc/core/redis): the
 * attach specs, the element type and length learnt at attach, one request
 * path that turns every reply into a value or the error it stands for, and
 * the value's RLock (opened at attach, closed with the object, removed with
 * it). The server side is library.ts.
 *
 * Client state (this object only): the type and length the server reported
 * at attach; the lock object (an RLock of @ipc/semaphore/redis, opened by
 * the name the server keeps in the meta hash). Nothing else is cached: every
 * read asks the server.
 */
import { ClosedError, ConnectionError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import { checkHandle, checkOptionsObject, checkPersistent, invalidArgType, outOfRange } from '@ipc/core/internal'
import {
  checkLease,
  checkRedisName,
  checkUrl,
  REDIS_OPEN_OPTIONS,
  type RedisAttachSpec,
  type RedisHandle,
  RedisObject,
  randomRedisName,
  replyArray,
  replyFlag,
  unexpectedReply,
} from '@ipc/core/redis'
import { RLock } from '@ipc/semaphore/redis'
import { type ElementType, elementType, type TypeName } from '../element-types.js'
import { ARRAY_KEY_PARTS, MAX_REDIS_ARRAY_LENGTH, SHARED_LIBRARY, VALUE_KEY_PARTS } from './library.js'
import {
  REDIS_SHARED_OPTIONS,
  type RedisLockOptions,
  type RedisSharedArrayOpenOptions,
  type RedisSharedOptions,
  type RedisSharedValueOpenOptions,
} from './options.js'

/** The two kinds (the `kind` field of the meta hash and of the handle). */
export type RedisSharedKind = 'shared-value' | 'shared-array'

/** The `.handle` of a Redis SharedValue or SharedArray: JSON; `X.from(handle)` attaches anywhere. */
export interface RedisSharedHandle extends RedisHandle {
  kind: RedisSharedKind
  /** The element type name. */
  type: TypeName
  /** Whether the object that made the handle uses the lock. */
  lock: boolean
}

/** How an object attaches. */
export interface AttachSpec extends RedisAttachSpec {
  /** The type to create, or to check when opening (undefined: any). */
  type: ElementType | undefined
  /** Creating: the length, and the initial elements as text (undefined: zeros). */
  length: number
  values: string[] | undefined
  /** Creating: make a lock. Opening: use the lock, if the value has one. */
  lock: boolean
  persistent: boolean
  awaitCreator: boolean
}

/** The type names the server may report. */
const TYPE_NAMES: ReadonlySet<string> = new Set<TypeName>([
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'bool',
])

const LABELS: Record<RedisSharedKind, string> = { 'shared-value': 'shared value', 'shared-array': 'shared array' }

function checkLockOption(lock: unknown): boolean {
  if (lock === undefined) return true
  if (typeof lock !== 'boolean')
    throw invalidArgType(
      `The "lock" option must be a boolean (a Lock object cannot be given on Redis), received ${typeof lock}`,
    )
  return lock
}

/** The spec of `new X(type, …, options)` and of `X.open(name, type, { create })`. */
export function createSpec(
  mode: 'new' | 'create',
  type: unknown,
  options: RedisSharedOptions | undefined,
  contents: (type: ElementType) => { length: number; values: string[] | undefined },
  name?: string,
): AttachSpec {
  const checkedType = elementType(type)
  checkOptionsObject(options, REDIS_SHARED_OPTIONS)
  const lock = checkLockOption(options?.lock)
  const persistent = checkPersistent(options?.persistent)
  const url = checkUrl(options?.url)
  const lease = checkLease(options?.lease)
  const givenName = name ?? (options?.name === undefined ? randomRedisName() : options.name)
  const { length, values } = contents(checkedType)
  return {
    mode,
    name: checkRedisName(givenName),
    url,
    lease,
    type: checkedType,
    length,
    values,
    lock,
    persistent,
    awaitCreator: false,
  }
}

/** What SharedValue and SharedArray each declare once: the kind, its class, and how a new one's contents are given. */
export interface SharedKind {
  readonly kind: RedisSharedKind
  readonly className: string
  /** File URL of the module that exports the class. */
  readonly module: string
  /**
   * Reads `open()`'s `create` option: undefined to open only, else the
   * creation options and the argument that gives the contents (`initial`,
   * `lengthOrValues`). Throws TypeError on a bad option.
   */
  creation(create: unknown): { lock?: unknown; persistent?: unknown; contents: unknown } | undefined
  /** Checks a new object's contents against its type (before anything is sent) and encodes them. */
  contents(given: unknown): (type: ElementType) => { length: number; values: string[] | undefined }
}

/** The spec of `X.open(name, type?, options)`: with `create`, create-or-open (atomic on the server). */
export function openOrCreateSpec(
  kind: SharedKind,
  name: string,
  type: unknown,
  options: RedisSharedValueOpenOptions | RedisSharedArrayOpenOptions | undefined,
): AttachSpec {
  checkOptionsObject(options, REDIS_OPEN_OPTIONS)
  const creation = kind.creation(options?.create)
  if (creation === undefined) return openSpec(name, type, options)
  if (type === undefined)
    throw invalidArgType(
      `Cannot create ${LABELS[kind.kind]} "${name}": pass its type, as in open(name, 'int32', { create })`,
    )
  return createSpec(
    'create',
    type,
    {
      url: options?.url,
      lease: options?.lease,
      lock: creation.lock,
      persistent: creation.persistent,
    } as RedisSharedOptions,
    kind.contents(creation.contents),
    name,
  )
}

/** The spec of `X.open(name, type?, { url, lease })` (no create). */
export function openSpec(
  name: string,
  type: unknown,
  options: { url?: unknown; lease?: unknown } | undefined,
): AttachSpec {
  return {
    mode: 'open',
    name: checkRedisName(name),
    url: checkUrl(options?.url),
    lease: checkLease(options?.lease),
    type: type === undefined ? undefined : elementType(type),
    length: 0,
    values: undefined,
    lock: true,
    persistent: false,
    awaitCreator: false,
  }
}

/** The spec of `X.from(handle)`. */
export function handleSpec(handle: unknown, kind: RedisSharedKind): AttachSpec {
  const checked = checkHandle<RedisSharedHandle>(handle, kind)
  return {
    ...openSpec(checked.name, checked.type, { url: checked.url, lease: checked.lease }),
    lock: checked.lock !== false,
    awaitCreator: checked.creating === true,
  }
}

/** True when `name` passes `checkRedisName` (1 to 200 bytes of UTF-8 without `{`, `}` or NUL). */
function isRedisName(name: string): boolean {
  try {
    checkRedisName(name)
    return true
  } catch {
    return false
  }
}

/**
 * The part SharedValue and SharedArray on Redis share. Not exported; use the classes.
 */
export abstract class RedisSharedObject extends RedisObject {
  readonly #usesLock: boolean
  #type: ElementType | undefined
  #length: number
  /** The name of the value's lock on the server ('' for none), from the create reply. */
  #lockName = ''
  #lock: RLock | undefined

  protected constructor({ kind, className, module }: SharedKind, spec: AttachSpec) {
    super(
      {
        kind,
        label: LABELS[kind],
        className,
        module,
        library: SHARED_LIBRARY,
        keyParts: kind === 'shared-value' ? VALUE_KEY_PARTS : ARRAY_KEY_PARTS,
        idPrefix: 'v',
        functions: { create: 'create', close: 'close', unlink: 'unlink' },
        replyWithinLease: true,
        waits: false,
      },
      spec,
      [
        spec.mode,
        spec.type?.name ?? '',
        spec.length,
        spec.persistent ? 1 : 0,
        // The name of a new lock; the server keeps the existing one when the value exists.
        spec.lock ? randomRedisName() : '',
        ...(spec.values ?? []),
      ],
    )
    this.#type = spec.type
    this.#length = spec.length
    this.#usesLock = spec.lock
  }

  /**
   * The element type's name ('int32', …; typecodes are resolved). An object
   * opened without a type learns it at attach, before `open()`/`from()`
   * resolve, so user code always sees the real one.
   */
  get type(): TypeName {
    return this.#type?.name ?? ('' as TypeName)
  }

  /** Whether this object uses a lock (false with `lock: false`, or opened from a handle without one). */
  get hasLock(): boolean {
    return this.attached ? this.#lock !== undefined : this.#usesLock
  }

  /** A small plain JSON object; `X.from(handle)` attaches to the same value in any process, on any machine. */
  override get handle(): RedisSharedHandle {
    return super.handle as RedisSharedHandle
  }

  /** `type` and `lock` join `kind` and `name`. */
  protected override handleFields(): Record<string, unknown> {
    return { type: this.type, lock: this.hasLock }
  }

  /** The element type (after attach). */
  protected get elementType(): ElementType {
    return this.#type as ElementType
  }

  /** The number of elements the server reported (after attach; 1 for a value). */
  protected get elementCount(): number {
    return this.#length
  }

  /** `other-type`: the name holds this kind, of another element type than the one asked for. */
  protected override attachError(reply: unknown[]): Error | undefined {
    const failure = super.attachError(reply)
    if (failure !== undefined || reply[0] !== 'other-type') return failure
    return new IncompatibleError(`Cannot open ${this.what} as ${this.#type?.name}: it holds ${String(reply[1])}`)
  }

  /** Create reply: `[status, type, length, lock name, persistent]`. */
  protected override readAttach(reply: unknown[]): boolean {
    const [, typeName, length, lock] = reply
    // The function checked the meta hash; the reply is checked again (a reply is never trusted).
    if (
      typeof typeName !== 'string' ||
      !TYPE_NAMES.has(typeName) ||
      typeof length !== 'number' ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      length > MAX_REDIS_ARRAY_LENGTH ||
      (this.kind === 'shared-value' && length !== 1) ||
      typeof lock !== 'string' ||
      // The lock's name comes from the meta hash, which anyone who can write the server may have
      // set: '' (no lock) or a name by the rules of every name (checkRedisName).
      (lock !== '' && !isRedisName(lock))
    )
      unexpectedReply('create', reply)
    this.#type = elementType(typeName)
    this.#length = length
    this.#lockName = lock
    return replyFlag(reply, 4, 'create')
  }

  /** Opens the value's lock (this object made it, or another did). */
  protected override async onAttached(): Promise<void> {
    if (!this.#usesLock || this.#lockName === '') return
    try {
      // Create-or-open: the lock of a value is its own, made again if it lapsed (nobody held it then).
      this.#lock = await RLock.open(this.#lockName, {
        url: this.serverUrl,
        lease: this.lease,
        create: { persistent: this.persistent },
      })
    } catch (error) {
      // Detach again (close() would wait for this attach).
      await this.call('close', []).catch(() => {})
      throw error
    }
  }

  /**
   * Runs library function `fn` for a public call (`what`: the verb of its
   * messages) and returns the reply's fields after 'ok'.
   * @throws {ClosedError} after `close()`.
   * @throws {NotFoundError | IncompatibleError | CorruptError} the value was removed, replaced or garbled.
   * @throws {ConnectionError} the server cannot be reached or did not answer within a lease.
   */
  protected async request(fn: string, what: string, args: (string | number)[]): Promise<unknown[]> {
    // The wait for the attach (the value's and its lock's) is bounded by a lease too.
    if ((await this.enter(what, undefined, this.lease)) === false)
      throw new ConnectionError(
        `Cannot ${what} ${this.what}: Redis at ${this.url} did not finish attaching it within ${this.lease} ms (the lease); it may still attach`,
      )
    const reply = replyArray(await this.call(fn, [this.type, ...args]), what)
    if (reply[0] === 'ok') return reply.slice(1)
    // Not a fault of the object: another write may repair the element.
    if (reply[0] === 'corrupt') throw this.replyError(reply, what)
    // Replaced by a value of another type: as 'incompatible'.
    this.checkGone(reply[0] === 'other-type' ? ['incompatible', reply[1]] : reply, what)
    return unexpectedReply(what, reply)
  }

  /** Decodes an element from a reply, naming the object in the error. */
  protected where(index?: number): string {
    return index === undefined ? `The value of ${this.what}` : `Element ${index} of ${this.what}`
  }

  /** Renews this object's attachment (every lease/3). */
  protected override async renew(): Promise<void> {
    try {
      const reply = replyArray(await this.call('renew', [], { background: true }), 'renew')
      if (reply[0] === 'missing' || reply[0] === 'incompatible') {
        // Gone or replaced (the server lost it while this process was cut off): unusable from now on.
        this.setFault(
          new NotFoundError(
            `Cannot use ${this.what}: it no longer exists on the server (unlinked, or every object was gone for longer than 3 leases)`,
          ),
        )
      }
    } catch {
      // Unreachable, or a passing server error: the next renewal tries again.
    }
  }

  /**
   * The lock of this value: an `RLock` of `@ipc/semaphore/redis` made for
   * it, the same lock in every process on every machine. Single reads and
   * writes and `add`/`sub`/… need no lock; hold it around read-modify-write
   * sequences and multi-element snapshots or updates.
   * @throws {ValueError} This object has no lock (`lock: false`), or it is not attached yet (`await x.ready()` first).
   * @throws {ClosedError} after `close()`.
   */
  getLock(): RLock {
    if (this.closed) throw new ClosedError(`Cannot use ${this.what}: it was closed`)
    if (this.#lock === undefined)
      throw new ValueError(
        this.attached || !this.#usesLock
          ? `Cannot get the lock of ${this.what}: it was made or opened without a lock (lock: false)`
          : `Cannot get the lock of ${this.what}: it is not attached yet (await its ready() first)`,
      )
    return this.#lock
  }

  /**
   * Runs `fn` holding the value's lock (a distributed `RLock`: one holder on
   * every machine) and releases it when `fn` settles, also when it throws.
   * Nested `withLock` calls of the same object from inside `fn` enter again.
   * @throws {ValueError} This object has no lock.
   * @throws {TimeoutError} `timeout` ms passed before the lock was taken (`fn` does not run).
   * @throws {ConnectionError} The server cannot be reached.
   */
  async withLock<R>(fn: (lock: RLock) => R | PromiseLike<R>, options?: RedisLockOptions): Promise<Awaited<R>> {
    this.assertOpen('lock')
    await this.ready()
    const lock = this.getLock()
    return lock.withLock(() => fn(lock), options)
  }

  /**
   * Detaches this object (idempotent) and closes its lock object. The last
   * object to close removes a non-persistent value (and its lock) from the
   * server.
   * @throws {ConnectionError} The server cannot be reached (the value then expires 3 leases after its last process is gone).
   */
  override async close(): Promise<void> {
    if (this.closed) return
    try {
      await super.close()
    } finally {
      // Read after the attach settled: an attach still running when close() came opens the lock.
      await this.#lock?.close().catch(() => {})
    }
  }

  /** Removes the lock made for the value too (the unlink reply names it). */
  protected override async onUnlinked(reply: unknown): Promise<void> {
    const lockName = Array.isArray(reply) && reply[0] === 'ok' ? reply[1] : undefined
    if (typeof lockName !== 'string' || lockName === '') return
    if (this.#lock !== undefined && this.#lock.name === lockName) await this.#lock.unlink()
    else {
      const lock = await RLock.open(lockName, { url: this.serverUrl }).catch(() => undefined)
      await lock?.unlink()
      await lock?.close()
    }
  }

  /** `type`, and an array's `length` (values need a round trip). */
  protected override inspectFields(): Record<string, unknown> {
    return this.kind === 'shared-array' ? { type: this.type, length: this.#length } : { type: this.type }
  }
}

/** Checks an element index against `length`. */
export function checkIndex(index: unknown, length: number): number {
  if (typeof index !== 'number') throw invalidArgType(`The index must be a number, received ${typeof index}`)
  if (!(index >= 0 && index < length && Math.trunc(index) === index))
    throw outOfRange(`The index must be an integer in [0, ${length}), received ${index}`)
  return index
}
