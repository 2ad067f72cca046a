/**
 * Queue on Redis: @ipc/queue's Queue with every call async, shared by
 * processes on many machines. The server side (keys, functions, why each
 * item is delivered once) is library.ts; the item encoding is item.ts.
 *
 * How a blocked call waits: it is registered on the server (a FIFO list of
 * waiter ids) and woken by a message on this process's pub/sub channel, which
 * carries what it waited for (the items themselves, for a get). Chosen over a
 * blocking command (BLMOVE) on a dedicated connection because a blocked
 * command holds its socket: every waiting get would need a socket of its
 * own, timeouts and aborts could not cancel it without closing that socket,
 * and `maxsize`, shutdown and join need wake-ups a list command cannot give.
 * Here all waiters of a process share one subscriber socket, and a cancel is
 * one more function call.
 *
 * Client state (this object only): `#waiters`, its calls that wait for a
 * wake-up, by waiter id; `#acks`, the ids of calls whose items (or put, or
 * join) it kept, sent with its next call so the server forgets them;
 * `#orphans`, calls it gave up while the connection was down, cancelled by
 * the next renew (their items go back to the head of the queue). One `done`
 * flag per call decides between keeping (ack) and giving up (cancel).
 */
import { inspect } from 'node:util'
import {
  ClosedError,
  ConnectionError,
  CorruptError,
  IncompatibleError,
  NotFoundError,
  TimeoutError,
  ValueError,
} from '@ipc/core'
import {
  checkHandle,
  checkOptionsObject,
  checkPersistent,
  checkWaitOptions,
  invalidArgType,
  outOfRange,
  TRANSFER,
} from '@ipc/core/internal'
import {
  attachFailure,
  attachReply,
  attachWith,
  checkLease,
  checkRedisName,
  checkUrl,
  RedisConnection,
  randomRedisName,
  redactUrl,
  redisKey,
  takePending,
} from '@ipc/core/redis'
import { Empty, Full, ShutDown } from '../errors.js'
import { fromWire, toWire } from './item.js'
import { KEY_PARTS, MAX_BATCH, MAX_MAXSIZE, QUEUE_LIBRARY } from './library.js'
import type {
  GetManyOptions,
  GetOptions,
  JoinOptions,
  PutManyOptions,
  PutOptions,
  RedisQueueOpenOptions,
  RedisQueueOptions,
} from './options.js'

/** The kinds of Redis queue (the `kind` field in the meta hash and the handle). */
export type RedisQueueKind = 'queue' | 'joinable-queue'

/** The `.handle` of a Redis queue: JSON; `Queue.from(handle)` attaches anywhere. */
export interface RedisQueueHandle {
  kind: RedisQueueKind
  name: string
  /** The server's URL (as given, credentials included: treat the handle as a secret when it has any). */
  url: string
  /** Lease of this object's calls and unconfirmed items, ms. */
  lease: number
  /**
   * Present (true) when the handle was taken before its creator's create
   * reached the server: `from()` then waits up to 5 s for the name to appear.
   */
  creating?: boolean
  [field: string]: unknown
}

/** How an object attaches. */
export interface AttachSpec {
  mode: 'new' | 'open' | 'create'
  name: string
  url: string
  lease: number
  maxsize: number
  persistent: boolean
  awaitCreator?: boolean
}

/** How a put call ended: its status, and how many of its items went in. */
interface PutResult {
  status: 'ok' | 'full' | 'shutdown' | 'timeout'
  put: number
}

/** What a waiting call does with a wake-up, or with the answer to its cancel. */
type Outcome<R> = { value: R } | { error: unknown } | undefined

interface Waiter {
  /** A wake-up (or a renew's report of one): the server's JSON array. */
  wake(what: unknown[]): void
  fail(error: unknown): void
}

/**
 * How long a put that gave up (timeout, abort) waits for the server to say
 * whether its item went in, before rejecting with TimeoutError.
 */
const CANCEL_GRACE_MS = 1000

/** Runs `decide`; a throw (a reply the library never sends) becomes the call's error. */
function attempt<R>(decide: () => Outcome<R>): Outcome<R> {
  try {
    return decide()
  } catch (error) {
    return { error }
  }
}

const LABELS: Record<RedisQueueKind, string> = { queue: 'queue', 'joinable-queue': 'joinable queue' }

let objectCount = 0

/** Guards the reply of a function against anything the library never sends. */
function corrupt(what: string, reply: unknown): never {
  throw new CorruptError(`Redis sent an unexpected reply to ${what}: ${inspect(reply, { depth: 2 }).slice(0, 200)}`)
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) corrupt(what, value)
  return value
}

function asCount(value: unknown, what: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) corrupt(what, value)
  return value
}

function checkMaxsize(maxsize: unknown): number {
  if (maxsize === undefined) return 0
  if (typeof maxsize !== 'number' || !Number.isInteger(maxsize) || maxsize < 0 || maxsize > MAX_MAXSIZE)
    throw outOfRange(`The "maxsize" option must be a non-negative integer, received ${String(maxsize)}`)
  return maxsize
}

/** getMany's `max`: a positive integer or Infinity (the default). */
function checkMax(max: unknown): number {
  if (max === undefined) return Number.POSITIVE_INFINITY
  if (typeof max !== 'number') throw invalidArgType(`The "max" option must be a number, received ${typeof max}`)
  if (!(max === Number.POSITIVE_INFINITY || (Number.isInteger(max) && max >= 1)))
    throw outOfRange(`The "max" option must be a positive integer or Infinity, received ${max}`)
  return max
}

function waited(timeout: number): string {
  return timeout === Number.POSITIVE_INFINITY || timeout <= 0 ? '' : ` after waiting ${timeout} ms`
}

export function newSpec(options: RedisQueueOptions | undefined): AttachSpec {
  checkOptionsObject(options)
  return {
    mode: 'new',
    name: options?.name === undefined ? randomRedisName() : checkRedisName(options.name),
    url: checkUrl(options?.url),
    lease: checkLease(options?.lease),
    maxsize: checkMaxsize(options?.maxsize),
    persistent: checkPersistent(options?.persistent),
  }
}

export function openSpec(name: string, options: RedisQueueOpenOptions | undefined): AttachSpec {
  checkOptionsObject(options)
  const create = options?.create ?? false
  const createOptions = typeof create === 'object' && create !== null ? create : {}
  checkOptionsObject(createOptions, 'create')
  return {
    mode: create === false ? 'open' : 'create',
    name: checkRedisName(name),
    url: checkUrl(options?.url),
    lease: checkLease(options?.lease),
    maxsize: checkMaxsize(createOptions.maxsize),
    persistent: checkPersistent(createOptions.persistent),
  }
}

export function handleSpec(handle: unknown, kind: RedisQueueKind): AttachSpec {
  const checked = checkHandle<RedisQueueHandle>(handle, kind)
  return {
    mode: 'open',
    name: checkRedisName(checked.name),
    url: checkUrl(checked.url),
    lease: checkLease(checked.lease),
    maxsize: 0,
    persistent: false,
    awaitCreator: checked.creating === true,
  }
}

/**
 * A FIFO queue on a Redis server that processes on any number of machines
 * put to and get from: `@ipc/queue`'s `Queue` with every call async.
 *
 * Guarantees (while the server is up):
 * - Each item is returned by exactly one `get`, in any process on any machine.
 * - Items from one producer (one object) arrive in the order it put them.
 * - A blocked `get`, `put` or `join` sleeps until the server wakes it
 *   (pub/sub), never polling.
 * - A `get` that gives up (timeout, abort, a server that answered too late,
 *   a lost connection) takes nothing: an item the server had handed it goes
 *   back to the head of the queue.
 * - A consumer that dies loses at most the items its `get` had taken, and
 *   those are never delivered twice; they are dropped after `lease`.
 * - `put` has stored the item on the server when it resolves. With Redis
 *   persistence (`appendonly yes`, `appendfsync always`) it survives a restart.
 * - A lost connection rejects pending calls with `ConnectionError`; the
 *   client reconnects by itself and later calls work again.
 *
 * @throws {RangeError} `maxsize` or `lease` is out of range.
 * @example
 * ```ts
 * import { Queue } from '@ipc/queue/redis'
 * const queue = new Queue<string>({ maxsize: 100, url: 'redis://127.0.0.1:6379' })
 * await queue.put('job-1')
 * await queue.get() // => 'job-1'
 * await queue.close()
 * ```
 */
export class Queue<T = unknown> implements AsyncIterable<T>, AsyncDisposable {
  /** The kind `new` creates (JoinableQueue overrides it). */
  protected static readonly kind: RedisQueueKind = 'queue'
  readonly #kind: RedisQueueKind
  readonly #className: string
  readonly #name: string
  readonly #url: string
  readonly #lease: number
  readonly #keys: string[]
  readonly #objectId: string
  readonly #connection: RedisConnection
  readonly #ready: Promise<void>
  readonly #creating: boolean
  #attached = false
  #created = false
  #persistent = false
  #maxsize: number
  readonly #waiters = new Map<string, Waiter>()
  #waiterCount = 0
  /** Calls whose handed entry this object keeps: acked with its next call. */
  #acks: string[] = []
  /** Calls given up while the server may have handed them something: cancelled by the next renew. */
  #orphans: string[] = []
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false
  #fault: Error | undefined
  readonly #unsubscribe: (() => void)[] = []
  #connectionHeld = true

  /**
   * Creates a queue on the server (the first call, or `ready()`, rejects
   * with `ExistsError` when `name` is taken).
   * @throws {RangeError} `maxsize` or `lease` is out of range.
   */
  constructor(options?: RedisQueueOptions) {
    const kind = (new.target as typeof Queue).kind
    const spec = takePending<AttachSpec>() ?? newSpec(options)
    this.#kind = kind
    this.#className = kind === 'queue' ? 'Queue' : 'JoinableQueue'
    this.#name = spec.name
    this.#url = spec.url
    this.#lease = spec.lease
    this.#maxsize = spec.maxsize
    this.#keys = KEY_PARTS.map((part) => redisKey(spec.name, part))
    this.#creating = spec.mode !== 'open'
    this.#connection = RedisConnection.acquire(spec.url)
    this.#objectId = `${this.#connection.clientId}/q${++objectCount}`
    const connection = this.#connection
    this.#unsubscribe.push(
      connection.onWake(this.#objectId, (message) => this.#onWake(message)),
      connection.onReady(() => void this.#renew()),
      connection.onLost((error) => this.#failWaiters(error)),
    )
    this.#ready = this.#attach(spec)
    // A constructor cannot await: the first call rejects with the attach error.
    this.#ready.catch(() => {})
  }

  /**
   * Attaches to the queue called `name` on the server; with `{ create }`,
   * creates it when no object has that name (atomically).
   * @throws {NotFoundError} No object has that name (and `create` is not given).
   * @throws {IncompatibleError} The name holds another kind (a JoinableQueue, a Semaphore…).
   * @throws {ConnectionError} The server cannot be reached.
   * @example
   * ```ts
   * const queue = await Queue.open<string>('jobs', { create: { maxsize: 100 } })
   * ```
   */
  static open<T = unknown>(name: string, options?: RedisQueueOpenOptions): Promise<Queue<T>> {
    return attachWith(
      () => openSpec(name, options),
      () => new Queue<T>(),
    )
  }

  /**
   * Attaches to the queue a `.handle` describes (from another process or machine).
   * @throws {TypeError} `handle` is not a Redis Queue's handle.
   * @throws {NotFoundError} The queue no longer exists.
   */
  static from<T = unknown>(handle: RedisQueueHandle): Promise<Queue<T>> {
    return attachWith(
      () => handleSpec(handle, 'queue'),
      () => new Queue<T>(),
    )
  }

  /** The name any process opens it by. */
  get name(): string {
    return this.#name
  }

  /** The server's URL, without its password. */
  get url(): string {
    return redactUrl(this.#url)
  }

  /** How long this object's calls and unconfirmed items outlive its last renewal, ms. */
  get lease(): number {
    return this.#lease
  }

  /** The most items the queue holds (0 = no limit); known once `ready()` resolved. */
  get maxsize(): number {
    return this.#maxsize
  }

  /** A small plain JSON object; `Queue.from(handle)` attaches to the same queue in any process, on any machine. */
  get handle(): RedisQueueHandle {
    const handle: RedisQueueHandle = { kind: this.#kind, name: this.#name, url: this.#url, lease: this.#lease }
    if (this.#creating && !this.#attached) handle.creating = true
    return handle
  }

  /** True when this object created the queue (known once `ready()` resolved). */
  get created(): boolean {
    return this.#created
  }

  /** True when the queue stays on the server until `unlink()` (known once `ready()` resolved). */
  get persistent(): boolean {
    return this.#persistent
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Resolves once the object is attached on the server (created, or
   * opened). Every call waits for it; call it to see an attach error early.
   * @throws {ExistsError} `new Queue({ name })` found the name taken.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async ready(): Promise<this> {
    await this.#ready
    return this
  }

  get #label(): string {
    return LABELS[this.#kind]
  }

  get #what(): string {
    return `${this.#label} "${this.#name}"`
  }

  async #attach(spec: AttachSpec): Promise<void> {
    const args = [spec.mode, spec.maxsize, spec.persistent ? 1 : 0]
    const reply = await attachReply(
      async () => asArray(await this.#send('ipc_queue_create', args), 'create'),
      (answer) => answer[0] === 'missing',
      spec.awaitCreator === true,
    )
    const status = reply[0]
    const failure = attachFailure(status, reply[1], this.#label, this.#name)
    if (failure !== undefined) {
      // Every later call rejects with this error; close() still works.
      this.#fault = failure
      this.#releaseConnection()
      throw failure
    }
    if (status !== 'created' && status !== 'opened') corrupt('create', reply)
    this.#created = status === 'created'
    this.#attached = true
    this.#persistent = reply[1] === 1
    this.#maxsize = asCount(reply[2], 'create', MAX_MAXSIZE)
    this.#heartbeat = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.#lease / 3)))
    this.#heartbeat.unref()
  }

  /** Sends a library function with this queue's keys, the arguments every function takes, and the pending acks. */
  #send(fn: string, args: readonly (string | number)[], acks: readonly string[] = []): Promise<unknown> {
    return this.#connection.call(
      QUEUE_LIBRARY,
      fn,
      this.#keys,
      [this.#kind, this.#objectId, this.#lease * 3, acks.length, ...acks, ...args],
      { deadline: Number.POSITIVE_INFINITY },
    )
  }

  /** `#send` with the acks gathered since the last call (they are dropped if the call fails: the entries lapse). */
  #call(fn: string, args: readonly (string | number)[]): Promise<unknown> {
    const acks = this.#acks
    if (acks.length > 0) this.#acks = []
    return this.#send(fn, args, acks)
  }

  /** Throws the error a reply of 'missing', 'corrupt' or 'incompatible' stands for. */
  #checkGone(reply: unknown[], what: string): void {
    if (reply[0] === 'missing') {
      this.#fault ??= new NotFoundError(
        `Cannot ${what} ${this.#what}: it no longer exists on the server (unlinked, or every object was gone for longer than 3 leases)`,
      )
      throw this.#fault
    }
    if (reply[0] === 'corrupt') {
      this.#fault ??= new CorruptError(
        `Cannot ${what} ${this.#what}: its state on the server breaks its layout's rules (${String(reply[1])})`,
      )
      throw this.#fault
    }
    if (reply[0] === 'incompatible') {
      this.#fault ??= new IncompatibleError(`Cannot ${what} ${this.#what}: its name now holds a ${String(reply[1])}`)
      throw this.#fault
    }
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot ${what} ${this.#what}: it was closed`)
    if (this.#fault !== undefined) throw this.#fault
  }

  /** Checks the object and waits for the attach; rejects as the call must. */
  async #enter(what: string, signal?: AbortSignal): Promise<void> {
    this.#assertOpen(what)
    if (signal?.aborted) throw signal.reason
    await this.#ready
    this.#assertOpen(what)
    if (signal?.aborted) throw signal.reason
  }

  /**
   * One call that may wait on the server. The waiter is registered before
   * the call, since the wake-up may come before the reply.
   *
   * Giving up (timeout, abort): with `confirm` false (get, join) the call
   * settles at once and a cancel follows, which gives back anything the
   * server handed it; with `confirm` true (put) the call settles when the
   * cancel's answer says whether the item went in (within
   * CANCEL_GRACE_MS, else TimeoutError: the server did not say).
   */
  #wait<R>(spec: {
    what: string
    fn: string
    args: (waiterId: string) => (string | number)[]
    timeout: number
    signal: AbortSignal | undefined
    confirm: boolean
    onReply(reply: unknown[], waiterId: string): Outcome<R>
    onWake(what: unknown[], waiterId: string): Outcome<R>
    onGiveUp(reason: 'timeout' | 'abort'): Outcome<R>
  }): Promise<R> {
    const waiterId = `${this.#objectId}/${++this.#waiterCount}`
    const keepAlive = this.#connection.keepAlive()
    const { timeout, signal } = spec
    return new Promise<R>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      let done = false
      /** Set once the caller gave up and a confirming cancel is on its way. */
      let givenUp: Outcome<R>
      const finish = (outcome: Outcome<R>): boolean => {
        if (done || outcome === undefined) return false
        done = true
        this.#waiters.delete(waiterId)
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        keepAlive()
        if ('value' in outcome) resolve(outcome.value)
        else reject(outcome.error)
        return true
      }
      const giveUp = (reason: 'timeout' | 'abort') => {
        if (done || givenUp !== undefined) return
        const outcome = spec.onGiveUp(reason)
        if (!spec.confirm) {
          finish(outcome)
          // A cancel that cannot reach the server is retried by the next renew (#orphans).
          this.#cancel(waiterId).catch(() => {})
          return
        }
        givenUp = outcome
        this.#waiters.delete(waiterId)
        if (timer !== undefined) clearTimeout(timer)
        timer = setTimeout(
          () =>
            finish({
              error: new TimeoutError(
                `Cannot ${spec.what} ${this.#what}: the server did not answer within ${timeout === Number.POSITIVE_INFINITY ? CANCEL_GRACE_MS : timeout + CANCEL_GRACE_MS} ms, so it is unknown whether the item was put`,
              ),
            }),
          CANCEL_GRACE_MS,
        )
        this.#cancel(waiterId).then(
          (answer) => {
            if (answer === 'cancelled' || answer === 'gone') finish(givenUp)
            else finish(attempt(() => spec.onWake(answer, waiterId)))
          },
          (error: unknown) => finish({ error }),
        )
      }
      const onAbort = () => giveUp('abort')
      this.#waiters.set(waiterId, {
        wake: (what) => {
          if (done || givenUp !== undefined) return
          // Kept: the server may forget it (the next call carries the ack).
          if (finish(attempt(() => spec.onWake(what, waiterId)))) this.#acks.push(waiterId)
        },
        fail: (error) => {
          if (finish({ error })) this.#orphans.push(waiterId)
        },
      })
      if (timeout !== Number.POSITIVE_INFINITY && timeout !== 0) timer = setTimeout(() => giveUp('timeout'), timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#call(spec.fn, spec.args(waiterId)).then(
        (raw) => {
          if (done) return
          const outcome = attempt(() => {
            const reply = asArray(raw, spec.what)
            this.#checkGone(reply, spec.what)
            return spec.onReply(reply, waiterId)
          })
          // A put that gave up but went in: it took effect, the signal is ignored.
          if (givenUp !== undefined && (outcome === undefined || !('value' in outcome))) return
          finish(outcome)
        },
        (error: unknown) => {
          // The server may have run it: cancel it once the connection is back.
          if (finish({ error })) this.#orphans.push(waiterId)
        },
      )
    })
  }

  /**
   * Cancels call `waiterId` on the server. Resolves 'cancelled' (it was
   * waiting), 'gone', or the JSON array it had been handed and not kept
   * (items went back to the head of the queue).
   */
  async #cancel(waiterId: string): Promise<'cancelled' | 'gone' | unknown[]> {
    let reply: unknown[]
    try {
      reply = asArray(await this.#call('ipc_queue_cancel', [waiterId]), 'cancel')
    } catch (error) {
      // Unreachable: the next renew (after the reconnect) cancels it.
      if (error instanceof ConnectionError) this.#orphans.push(waiterId)
      throw error
    }
    switch (reply[0]) {
      case 'cancelled':
      case 'gone':
        return reply[0]
      case 'returned':
        return ['r']
      case 'handed': {
        let what: unknown
        try {
          what = JSON.parse(String(reply[1]))
        } catch {
          return corrupt('cancel', reply)
        }
        return Array.isArray(what) ? what : corrupt('cancel', reply)
      }
      default:
        this.#checkGone(reply, 'cancel')
        return corrupt('cancel', reply)
    }
  }

  #onWake(message: string): void {
    const space = message.indexOf(' ')
    if (space === -1) return
    const waiter = this.#waiters.get(message.slice(0, space))
    if (waiter === undefined) return
    let what: unknown
    try {
      what = JSON.parse(message.slice(space + 1))
    } catch (error) {
      waiter.fail(new CorruptError(`Redis sent an unexpected wake-up to ${this.#what}`, { cause: error }))
      return
    }
    if (!Array.isArray(what)) {
      waiter.fail(new CorruptError(`Redis sent an unexpected wake-up to ${this.#what}`))
      return
    }
    waiter.wake(what)
  }

  /** A lost socket: pending calls reject; their ids are cancelled after the reconnect. */
  #failWaiters(error: Error): void {
    for (const waiter of [...this.#waiters.values()]) waiter.fail(error)
  }

  /** Renews this object's lease and its calls' entries; cancels orphans; learns of lost wake-ups. */
  async #renew(): Promise<void> {
    if (this.#closed || this.#fault !== undefined || !this.#attached) return
    const orphans = this.#orphans
    this.#orphans = []
    const waiterIds = [...this.#waiters.keys()]
    let reply: unknown[]
    try {
      reply = asArray(
        await this.#call('ipc_queue_renew', [this.#lease, orphans.length, ...orphans, ...waiterIds]),
        'renew',
      )
      this.#checkGone(reply, 'renew')
    } catch (error) {
      this.#orphans.push(...orphans)
      // Unreachable, or a passing server error (LOADING after a restart): the next renewal tries again.
      if (!(error instanceof NotFoundError || error instanceof IncompatibleError || error instanceof CorruptError))
        return
      // Gone, replaced or garbled: this object is unusable from now on (close() still works).
      this.#fault ??= error
      this.#failWaiters(error)
      return
    }
    let pairs: unknown[]
    let gone: unknown[]
    try {
      pairs = asArray(reply[0], 'renew')
      gone = asArray(reply[1], 'renew')
    } catch (error) {
      this.#fault ??= error as Error
      this.#failWaiters(error as Error)
      return
    }
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const waiter = this.#waiters.get(String(pairs[i]))
      if (waiter === undefined) continue
      try {
        const what: unknown = JSON.parse(String(pairs[i + 1]))
        if (Array.isArray(what)) waiter.wake(what)
      } catch {
        // Garbled: the entry lapses; the call goes on waiting until its timeout.
      }
    }
    for (const entry of gone)
      this.#waiters
        .get(String(entry))
        ?.fail(
          new ConnectionError(
            `Cannot finish a call on ${this.#what}: its wait lapsed on the server while this process was cut off for longer than ${this.#lease} ms`,
          ),
        )
  }

  /** Decodes the items a get was handed; a bad one is dropped and ends the batch (the rest go back). */
  async #decode(wires: readonly unknown[]): Promise<T[]> {
    const items: T[] = []
    for (let i = 0; i < wires.length; i++) {
      try {
        items.push(fromWire(wires[i], this.#what) as T)
      } catch (error) {
        const rest = wires.slice(i + 1)
        if (rest.length > 0) await this.#call('ipc_queue_unget', rest as string[]).catch(() => {})
        if (items.length > 0) return items
        throw error
      }
    }
    return items
  }

  /** What `put` and `putMany` do with one wire batch: puts what fits and, unless `tryOnly`, waits for room for the next one. */
  #putWires(
    wires: readonly string[],
    timeout: number,
    signal: AbortSignal | undefined,
    tryOnly: boolean,
  ): Promise<PutResult> {
    let put = 0
    return this.#wait<PutResult>({
      what: 'put to',
      fn: 'ipc_queue_put',
      args: (waiterId) => [waiterId, this.#lease, tryOnly || timeout === 0 ? 'try' : 'wait', ...wires],
      timeout,
      signal,
      confirm: true,
      onReply: (reply) => {
        put = asCount(reply[1], 'put', wires.length)
        switch (reply[0]) {
          case 'ok':
            return { value: { status: 'ok', put } }
          case 'full':
            return { value: { status: 'full', put } }
          case 'shutdown':
            return { value: { status: 'shutdown', put } }
          case 'queued':
            return undefined
          case 'too-big':
            return { error: new CorruptError(`Redis refused item ${put} of a put to ${this.#what} as too large`) }
          default:
            return corrupt('put', reply)
        }
      },
      // The wake-up may come before the reply: it says itself how many items of the call are in.
      onWake: (what) => {
        if (what[0] === 'p') return { value: { status: 'ok', put: asCount(what[1], 'put', wires.length) } }
        if (what[0] === 's') return { value: { status: 'shutdown', put: asCount(what[1], 'put', wires.length) } }
        return corrupt('put', what)
      },
      onGiveUp: (reason) => (reason === 'abort' ? { error: signal?.reason } : { value: { status: 'timeout', put } }),
    })
  }

  /**
   * Puts `item`, waiting (without polling) while the queue is full. The item
   * is stored on the server when the promise resolves.
   *
   * Aborting `signal` (or `timeout` passing) while the put waits for room
   * takes the item back; if it was put meanwhile, the signal is ignored and
   * the call resolves. A server that does not answer whether it was put
   * within 1 s after that rejects with `TimeoutError` (the item may be in the queue).
   *
   * @throws {Full} `timeout` ms passed and the queue is still full (`.item`: the item).
   * @throws {ShutDown} after `shutdown()` (`.item`: the item).
   * @throws {DataCloneError} `item` cannot be cloned (nothing is put).
   * @throws {RangeError} `item` is larger than 8 MiB encoded (nothing is put).
   * @throws {ConnectionError} The server cannot be reached, or the connection was lost (the item may or may not be in the queue).
   * @throws {ClosedError} after `close()`.
   * @example
   * ```ts
   * await queue.put('job-1', { timeout: 1000 })
   * ```
   */
  async put(item: T, options?: PutOptions): Promise<void> {
    const { timeout, signal } = checkWaitOptions(options)
    const wire = toWire(item)
    await this.#enter('put to', signal)
    const result = await this.#putWires([wire], timeout, signal, false)
    if (result.status === 'ok') return
    if (result.status === 'shutdown') throw new ShutDown(`Cannot put to ${this.#what}: it was shut down`, { item })
    throw new Full(`Cannot put to ${this.#what}: it is full${waited(timeout)}`, { item })
  }

  /**
   * Puts `item` if there is room now (one round trip), else rejects with `Full`.
   * @throws {Full} The queue is full (nothing was put).
   * @throws {ShutDown} after `shutdown()` (`.item`: the item).
   * @example
   * ```ts
   * await queue.putNowait('job-1').catch((error) => error.name) // 'Full' when there is no room
   * ```
   */
  async putNowait(item: T): Promise<void> {
    const wire = toWire(item)
    await this.#enter('put to')
    const result = await this.#putWires([wire], 0, undefined, true)
    if (result.status === 'ok') return
    if (result.status === 'shutdown') throw new ShutDown(`Cannot put to ${this.#what}: it was shut down`, { item })
    throw new Full(`Cannot put to ${this.#what}: it is full`, { item })
  }

  /**
   * Puts `items` in order, as many per round trip as there is room for (up
   * to 1024), waiting like `put` while the queue is full; each item counts
   * toward `maxsize`. Every item is encoded before any is put: one that
   * cannot be cloned, or is larger than 8 MiB, throws and nothing is put.
   * When the call ends early (timeout, shutdown, abort), the items put so
   * far are the first ones; `Full` and `ShutDown` hand back the others in
   * `.item` (an array).
   *
   * @throws {Full} `timeout` ms passed before all were put (`.item`: the items not put).
   * @throws {ShutDown} after `shutdown()` (`.item`: the items not put).
   * @throws {DataCloneError} An item cannot be cloned (nothing is put).
   * @throws {RangeError} An item is larger than 8 MiB encoded (nothing is put).
   * @example
   * ```ts
   * await queue.putMany(['a', 'b', 'c'])
   * ```
   */
  async putMany(items: Iterable<T>, options?: PutManyOptions): Promise<void> {
    const { timeout, signal } = checkWaitOptions(options)
    if (items === null || typeof (items as Iterable<T>)?.[Symbol.iterator] !== 'function')
      throw invalidArgType(`The items must be an array or another iterable, received ${typeof items}`)
    const values = Array.from(items)
    const wires = values.map((value) => toWire(value))
    await this.#enter('put to', signal)
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout
    let done = 0
    const rest = (why: string) =>
      `${why}; the first ${done} of its ${values.length} items were put, the rest are in .item`
    if (values.length === 0) {
      const state = await this.#state()
      if (state.shutdown) throw new ShutDown(rest(`Cannot put to ${this.#what}: it was shut down`), { item: [] })
      return
    }
    while (done < wires.length) {
      const left = deadline === Number.POSITIVE_INFINITY ? deadline : Math.max(0, deadline - performance.now())
      let result: PutResult
      try {
        result = await this.#putWires(wires.slice(done, done + MAX_BATCH), left, signal, false)
      } catch (error) {
        if (done > 0 && error === signal?.reason)
          throw new Full(rest(`Cannot put to ${this.#what}: the wait for room was aborted`), {
            item: values.slice(done),
            cause: error,
          })
        throw error
      }
      done += result.put
      if (result.status === 'shutdown')
        throw new ShutDown(rest(`Cannot put to ${this.#what}: it was shut down`), { item: values.slice(done) })
      if (result.status !== 'ok')
        throw new Full(rest(`Cannot put to ${this.#what}: it is full${waited(timeout)}`), {
          item: values.slice(done),
        })
    }
  }

  /** What `get`, `getNowait` and `getMany` share. */
  #take(max: number, timeout: number, signal: AbortSignal | undefined): Promise<T[]> {
    const count = Math.min(max, MAX_BATCH)
    return this.#wait<unknown[] | 'empty' | 'shutdown'>({
      what: 'get from',
      fn: 'ipc_queue_get',
      args: (waiterId) => [waiterId, this.#lease, timeout === 0 ? 'try' : 'wait', count],
      timeout,
      signal,
      confirm: false,
      onReply: (reply, waiterId) => {
        switch (reply[0]) {
          case 'items': {
            const wires = asArray(reply[1], 'get')
            if (wires.length < 1 || wires.length > count) corrupt('get', reply)
            // Kept: the server may forget the handed entry.
            this.#acks.push(waiterId)
            return { value: wires }
          }
          case 'queued':
            return undefined
          case 'empty':
            return { value: 'empty' }
          case 'shutdown':
            return { value: 'shutdown' }
          default:
            return corrupt('get', reply)
        }
      },
      onWake: (what) => {
        if (what[0] === 's') return { value: 'shutdown' }
        if (what[0] !== 'i' || what.length < 2 || what.length > count + 1) return corrupt('get', what)
        return { value: what.slice(1) }
      },
      onGiveUp: (reason) => (reason === 'abort' ? { error: signal?.reason } : { value: 'empty' }),
    }).then((taken) => {
      if (taken === 'empty') throw new Empty(`Cannot get from ${this.#what}: it is empty${waited(timeout)}`)
      if (taken === 'shutdown') throw new ShutDown(`Cannot get from ${this.#what}: it was shut down and is empty`)
      return this.#decode(taken)
    })
  }

  /**
   * Removes and returns the oldest item, waiting (without polling: the
   * server wakes this call with the item) while the queue is empty.
   *
   * Aborting `signal` rejects with `signal.reason` and takes nothing: an item
   * the server handed over meanwhile goes back to the head of the queue. So
   * does one whose reply came after `timeout` (a stopped or slow server).
   *
   * @throws {Empty} `timeout` ms passed and the queue is still empty.
   * @throws {ShutDown} The queue was shut down and is empty.
   * @throws {CorruptError} The item from the server cannot be decoded (it is dropped; the queue goes on).
   * @throws {ConnectionError} The server cannot be reached, or the connection was lost while waiting.
   * @throws {ClosedError} after `close()` (also rejects pending gets).
   * @example
   * ```ts
   * const job = await queue.get({ timeout: 1000 })
   * ```
   */
  async get(options?: GetOptions): Promise<T> {
    const { timeout, signal } = checkWaitOptions(options)
    await this.#enter('get from', signal)
    return (await this.#take(1, timeout, signal))[0] as T
  }

  /**
   * Removes and returns the oldest item if there is one now (one round trip), else rejects with `Empty`.
   * @throws {Empty} The queue is empty.
   * @throws {ShutDown} The queue was shut down and is empty.
   * @example
   * ```ts
   * await queue.getNowait().catch((error) => error.name) // 'Empty' when there is no item
   * ```
   */
  async getNowait(): Promise<T> {
    await this.#enter('get from')
    return (await this.#take(1, 0, undefined))[0] as T
  }

  /**
   * Waits like `get` for one item, then returns every item that is there,
   * up to `max` (and at most 1024), in one round trip. Always at least one
   * item; in queue order.
   *
   * @throws {Empty} `timeout` ms passed and the queue is still empty.
   * @throws {ShutDown} The queue was shut down and is empty.
   * @throws {RangeError} `max` is not a positive integer or Infinity.
   * @throws {CorruptError} as `get`: an item that cannot be decoded is dropped and ends the batch
   * (the items before it are returned, the ones after it go back to the head).
   * @example
   * ```ts
   * const batch = await queue.getMany({ max: 64 })
   * ```
   */
  async getMany(options?: GetManyOptions): Promise<T[]> {
    const { timeout, signal } = checkWaitOptions(options)
    const max = checkMax(options?.max)
    await this.#enter('get from', signal)
    return this.#take(max, timeout, signal)
  }

  async #state(): Promise<{ size: number; shutdown: boolean; unfinished: number; maxsize: number }> {
    await this.#enter('read')
    const reply = asArray(await this.#call('ipc_queue_state', []), 'state')
    this.#checkGone(reply, 'read')
    if (reply[0] !== 'ok') corrupt('state', reply)
    return {
      size: asCount(reply[1], 'state', Number.MAX_SAFE_INTEGER),
      shutdown: reply[2] === 1,
      unfinished: asCount(reply[3], 'state', Number.MAX_SAFE_INTEGER),
      maxsize: asCount(reply[4], 'state', MAX_MAXSIZE),
    }
  }

  /**
   * The number of items in the queue now, on the server.
   * @example
   * ```ts
   * await queue.qsize() // => 0
   * ```
   */
  async qsize(): Promise<number> {
    return (await this.#state()).size
  }

  /** True when the queue holds no item now. */
  async empty(): Promise<boolean> {
    return (await this.qsize()) === 0
  }

  /** True when the queue holds `maxsize` items now (always false without a `maxsize`). */
  async full(): Promise<boolean> {
    const state = await this.#state()
    return state.maxsize > 0 && state.size >= state.maxsize
  }

  /**
   * Shuts the queue down for every process on every machine: later puts
   * reject with `ShutDown`, puts waiting now reject with `ShutDown` (carrying
   * their item, which was not put), gets return what is left and then
   * reject with `ShutDown`, and `for await` loops end. With `immediate: true`
   * the items still queued are dropped (a JoinableQueue counts each as done,
   * releasing `join`). Idempotent.
   * @throws {ConnectionError} The server cannot be reached.
   * @example
   * ```ts
   * await queue.shutdown() // consumers drain what is left, then their loops end
   * ```
   */
  async shutdown(options?: { immediate?: boolean }): Promise<void> {
    checkOptionsObject(options)
    const immediate = options?.immediate ?? false
    if (typeof immediate !== 'boolean')
      throw invalidArgType(`The "immediate" option must be a boolean, received ${typeof immediate}`)
    await this.#enter('shut down')
    const reply = asArray(await this.#call('ipc_queue_shutdown', [immediate ? 1 : 0]), 'shutdown')
    this.#checkGone(reply, 'shut down')
    if (reply[0] !== 'ok') corrupt('shutdown', reply)
  }

  /** JoinableQueue: marks one task done on the server. */
  protected async taskDoneCall(): Promise<void> {
    await this.#enter('mark a task done on')
    const reply = asArray(await this.#call('ipc_queue_task_done', []), 'taskDone')
    this.#checkGone(reply, 'mark a task done on')
    if (reply[0] === 'over')
      throw new ValueError(`Cannot call taskDone() on ${this.#what}: it was called more times than items were put`)
    if (reply[0] !== 'ok') corrupt('taskDone', reply)
  }

  /** JoinableQueue: waits until no task is unfinished. */
  protected async joinCall(options: JoinOptions | undefined): Promise<boolean> {
    const { timeout, signal } = checkWaitOptions(options)
    await this.#enter('join', signal)
    return this.#wait<boolean>({
      what: 'join',
      fn: 'ipc_queue_join',
      args: (waiterId) => [waiterId, this.#lease, timeout === 0 ? 'try' : 'wait'],
      timeout,
      signal,
      confirm: false,
      onReply: (reply) => {
        if (reply[0] === 'done') return { value: true }
        if (reply[0] === 'pending') return { value: false }
        if (reply[0] === 'queued') return undefined
        return corrupt('join', reply)
      },
      onWake: (what) => (what[0] === 'j' ? { value: true } : corrupt('join', what)),
      onGiveUp: (reason) => (reason === 'abort' ? { error: signal?.reason } : { value: false }),
    })
  }

  /** JoinableQueue: the unfinished count on the server. */
  protected async unfinishedCount(): Promise<number> {
    return (await this.#state()).unfinished
  }

  /**
   * Detaches this object: its pending calls reject with `ClosedError` (an
   * item a pending get had been handed goes back to the head; a waiting put
   * puts nothing), and it stops renewing. The last object to close removes a
   * non-persistent queue, items included, from the server. Idempotent.
   * @throws {ConnectionError} The server cannot be reached (this object's state then lapses after `lease`).
   * @example
   * ```ts
   * await queue.close()
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return
    for (const waiter of [...this.#waiters.values()])
      waiter.fail(new ClosedError(`Cannot finish a call on ${this.#what}: it was closed`))
    this.#closed = true
    const cancels = this.#orphans.splice(0)
    try {
      // Never attached (the attach failed): nothing to give back.
      const attached = await this.#ready.then(
        () => true,
        () => false,
      )
      if (attached) await this.#call('ipc_queue_close', cancels)
    } catch (error) {
      if (error instanceof ConnectionError) throw error
      // Already gone from the server (unlinked): nothing to give back.
    } finally {
      this.#releaseConnection()
    }
  }

  /** Stops renewing and gives the shared connection back (idempotent). */
  #releaseConnection(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
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
   * Removes the queue and its items from the server now: later
   * `Queue.open(name)` fail (or create anew), and objects still attached
   * fail with `NotFoundError`.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async unlink(): Promise<void> {
    await this.#ready.catch(() => {})
    // Its own reference: unlink() also works after close().
    const connection = RedisConnection.acquire(this.#url)
    try {
      await connection.call(QUEUE_LIBRARY, 'ipc_queue_unlink', this.#keys, [], {
        deadline: Number.POSITIVE_INFINITY,
      })
    } finally {
      connection.release()
    }
  }

  /**
   * Yields items as `get()` does, and ends when the queue is shut down and empty.
   * @example
   * ```ts
   * for await (const job of queue) console.log(job)
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let item: T
      try {
        item = await this.get()
      } catch (error) {
        if (error instanceof ShutDown) return
        throw error
      }
      yield item
    }
  }

  /** How `Process` revives this object in a child (the class is found by module and export name). */
  [TRANSFER](): { module: string; export: string; handle: RedisQueueHandle } {
    return { module: import.meta.url, export: this.#className, handle: this.handle }
  }

  /** `Queue (Redis) { name: 'jobs', url: 'redis://…', maxsize: 10, waiting: 0 }`: local state (the server's needs `qsize()`). */
  [inspect.custom](_depth: number, options: object): string {
    const fields: Record<string, unknown> = { name: this.#name, url: this.url, maxsize: this.#maxsize }
    if (this.#closed) fields.closed = true
    else fields.waiting = this.#waiters.size
    return `${this.#className} (Redis) ${inspect(fields, options)}`
  }
}
