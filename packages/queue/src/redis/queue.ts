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
import { ClosedError, ConnectionError, CorruptError, IpcError, TimeoutError, ValueError } from '@ipc/core'
import {
  afterTimeout,
  checkHandle,
  checkOptionsObject,
  checkPersistent,
  checkWaitOptions,
  invalidArgType,
  outOfRange,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import {
  attachSpec,
  attachWith,
  checkRedisName,
  REDIS_OPEN_OPTIONS,
  type RedisAttachSpec,
  type RedisCallOptions,
  type RedisHandle,
  RedisObject,
  replyArray,
  replyFlag,
  takePending,
  unexpectedReply,
} from '@ipc/core/redis'
import { Empty, Full, ShutDown } from '../errors.js'
import { checkMaxsize, GET_MANY_OPTIONS, SHUTDOWN_OPTIONS } from '../options.js'
import { fromWire, handedFromServer, toWire } from './item.js'
import { KEY_PARTS, MAX_BATCH, MAX_MAXSIZE, QUEUE_LIBRARY } from './library.js'
import {
  type GetManyOptions,
  type GetOptions,
  type JoinOptions,
  type PutManyOptions,
  type PutOptions,
  REDIS_QUEUE_CREATE_OPTIONS,
  REDIS_QUEUE_OPTIONS,
  type RedisQueueOpenOptions,
  type RedisQueueOptions,
} from './options.js'

/** The kinds of Redis queue (the `kind` field in the meta hash and the handle). */
export type RedisQueueKind = 'queue' | 'joinable-queue'

/** The `.handle` of a Redis queue: JSON; `Queue.from(handle)` attaches anywhere. */
export interface RedisQueueHandle extends RedisHandle {
  kind: RedisQueueKind
}

/** How an object attaches. */
export interface AttachSpec extends RedisAttachSpec {
  maxsize: number
  persistent: boolean
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

function asCount(value: unknown, what: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max)
    unexpectedReply(what, value)
  return value
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
  checkOptionsObject(options, REDIS_QUEUE_OPTIONS)
  return {
    ...attachSpec('new', options?.name, options),
    maxsize: checkMaxsize(options?.maxsize, MAX_MAXSIZE),
    persistent: checkPersistent(options?.persistent),
  }
}

export function openSpec(name: string, options: RedisQueueOpenOptions | undefined): AttachSpec {
  checkOptionsObject(options, REDIS_OPEN_OPTIONS)
  const create = options?.create ?? false
  const createOptions = typeof create === 'object' && create !== null ? create : {}
  checkOptionsObject(createOptions, REDIS_QUEUE_CREATE_OPTIONS, '"create" option')
  return {
    ...attachSpec(create === false ? 'open' : 'create', checkRedisName(name), options),
    maxsize: checkMaxsize(createOptions.maxsize, MAX_MAXSIZE),
    persistent: checkPersistent(createOptions.persistent),
  }
}

export function handleSpec(handle: unknown, kind: RedisQueueKind): AttachSpec {
  const checked = checkHandle<RedisQueueHandle>(handle, kind)
  return {
    ...attachSpec('open', checkRedisName(checked.name), checked),
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
 *   those are never delivered twice; they are dropped once their `lease`
 *   ended and the consumer has not renewed for 3 leases.
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
export class Queue<T = unknown> extends RedisObject implements AsyncIterable<T> {
  /** The kind `new` creates (JoinableQueue overrides it). */
  protected static readonly kind: RedisQueueKind = 'queue'
  #maxsize: number
  readonly #waiters = new Map<string, Waiter>()
  /** Calls whose handed entry this object keeps: acked with its next call. */
  #acks: string[] = []
  /** Calls given up while the server may have handed them something: cancelled by the next renew. */
  #orphans: string[] = []

  /**
   * Creates a queue on the server (the first call, or `ready()`, rejects
   * with `ExistsError` when `name` is taken).
   * @throws {RangeError} `maxsize` or `lease` is out of range.
   */
  constructor(options?: RedisQueueOptions) {
    const kind = (new.target as typeof Queue).kind
    const spec = takePending<AttachSpec>() ?? newSpec(options)
    super(
      {
        kind,
        label: LABELS[kind],
        className: kind === 'queue' ? 'Queue' : 'JoinableQueue',
        module: import.meta.url,
        library: QUEUE_LIBRARY,
        keyParts: KEY_PARTS,
        idPrefix: 'q',
        functions: { create: 'create', close: 'close', unlink: 'unlink' },
        replyWithinLease: false,
        waits: true,
      },
      spec,
      // No acks yet (every call carries its acks first), then the create's own arguments.
      [0, spec.mode, spec.maxsize, spec.persistent ? 1 : 0],
    )
    this.#maxsize = spec.maxsize
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

  /** The most items the queue holds (0 = no limit); known once `ready()` resolved. */
  get maxsize(): number {
    return this.#maxsize
  }

  /** A small plain JSON object; `Queue.from(handle)` attaches to the same queue in any process, on any machine. */
  override get handle(): RedisQueueHandle {
    return super.handle as RedisQueueHandle
  }

  /** Create reply: `[status, persistent, maxsize]`. */
  protected override readAttach(reply: unknown[]): boolean {
    this.#maxsize = asCount(reply[2], 'create', MAX_MAXSIZE)
    return replyFlag(reply, 1, 'create')
  }

  /** The acks gathered since the last call, taken: every call sends them first. */
  #takeAcks(): string[] {
    const acks = this.#acks
    if (acks.length > 0) this.#acks = []
    return acks
  }

  /**
   * Calls a library function with the pending acks before `args` (options: `RedisObject.call`'s).
   * A call that fails gives its acks back to the next one (an ack runs twice harmlessly): the server
   * keeps a live object's entries until they are acked or cancelled.
   */
  #call(fn: string, args: readonly (string | number)[], options?: RedisCallOptions): Promise<unknown> {
    const acks = this.#takeAcks()
    let sent: Promise<unknown>
    try {
      sent = this.call(fn, [acks.length, ...acks, ...args], options)
    } catch (error) {
      // Nothing was sent: the acks stay for the next call.
      if (!this.closed) this.#acks.push(...acks)
      return Promise.reject(error)
    }
    if (acks.length === 0) return sent
    return sent.catch((error: unknown) => {
      if (!this.closed) this.#acks.push(...acks)
      throw error
    })
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
   *
   * A call with `timeout` 0 tries once: like any call that does not wait, a
   * server that does not answer it within the reply limit rejects it with
   * ConnectionError. Otherwise the limit counts from `timeout`, so the call
   * ends by its own timer and outcome.
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
    // A call that reaches here after close() began (started in the same tick, its attach check
    // came first; putMany's next batch) is not sent: the close function cancels on the server
    // only the calls beginClose() settled, so a waiter registered now would wait, or be handed
    // an item, for nobody. Calls that do not register a waiter still go (taskDone before close).
    if (this.closed) return Promise.reject(new ClosedError(`Cannot ${spec.what} ${this.what}: it was closed`))
    const waiterId = this.newWaiterId()
    const keepAlive = this.keepAlive()
    const { timeout, signal } = spec
    return new Promise<R>((resolve, reject) => {
      let cancelTimer = () => {}
      let done = false
      /** Why the caller gave up, once it did and a confirming cancel is on its way. */
      let givenUp: 'timeout' | 'abort' | undefined
      const finish = (outcome: Outcome<R>): boolean => {
        if (done || outcome === undefined) return false
        done = true
        this.#waiters.delete(waiterId)
        cancelTimer()
        signal?.removeEventListener('abort', onAbort)
        keepAlive()
        if ('value' in outcome) resolve(outcome.value)
        else reject(outcome.error)
        return true
      }
      const giveUp = (reason: 'timeout' | 'abort') => {
        if (done || givenUp !== undefined) return
        if (!spec.confirm) {
          finish(spec.onGiveUp(reason))
          // A cancel that cannot reach the server is retried by the next renew (#orphans).
          this.#cancel(waiterId).catch(() => {})
          return
        }
        givenUp = reason
        this.#waiters.delete(waiterId)
        cancelTimer()
        const grace = setTimeout(
          () =>
            finish({
              error: new TimeoutError(
                `Cannot ${spec.what} ${this.what}: the server did not answer within ${timeout === Number.POSITIVE_INFINITY ? CANCEL_GRACE_MS : timeout + CANCEL_GRACE_MS} ms, so it is unknown whether the item was put`,
              ),
            }),
          CANCEL_GRACE_MS,
        )
        cancelTimer = () => clearTimeout(grace)
        this.#cancel(waiterId).then(
          (answer) => {
            // Asked now, not at the give-up: the call's own reply came first (one socket, in order), so a
            // batch's count of items put is the server's (a reply after the timer fired included). A
            // call resent after the cancel (a library reload, a cluster redirect) finds the cancel's
            // tombstone and puts nothing, so its count of 0 is true too.
            if (answer === 'cancelled' || answer === 'gone') finish(spec.onGiveUp(reason))
            else finish(attempt(() => spec.onWake(answer, waiterId)))
          },
          // The cancel is an orphan now (the next renew sends it again). Its typed error says why:
          // ConnectionError (whether the item went in is unknown), NotFoundError (the queue is
          // gone), CorruptError (its keys are garbled). Anything else is reported as unknown.
          (error: unknown) =>
            finish({
              error:
                error instanceof IpcError
                  ? error
                  : new TimeoutError(
                      `Cannot ${spec.what} ${this.what}: the cancel of the wait failed (${error instanceof Error ? error.message : String(error)}), so it is unknown whether the item was put`,
                      { cause: error },
                    ),
            }),
        )
      }
      const onAbort = () => giveUp('abort')
      this.#waiters.set(waiterId, {
        wake: (what) => {
          if (done || givenUp !== undefined) return
          const outcome = attempt(() => spec.onWake(what, waiterId))
          if (!finish(outcome)) return
          // Kept: the server may forget it (the next call carries the ack). A wake-up the server's
          // functions never send (forged by a client that may PUBLISH) is no hand-over: the call
          // is cancelled now (a failed cancel is retried by the next renew), so the waiter leaves
          // the server and what is handed to it meanwhile goes back to the head of the queue; an
          // ack would leave it waiting, and lose the next item.
          if (outcome !== undefined && 'error' in outcome) this.#cancel(waiterId).catch(() => {})
          else this.#acks.push(waiterId)
        },
        fail: (error) => {
          if (finish({ error })) this.#orphans.push(waiterId)
        },
      })
      if (timeout !== 0) cancelTimer = afterTimeout(timeout, () => giveUp('timeout'))
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#call(spec.fn, spec.args(waiterId), { waits: timeout }).then(
        (raw) => {
          if (done) return
          const outcome = attempt(() => {
            const reply = replyArray(raw, spec.what)
            this.checkGone(reply, spec.what)
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
      reply = replyArray(await this.#call('cancel', [waiterId]), 'cancel')
    } catch (error) {
      // Unreachable, or refused (a server error): the next renew cancels it. Sending it again is
      // safe: a cancel that finds nothing leaves a tombstone, so the call never runs after it.
      this.#orphans.push(waiterId)
      throw error
    }
    switch (reply[0]) {
      case 'cancelled':
      case 'gone':
        return reply[0]
      case 'returned':
        return ['r']
      case 'handed':
        try {
          return handedFromServer(String(reply[1]), `an entry for ${this.what}`)
        } catch (error) {
          throw new CorruptError(`Redis sent an unexpected reply to cancel on ${this.what}`, { cause: error })
        }
      default:
        this.checkGone(reply, 'cancel')
        return unexpectedReply('cancel', reply)
    }
  }

  protected override onWake(message: string): void {
    const space = message.indexOf(' ')
    if (space === -1) return
    const waiter = this.#waiters.get(message.slice(0, space))
    if (waiter !== undefined) this.#hand(waiter, message.slice(space + 1), `a wake-up to ${this.what}`, 'wake-up')
  }

  /**
   * Wakes `waiter` with what the queue's Functions handed it (`text`: a
   * wake-up message, or an entry of the `handed` hash), or, when the text is
   * garbled or over the budget, fails its call with CorruptError (the entry
   * lapses). `described` and `kind` name the text in the error's cause and in
   * the error.
   */
  #hand(waiter: Waiter, text: string, described: string, kind: string): void {
    let what: unknown[]
    try {
      what = handedFromServer(text, described)
    } catch (error) {
      waiter.fail(new CorruptError(`Redis sent an unexpected ${kind} to ${this.what}`, { cause: error }))
      return
    }
    waiter.wake(what)
  }

  /** A lost socket, or the queue is gone: pending calls reject; their ids are cancelled after the reconnect. */
  protected override failWaiters(error: Error): void {
    for (const waiter of [...this.#waiters.values()]) waiter.fail(error)
  }

  /** Renews this object's lease and its calls' entries; cancels orphans; learns of lost wake-ups. */
  protected override async renew(): Promise<void> {
    if (!this.attached) return
    const orphans = this.#orphans
    this.#orphans = []
    const waiterIds = [...this.#waiters.keys()]
    let reply: unknown[]
    try {
      reply = replyArray(
        await this.#call('renew', [this.lease, orphans.length, ...orphans, ...waiterIds], { background: true }),
        'renew',
      )
      this.checkGone(reply, 'renew')
    } catch (error) {
      // Not cancelled: the next renewal sends them again.
      this.#orphans.push(...orphans)
      throw error
    }
    const pairs = replyArray(reply[0], 'renew')
    const gone = replyArray(reply[1], 'renew')
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const waiter = this.#waiters.get(String(pairs[i]))
      if (waiter !== undefined) this.#hand(waiter, String(pairs[i + 1]), `an entry for ${this.what}`, 'entry')
    }
    for (const entry of gone)
      this.#waiters
        .get(String(entry))
        ?.fail(
          new ConnectionError(
            `Cannot finish a call on ${this.what}: its wait lapsed on the server while this process was cut off for longer than ${this.lease} ms`,
          ),
        )
  }

  /**
   * Decodes the items a get was handed; a bad one is dropped and ends the
   * batch (the rest go back). The unget is not awaited: the get ends now,
   * within its timeout, whether or not the server answers it; calls this
   * process makes later go after it on the same socket, so they see the
   * items back. An unget that fails loses them (the get's entry lapses).
   * Only strings go back: anything else is not an item (it is dropped, as
   * the bad one is).
   */
  #decode(wires: readonly unknown[]): T[] {
    const items: T[] = []
    for (let i = 0; i < wires.length; i++) {
      try {
        items.push(fromWire(wires[i], this.what) as T)
      } catch (error) {
        const rest = wires.slice(i + 1).filter((wire): wire is string => typeof wire === 'string')
        if (rest.length > 0) this.#call('unget', rest).catch(() => {})
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
    progress: { put: number } = { put: 0 },
  ): Promise<PutResult> {
    // `progress.put`: how many of `wires` are in so far (a batch puts what fits, then waits for room
    // for the rest), also when the call then rejects (abort, close).
    return this.#wait<PutResult>({
      what: 'put to',
      fn: 'put',
      args: (waiterId) => [waiterId, this.lease, tryOnly || timeout === 0 ? 'try' : 'wait', ...wires],
      timeout,
      signal,
      confirm: true,
      onReply: (reply) => {
        const put = asCount(reply[1], 'put', wires.length)
        progress.put = put
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
            return { error: new CorruptError(`Redis refused item ${put} of a put to ${this.what} as too large`) }
          default:
            return unexpectedReply('put', reply)
        }
      },
      // The wake-up may come before the reply: it says itself how many items of the call are in.
      onWake: (what) => {
        if (what[0] === 'p') return { value: { status: 'ok', put: asCount(what[1], 'put', wires.length) } }
        if (what[0] === 's') return { value: { status: 'shutdown', put: asCount(what[1], 'put', wires.length) } }
        return unexpectedReply('put', what)
      },
      onGiveUp: (reason) =>
        reason === 'abort' ? { error: signal?.reason } : { value: { status: 'timeout', put: progress.put } },
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
   * @throws {RangeError} `item` is larger than 8 MiB encoded, a string as UTF-8 (nothing is put).
   * @throws {ConnectionError} The server cannot be reached, or the connection was lost (the item may or may not be in the queue).
   * @throws {ClosedError} after `close()`.
   * @example
   * ```ts
   * await queue.put('job-1', { timeout: 1000 })
   * ```
   */
  async put(item: T, options?: PutOptions): Promise<void> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    const wire = toWire(item)
    const left = (await this.enter('put to', signal, timeout)) ?? timeout
    if (left === false)
      throw new Full(`Cannot put to ${this.what}: not attached to the server${waited(timeout)}`, { item })
    const result = await this.#putWires([wire], left, signal, false)
    if (result.status === 'ok') return
    if (result.status === 'shutdown') throw new ShutDown(`Cannot put to ${this.what}: it was shut down`, { item })
    throw new Full(`Cannot put to ${this.what}: it is full${waited(timeout)}`, { item })
  }

  /**
   * Puts `item` if there is room now (one round trip), else rejects with `Full`.
   * @throws {Full} The queue is full (nothing was put).
   * @throws {ShutDown} after `shutdown()` (`.item`: the item).
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (the item may be in the queue).
   * @example
   * ```ts
   * await queue.putNowait('job-1').catch((error) => error.name) // 'Full' when there is no room
   * ```
   */
  async putNowait(item: T): Promise<void> {
    const wire = toWire(item)
    await this.enter('put to')
    const result = await this.#putWires([wire], 0, undefined, true)
    if (result.status === 'ok') return
    if (result.status === 'shutdown') throw new ShutDown(`Cannot put to ${this.what}: it was shut down`, { item })
    throw new Full(`Cannot put to ${this.what}: it is full`, { item })
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
   * @throws {RangeError} An item is larger than 8 MiB encoded, a string as UTF-8 (nothing is put).
   * @throws {ClosedError} after `close()`, also while the call waits for room (its message then says
   * how many of the items are known to be put: the first ones; while a round waited for the
   * server's answer, the server may have put more of them before the close).
   * @throws {TimeoutError} The server did not answer whether a round's items went in (the message
   * says how many the earlier rounds put).
   * @throws {ConnectionError} The server cannot be reached, or the connection was lost (the message
   * says how many the earlier rounds put; the last round's items may or may not be in the queue).
   * @example
   * ```ts
   * await queue.putMany(['a', 'b', 'c'])
   * ```
   */
  async putMany(items: Iterable<T>, options?: PutManyOptions): Promise<void> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    if (items === null || typeof (items as Iterable<T>)?.[Symbol.iterator] !== 'function')
      throw invalidArgType(`The items must be an array or another iterable, received ${typeof items}`)
    const values = Array.from(items)
    const wires = values.map((value) => toWire(value))
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout
    let done = 0
    /** `why`, and how many of the items went in (`fate`: what that count means). */
    const counted = (why: string, fate: string) => `${why}; the first ${done} of its ${values.length} items ${fate}`
    const rest = (why: string) => counted(why, 'were put, the rest are in .item')
    if ((await this.enter('put to', signal, timeout)) === false)
      throw new Full(rest(`Cannot put to ${this.what}: not attached to the server${waited(timeout)}`), { item: values })
    if (values.length === 0) {
      const state = await this.#state()
      if (state.shutdown) throw new ShutDown(rest(`Cannot put to ${this.what}: it was shut down`), { item: [] })
      return
    }
    while (done < wires.length) {
      // Closed before this round was sent (the close came during an await): the count is exact.
      if (this.closed)
        throw new ClosedError(
          done === 0
            ? `Cannot put to ${this.what}: it was closed`
            : counted(
                `Cannot put to ${this.what}: it was closed before the call's next round`,
                'were put, the rest were not',
              ),
        )
      const left = deadline === Number.POSITIVE_INFINITY ? deadline : Math.max(0, deadline - performance.now())
      let result: PutResult
      const progress = { put: 0 }
      try {
        result = await this.#putWires(wires.slice(done, done + MAX_BATCH), left, signal, false, progress)
      } catch (error) {
        // The items this round put before the abort or close stay in.
        done += progress.put
        if (done > 0 && error === signal?.reason)
          throw new Full(rest(`Cannot put to ${this.what}: the wait for room was aborted`), {
            item: values.slice(done),
            cause: error,
          })
        // Closed while this round waited for room: say how many went in as far as the replies read
        // say (a close that came before this round's reply cannot know; this object cannot put the rest).
        if (error instanceof ClosedError)
          throw new ClosedError(
            counted(
              `Cannot put to ${this.what}: it was closed while the call waited for room`,
              'are known to be put (the server may have put more of them before the close)',
            ),
            { cause: error },
          )
        // A later round whose outcome is unknown (no answer, a lost connection): the earlier rounds'
        // items are in, and the error says so (a caller that puts every item again doubles them).
        if (done > 0 && (error instanceof ConnectionError || error instanceof TimeoutError)) {
          const Same = error instanceof ConnectionError ? ConnectionError : TimeoutError
          // (The same class and cause as the round's error: only the message says more.)
          throw new Same(counted(error.message, 'were put before, whether the next ones were is unknown'), {
            cause: error.cause ?? error,
          })
        }
        throw error
      }
      done += result.put
      if (result.status === 'shutdown')
        throw new ShutDown(rest(`Cannot put to ${this.what}: it was shut down`), { item: values.slice(done) })
      if (result.status !== 'ok')
        throw new Full(rest(`Cannot put to ${this.what}: it is full${waited(timeout)}`), {
          item: values.slice(done),
        })
    }
  }

  /** What `get`, `getNowait` and `getMany` share, from the wait for the attach on. */
  async #take(max: number, timeout: number, signal: AbortSignal | undefined): Promise<T[]> {
    const left = (await this.enter('get from', signal, timeout)) ?? timeout
    if (left === false) throw new Empty(`Cannot get from ${this.what}: not attached to the server${waited(timeout)}`)
    const count = Math.min(max, MAX_BATCH)
    return this.#wait<unknown[] | 'empty' | 'shutdown'>({
      what: 'get from',
      fn: 'get',
      args: (waiterId) => [waiterId, this.lease, timeout === 0 ? 'try' : 'wait', count],
      timeout: left,
      signal,
      confirm: false,
      onReply: (reply, waiterId) => {
        switch (reply[0]) {
          case 'items': {
            const wires = replyArray(reply[1], 'get')
            if (wires.length < 1 || wires.length > count) unexpectedReply('get', reply)
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
            return unexpectedReply('get', reply)
        }
      },
      onWake: (what) => {
        if (what[0] === 's') return { value: 'shutdown' }
        if (what[0] !== 'i' || what.length < 2 || what.length > count + 1) return unexpectedReply('get', what)
        return { value: what.slice(1) }
      },
      onGiveUp: (reason) => (reason === 'abort' ? { error: signal?.reason } : { value: 'empty' }),
    }).then((taken) => {
      if (taken === 'empty') throw new Empty(`Cannot get from ${this.what}: it is empty${waited(timeout)}`)
      if (taken === 'shutdown') throw new ShutDown(`Cannot get from ${this.what}: it was shut down and is empty`)
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
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    return (await this.#take(1, timeout, signal))[0] as T
  }

  /**
   * Removes and returns the oldest item if there is one now (one round trip), else rejects with `Empty`.
   * @throws {Empty} The queue is empty.
   * @throws {ShutDown} The queue was shut down and is empty.
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (an item handed later goes back to the head).
   * @example
   * ```ts
   * await queue.getNowait().catch((error) => error.name) // 'Empty' when there is no item
   * ```
   */
  async getNowait(): Promise<T> {
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
    const { timeout, signal } = checkWaitOptions(options, GET_MANY_OPTIONS)
    const max = checkMax(options?.max)
    return this.#take(max, timeout, signal)
  }

  async #state(): Promise<{ size: number; shutdown: boolean; unfinished: number; maxsize: number }> {
    await this.enter('read')
    const reply = replyArray(await this.#call('state', []), 'state')
    this.checkGone(reply, 'read')
    if (reply[0] !== 'ok') unexpectedReply('state', reply)
    return {
      size: asCount(reply[1], 'state', Number.MAX_SAFE_INTEGER),
      shutdown: replyFlag(reply, 2, 'state'),
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
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (it may still shut down).
   * @example
   * ```ts
   * await queue.shutdown() // consumers drain what is left, then their loops end
   * ```
   */
  async shutdown(options?: { immediate?: boolean }): Promise<void> {
    checkOptionsObject(options, SHUTDOWN_OPTIONS)
    const immediate = options?.immediate ?? false
    if (typeof immediate !== 'boolean')
      throw invalidArgType(`The "immediate" option must be a boolean, received ${typeof immediate}`)
    await this.enter('shut down')
    const reply = replyArray(await this.#call('shutdown', [immediate ? 1 : 0]), 'shutdown')
    this.checkGone(reply, 'shut down')
    if (reply[0] !== 'ok') unexpectedReply('shutdown', reply)
  }

  /** JoinableQueue: marks one task done on the server. */
  protected async taskDoneCall(): Promise<void> {
    await this.enter('mark a task done on')
    const reply = replyArray(await this.#call('task_done', []), 'taskDone')
    this.checkGone(reply, 'mark a task done on')
    if (reply[0] === 'over')
      throw new ValueError(`Cannot call taskDone() on ${this.what}: it was called more times than items were put`)
    if (reply[0] !== 'ok') unexpectedReply('taskDone', reply)
  }

  /** JoinableQueue: waits until no task is unfinished. */
  protected async joinCall(options: JoinOptions | undefined): Promise<boolean> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    const left = (await this.enter('join', signal, timeout)) ?? timeout
    if (left === false) return false
    return this.#wait<boolean>({
      what: 'join',
      fn: 'join',
      args: (waiterId) => [waiterId, this.lease, timeout === 0 ? 'try' : 'wait'],
      timeout: left,
      signal,
      confirm: false,
      onReply: (reply) => {
        if (reply[0] === 'done') return { value: true }
        if (reply[0] === 'pending') return { value: false }
        if (reply[0] === 'queued') return undefined
        return unexpectedReply('join', reply)
      },
      onWake: (what) => (what[0] === 'j' ? { value: true } : unexpectedReply('join', what)),
      onGiveUp: (reason) => (reason === 'abort' ? { error: signal?.reason } : { value: false }),
    })
  }

  /** JoinableQueue: the unfinished count on the server. */
  protected async unfinishedCount(): Promise<number> {
    return (await this.#state()).unfinished
  }

  /**
   * As `close()` begins: pending calls reject with `ClosedError` (an item a
   * pending get had been handed goes back to the head; a waiting put puts
   * nothing). The close function cancels them and the orphans on the server.
   */
  protected override beginClose(): (string | number)[] {
    for (const waiter of [...this.#waiters.values()])
      waiter.fail(new ClosedError(`Cannot finish a call on ${this.what}: it was closed`))
    const acks = this.#takeAcks()
    return [acks.length, ...acks, ...this.#orphans.splice(0)]
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

  /** `maxsize`, and `waiting`: this object's pending calls (the server's counts need `qsize()`). */
  protected override inspectFields(): Record<string, unknown> {
    return this.closed ? { maxsize: this.#maxsize } : { maxsize: this.#maxsize, waiting: this.#waiters.size }
  }
}
