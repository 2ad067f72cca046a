/**
 * RedisSharedObject: what SharedValue and SharedArray on Redis share:
 * attaching by name (create / open / create-or-open, atomic on the server),
 * the object's heartbeat, one call path that turns every reply into a value
 * or the error it stands for, the value's RLock, close, unlink, `handle` and
 * revival by `Process`. The server side is library.ts.
 *
 * Client state (this object only): the type and length the server reported
 * at attach; the lock object (an RLock of @ipc/semaphore/redis, opened by
 * the name the server keeps in the meta hash). Nothing else is cached: every
 * read asks the server.
 */
import { inspect } from 'node:util'
import { ClosedError, ConnectionError, CorruptError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import {
  checkHandle,
  checkOptionsObject,
  checkPersistent,
  invalidArgType,
  outOfRange,
  TRANSFER,
} from '@ipc/core/internal'
import {
  attachFailure,
  attachReply,
  checkLease,
  checkRedisName,
  checkUrl,
  NO_REPLY,
  RedisConnection,
  randomRedisName,
  redactUrl,
  redisKey,
} from '@ipc/core/redis'
import { RLock } from '@ipc/semaphore/redis'
import { type ElementType, elementType, type TypeName } from '../element-types.js'
import { ARRAY_KEY_PARTS, MAX_REDIS_ARRAY_LENGTH, SHARED_LIBRARY, VALUE_KEY_PARTS } from './library.js'
import type { RedisLockOptions } from './options.js'

/** The two kinds (the `kind` field of the meta hash and of the handle). */
export type RedisSharedKind = 'shared-value' | 'shared-array'

/** The `.handle` of a Redis SharedValue or SharedArray: JSON; `X.from(handle)` attaches anywhere. */
export interface RedisSharedHandle {
  kind: RedisSharedKind
  name: string
  /** The element type name. */
  type: TypeName
  /** Whether the object that made the handle uses the lock. */
  lock: boolean
  /** The server's URL (as given, credentials included: treat the handle as a secret when it has any). */
  url: string
  /** The object's lease, ms. */
  lease: number
  /** Present (true) when taken before the creator's create reached the server: `from()` then waits up to 5 s for the name. */
  creating?: boolean
  [field: string]: unknown
}

/** How an object attaches. */
export interface AttachSpec {
  mode: 'new' | 'open' | 'create'
  name: string
  url: string
  lease: number
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
  options: { name?: unknown; url?: unknown; lease?: unknown; lock?: unknown; persistent?: unknown } | undefined,
  contents: (type: ElementType) => { length: number; values: string[] | undefined },
  name?: string,
): AttachSpec {
  const checkedType = elementType(type)
  checkOptionsObject(options)
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

/** The spec of `X.open(name, type?, { url, lease })` (no create). */
export function openSpec(
  name: string,
  type: unknown,
  options: { url?: unknown; lease?: unknown } | undefined,
): AttachSpec {
  checkOptionsObject(options)
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

let objectCount = 0

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) unexpected(what, value)
  return value
}

/** A reply the library never sends. */
function unexpected(what: string, reply: unknown): never {
  throw new CorruptError(`Redis sent an unexpected reply to ${what}: ${inspect(reply, { depth: 2 }).slice(0, 200)}`)
}

/**
 * The part SharedValue and SharedArray on Redis share. Not exported; use the classes.
 */
export abstract class RedisSharedObject implements AsyncDisposable {
  readonly #kind: RedisSharedKind
  readonly #className: string
  readonly #module: string
  readonly #name: string
  readonly #url: string
  readonly #lease: number
  readonly #keys: string[]
  readonly #objectId: string
  readonly #connection: RedisConnection
  readonly #ready: Promise<void>
  readonly #creating: boolean
  readonly #usesLock: boolean
  #type: ElementType | undefined
  #length: number
  #lock: RLock | undefined
  #created = false
  #persistent = false
  #attached = false
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false
  #fault: Error | undefined
  #connectionHeld = true

  protected constructor(kind: RedisSharedKind, className: string, module: string, spec: AttachSpec) {
    this.#kind = kind
    this.#className = className
    this.#module = module
    this.#name = spec.name
    this.#url = spec.url
    this.#lease = spec.lease
    this.#type = spec.type
    this.#length = spec.length
    this.#usesLock = spec.lock
    this.#keys = (kind === 'shared-value' ? VALUE_KEY_PARTS : ARRAY_KEY_PARTS).map((part) => redisKey(spec.name, part))
    this.#creating = spec.mode !== 'open'
    this.#connection = RedisConnection.acquire(spec.url)
    this.#objectId = `${this.#connection.clientId}/v${++objectCount}`
    this.#ready = this.#attach(spec)
    // A constructor cannot await: the first call rejects with the attach error.
    this.#ready.catch(() => {})
  }

  /** The name any process opens it by (`X.open(name)`). */
  get name(): string {
    return this.#name
  }

  /** The server's URL, without its password. */
  get url(): string {
    return redactUrl(this.#url)
  }

  /** How long this object's attachment outlives its last renewal, ms. */
  get lease(): number {
    return this.#lease
  }

  /**
   * The element type's name ('int32', …; typecodes are resolved). An object
   * opened without a type learns it at attach, before `open()`/`from()`
   * resolve, so user code always sees the real one.
   */
  get type(): TypeName {
    return this.#type?.name ?? ('' as TypeName)
  }

  /** True when this object created it (known once `ready()` resolved). */
  get created(): boolean {
    return this.#created
  }

  /** True when it stays on the server until `unlink()` (known once `ready()` resolved). */
  get persistent(): boolean {
    return this.#persistent
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed
  }

  /** Whether this object uses a lock (false with `lock: false`, or opened from a handle without one). */
  get hasLock(): boolean {
    return this.#attached ? this.#lock !== undefined : this.#usesLock
  }

  /** A small plain JSON object; `X.from(handle)` attaches to the same value in any process, on any machine. */
  get handle(): RedisSharedHandle {
    const handle: RedisSharedHandle = {
      kind: this.#kind,
      name: this.#name,
      type: this.type,
      lock: this.hasLock,
      url: this.#url,
      lease: this.#lease,
      ...this.handleFields(),
    }
    if (this.#creating && !this.#attached) handle.creating = true
    return handle
  }

  /** Fields a subclass adds to the handle. */
  protected handleFields(): Record<string, unknown> {
    return {}
  }

  /** The element type (after attach). */
  protected get elementType(): ElementType {
    return this.#type as ElementType
  }

  /** The number of elements the server reported (after attach; 1 for a value). */
  protected get elementCount(): number {
    return this.#length
  }

  /**
   * Resolves once the object is attached on the server (created, or
   * opened) and has its lock. Every call waits for it; call it to see an
   * attach error early.
   * @throws {ExistsError} `new X({ name })` found the name taken.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async ready(): Promise<this> {
    await this.#ready
    return this
  }

  async #attach(spec: AttachSpec): Promise<void> {
    const lockName = spec.lock ? randomRedisName() : ''
    const args = [
      spec.mode,
      spec.type?.name ?? '',
      spec.length,
      spec.persistent ? 1 : 0,
      lockName,
      ...(spec.values ?? []),
    ]
    let reply: unknown[]
    try {
      // A handle taken before its creator's create landed: the name may appear within CREATOR_WAIT_MS.
      reply = await attachReply(
        async () => asArray(await this.#call('ipc_shared_create', args), 'create'),
        (answer) => answer[0] === 'missing',
        spec.awaitCreator,
      )
    } catch (error) {
      this.#fail(error)
    }
    const status = reply[0]
    const failure = attachFailure(status, reply[1], this.#label, this.#name)
    if (failure !== undefined) this.#fail(failure)
    if (status === 'other-type')
      this.#fail(
        new IncompatibleError(
          `Cannot open ${this.#label} "${this.#name}" as ${spec.type?.name}: it holds ${String(reply[1])}`,
        ),
      )
    const [, typeName, length, lock, persistent] = reply
    // The function checked the meta hash; the reply is checked again (a reply is never trusted).
    if (
      (status !== 'created' && status !== 'opened') ||
      typeof typeName !== 'string' ||
      !TYPE_NAMES.has(typeName) ||
      typeof length !== 'number' ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      length > MAX_REDIS_ARRAY_LENGTH ||
      (this.#kind === 'shared-value' && length !== 1) ||
      typeof lock !== 'string'
    )
      this.#fail(
        new CorruptError(`Redis sent an unexpected reply to create: ${inspect(reply, { depth: 2 }).slice(0, 200)}`),
      )
    this.#type = elementType(typeName)
    this.#length = length
    this.#created = status === 'created'
    this.#persistent = persistent === 1
    this.#heartbeat = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.#lease / 3)))
    this.#heartbeat.unref()
    if (spec.lock && lock !== '') {
      try {
        // Create-or-open: the lock of a value is its own, made again if it lapsed (nobody held it then).
        this.#lock = await RLock.open(lock, {
          url: this.#url,
          lease: this.#lease,
          create: { persistent: this.#persistent },
        })
      } catch (error) {
        // Detach again (close() would wait for this attach).
        await this.#call('ipc_shared_close', []).catch(() => {})
        this.#fail(error)
      }
    }
    this.#attached = true
  }

  /** An attach failed: every later call rejects with `error`; close() still works. */
  #fail(error: unknown): never {
    this.#fault = error as Error
    this.#releaseConnection()
    throw error
  }

  get #label(): string {
    return LABELS[this.#kind]
  }

  /** Calls a library function with this object's keys; a server that does not answer within a lease is a ConnectionError. */
  async #call(fn: string, args: (string | number)[]): Promise<unknown> {
    const reply = await this.#connection.call(
      SHARED_LIBRARY,
      fn,
      this.#keys,
      [this.#kind, this.#objectId, this.#lease * 3, ...args],
      { deadline: performance.now() + this.#lease },
    )
    if (reply === NO_REPLY)
      throw new ConnectionError(
        `Redis at ${this.url} did not answer within ${this.#lease} ms (the lease); the call may still take effect`,
      )
    return reply
  }

  /**
   * Runs library function `fn` for a public call (`what`: the verb of its
   * messages) and returns the reply's fields after 'ok'.
   * @throws {ClosedError} after `close()`.
   * @throws {NotFoundError | IncompatibleError | CorruptError} the value was removed, replaced or garbled.
   * @throws {ConnectionError} the server cannot be reached or did not answer within a lease.
   */
  protected async request(fn: string, what: string, args: (string | number)[]): Promise<unknown[]> {
    this.#assertOpen(what)
    await this.#ready
    this.#assertOpen(what)
    const reply = asArray(await this.#call(fn, [this.type, ...args]), what)
    switch (reply[0]) {
      case 'ok':
        return reply.slice(1)
      case 'missing':
        this.#fault ??= new NotFoundError(
          `Cannot ${what} ${this.#label} "${this.#name}": it no longer exists on the server (unlinked, or every object was gone for longer than 3 leases)`,
        )
        throw this.#fault
      case 'incompatible':
      case 'other-type':
        this.#fault ??= new IncompatibleError(
          `Cannot ${what} ${this.#label} "${this.#name}": its name now holds a ${String(reply[1])}`,
        )
        throw this.#fault
      case 'corrupt':
        // Not a fault of the object: another write may repair the element.
        throw new CorruptError(
          `Cannot ${what} ${this.#label} "${this.#name}": its state on the server breaks its layout's rules (${String(reply[1])})`,
        )
      default:
        return unexpected(what, reply)
    }
  }

  /** Decodes an element from a reply, naming the object in the error. */
  protected where(index?: number): string {
    return index === undefined
      ? `The value of ${this.#label} "${this.#name}"`
      : `Element ${index} of ${this.#label} "${this.#name}"`
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot ${what} ${this.#label} "${this.#name}": it was closed`)
    if (this.#fault !== undefined) throw this.#fault
  }

  /** Renews this object's attachment (every lease/3). */
  async #renew(): Promise<void> {
    if (this.#closed || this.#fault !== undefined) return
    try {
      const reply = asArray(await this.#call('ipc_shared_renew', []), 'renew')
      if (reply[0] === 'missing' || reply[0] === 'incompatible') {
        // Gone or replaced (the server lost it while this process was cut off): unusable from now on.
        this.#fault ??= new NotFoundError(
          `Cannot use ${this.#label} "${this.#name}": it no longer exists on the server (unlinked, or every object was gone for longer than 3 leases)`,
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
    if (this.#closed) throw new ClosedError(`Cannot use ${this.#label} "${this.#name}": it was closed`)
    if (this.#lock === undefined)
      throw new ValueError(
        this.#attached || !this.#usesLock
          ? `Cannot get the lock of ${this.#label} "${this.#name}": it was made or opened without a lock (lock: false)`
          : `Cannot get the lock of ${this.#label} "${this.#name}": it is not attached yet (await its ready() first)`,
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
    this.#assertOpen('lock')
    await this.#ready
    const lock = this.getLock()
    return lock.withLock(() => fn(lock), options)
  }

  /**
   * Detaches this object (idempotent) and closes its lock object. The last
   * object to close removes a non-persistent value (and its lock) from the
   * server.
   * @throws {ConnectionError} The server cannot be reached (the value then expires 3 leases after its last process is gone).
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    try {
      const attached = await this.#ready.then(
        () => true,
        () => false,
      )
      if (attached && this.#connectionHeld) {
        await this.#call('ipc_shared_close', []).catch((error: unknown) => {
          if (error instanceof ConnectionError) throw error
          // Already gone from the server (unlinked): nothing to detach.
        })
      }
    } finally {
      this.#releaseConnection()
      // Read after the attach settled: an attach still running when close() came opens the lock.
      await this.#lock?.close().catch(() => {})
    }
  }

  /** Gives the shared connection back (idempotent). */
  #releaseConnection(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    if (this.#connectionHeld) {
      this.#connectionHeld = false
      this.#connection.release()
    }
  }

  /** Alias of `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * Removes the value (and the lock made for it) from the server now: later
   * `X.open(name)` fail (or create anew), and objects still attached fail
   * with `NotFoundError`.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async unlink(): Promise<void> {
    await this.#ready.catch(() => {})
    // Its own reference: unlink() also works after close().
    const connection = RedisConnection.acquire(this.#url)
    try {
      const reply = await connection.call(SHARED_LIBRARY, 'ipc_shared_unlink', this.#keys, [this.#kind], {
        deadline: performance.now() + this.#lease,
      })
      if (reply === NO_REPLY)
        throw new ConnectionError(
          `Redis at ${this.url} did not answer unlink within ${this.#lease} ms (the lease); it may still take effect`,
        )
      const lockName = Array.isArray(reply) && reply[0] === 'ok' ? reply[1] : undefined
      if (typeof lockName === 'string' && lockName !== '') {
        if (this.#lock !== undefined && this.#lock.name === lockName) await this.#lock.unlink()
        else {
          const lock = await RLock.open(lockName, { url: this.#url }).catch(() => undefined)
          await lock?.unlink()
          await lock?.close()
        }
      }
    } finally {
      connection.release()
    }
  }

  /** How `Process` revives this object in a child (the class is found by module and export name). */
  [TRANSFER](): { module: string; export: string; handle: RedisSharedHandle } {
    return { module: this.#module, export: this.#className, handle: this.handle }
  }

  /** `SharedValue (Redis) { name: 'hits', url: 'redis://…', type: 'int32' }`: local state (values need a round trip). */
  [inspect.custom](_depth: number, options: object): string {
    const fields: Record<string, unknown> = { name: this.#name, url: this.url, type: this.type }
    if (this.#kind === 'shared-array') fields.length = this.#length
    if (this.#closed) fields.closed = true
    return `${this.#className} (Redis) ${inspect(fields, options)}`
  }
}

/** Checks an element index against `length`. */
export function checkIndex(index: unknown, length: number): number {
  if (typeof index !== 'number') throw invalidArgType(`The index must be a number, received ${typeof index}`)
  if (!(index >= 0 && index < length && Math.trunc(index) === index))
    throw outOfRange(`The index must be an integer in [0, ${length}), received ${index}`)
  return index
}
