/**
 * RedisSemaphoreBase: what the four Redis classes (Semaphore,
 * BoundedSemaphore, Lock, RLock) share: attaching by name, leases renewed
 * while this object lives, waiting without polling (a FIFO queue on the
 * server, woken by pub/sub), permits with fencing tokens, close and unlink.
 * The server side is library.ts.
 *
 * Client state (this object only): `#held`, the tokens it holds (renewed
 * every lease/3); `#waiters`, its queued acquires by waiter id. A grant
 * arrives as a wake-up message, or, if that message was lost (a reconnect),
 * in the reply of the next renew, so no grant is missed and none is taken
 * twice (a token already held is ignored). A grant for a waiter that gave up
 * (timeout, abort) is released at once.
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
import { checkWaitOptions, deadlineOf, TRANSFER } from '@ipc/core/internal'
import { attachFailure, attachReply, RedisConnection, redactUrl, redisKey } from '@ipc/core/redis'
import { KEY_PARTS, SEMAPHORE_LIBRARY } from './library.js'
import type { RedisAcquireOptions } from './options.js'
import { Permit } from './permit.js'

/** The kinds of Redis semaphore (the `kind` field in the meta hash and the handle). */
export type RedisKind = 'semaphore' | 'bounded-semaphore' | 'lock' | 'rlock'

/** The `.handle` of a Redis semaphore or lock: JSON; `X.from(handle)` attaches anywhere. */
export interface RedisSemaphoreHandle {
  kind: RedisKind
  name: string
  /** The server's URL (as given, credentials included: treat the handle as a secret when it has any). */
  url: string
  /** Lease of this object's permits, ms. */
  lease: number
  /**
   * Present (true) when the handle was taken before its creator's create
   * reached the server: `from()` then waits up to 5 s for the name to appear
   * instead of reporting it missing at once.
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
  /** Initial free permits, the bound (0: none), persistent, reclaim: used when creating. */
  value: number
  bound: number
  persistent: boolean
  reclaim: boolean
  /** `from()` a handle taken while its creator was still creating: a missing name is waited for (CREATOR_WAIT_MS). */
  awaitCreator?: boolean
}

interface Waiter {
  /** Resolves with the token, or false (timeout, try). */
  settle(token: number | false): void
  fail(error: unknown): void
}

/** Largest value and release count (as for the shared-memory classes). */
export const MAX_VALUE = 8388607

const LABELS: Record<RedisKind, string> = {
  semaphore: 'semaphore',
  'bounded-semaphore': 'bounded semaphore',
  lock: 'lock',
  rlock: 'rlock',
}

let objectCount = 0

/** Guards the reply of a function against anything the library never sends. */
function corrupt(what: string, reply: unknown): never {
  throw new CorruptError(`Redis sent an unexpected reply to ${what}: ${inspect(reply, { depth: 2 }).slice(0, 200)}`)
}

function asToken(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) corrupt(what, value)
  return value
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) corrupt(what, value)
  return value
}

/**
 * The part the four Redis classes share. Not exported; use the classes.
 */
export abstract class RedisSemaphoreBase implements AsyncDisposable {
  readonly #kind: RedisKind
  readonly #className: string
  readonly #module: string
  readonly #name: string
  readonly #url: string
  readonly #lease: number
  readonly #keys: string[]
  readonly #objectId: string
  readonly #connection: RedisConnection
  readonly #ready: Promise<void>
  #created = false
  #persistent = false
  /** False until this object's create or open reached the server (see `handle`). */
  #attached = false
  readonly #creating: boolean
  /** Tokens this object holds, oldest first. */
  readonly #held: number[] = []
  readonly #permits = new Map<number, Permit>()
  /** RLock: how many times this object acquired without releasing. */
  #depth = 0
  readonly #waiters = new Map<string, Waiter>()
  #waiterCount = 0
  #heartbeat: NodeJS.Timeout | undefined
  #settleTimer: NodeJS.Timeout | undefined
  #closed = false
  #fault: Error | undefined
  readonly #unsubscribe: (() => void)[] = []
  #connectionHeld = true

  protected constructor(kind: RedisKind, className: string, module: string, spec: AttachSpec) {
    this.#kind = kind
    this.#className = className
    this.#module = module
    this.#name = spec.name
    this.#url = spec.url
    this.#lease = spec.lease
    this.#keys = KEY_PARTS.map((part) => redisKey(spec.name, part))
    this.#creating = spec.mode !== 'open'
    this.#connection = RedisConnection.acquire(spec.url)
    this.#objectId = `${this.#connection.clientId}/${++objectCount}`
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

  /** The name any process opens it by (`X.open(name)`). */
  get name(): string {
    return this.#name
  }

  /** The server's URL, without its password. */
  get url(): string {
    return redactUrl(this.#url)
  }

  /** How long a permit outlives its holder's last renewal, ms. */
  get lease(): number {
    return this.#lease
  }

  /** A small plain JSON object; `X.from(handle)` attaches to the same semaphore in any process, on any machine. */
  get handle(): RedisSemaphoreHandle {
    const handle: RedisSemaphoreHandle = { kind: this.#kind, name: this.#name, url: this.#url, lease: this.#lease }
    if (this.#creating && !this.#attached) handle.creating = true
    return handle
  }

  /** True when this object created the semaphore (known once `ready()` resolved). */
  get created(): boolean {
    return this.#created
  }

  /** True when the semaphore stays on the server until `unlink()` (known once `ready()` resolved). */
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
   * @throws {ExistsError} `new X({ name })` found the name taken.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async ready(): Promise<this> {
    await this.#ready
    return this
  }

  async #attach(spec: AttachSpec): Promise<void> {
    const args = [spec.mode, spec.value, spec.bound, spec.persistent ? 1 : 0, spec.reclaim ? 1 : 0]
    // A handle taken before its creator's create landed: the name may appear within CREATOR_WAIT_MS.
    const reply = await attachReply(
      async () => asArray(await this.#call('ipc_sem_create', args), 'create'),
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
    this.#heartbeat = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.#lease / 3)))
    this.#heartbeat.unref()
  }

  get #label(): string {
    return LABELS[this.#kind]
  }

  /** Calls a library function with this semaphore's keys and the arguments every function takes first. */
  #call(fn: string, args: (string | number)[]): Promise<unknown> {
    return this.#connection.call(
      SEMAPHORE_LIBRARY,
      fn,
      this.#keys,
      [this.#kind, this.#objectId, this.#lease * 3, ...args],
      { deadline: Number.POSITIVE_INFINITY },
    )
  }

  /** Throws the error a reply of 'missing' or 'incompatible' stands for (the keys were removed or replaced). */
  #checkGone(reply: unknown[], what: string): void {
    if (reply[0] === 'missing') {
      this.#fault ??= new NotFoundError(
        `Cannot ${what} ${this.#label} "${this.#name}": it no longer exists on the server (unlinked, or every object was gone for longer than 3 leases)`,
      )
      throw this.#fault
    }
    if (reply[0] === 'corrupt') {
      this.#fault ??= new CorruptError(
        `Cannot ${what} ${this.#label} "${this.#name}": its state on the server breaks its layout's rules (${String(reply[1])})`,
      )
      throw this.#fault
    }
    if (reply[0] === 'incompatible') {
      this.#fault ??= new IncompatibleError(
        `Cannot ${what} ${this.#label} "${this.#name}": its name now holds a ${String(reply[1])}`,
      )
      throw this.#fault
    }
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot ${what} ${this.#label} "${this.#name}": it was closed`)
    if (this.#fault !== undefined) throw this.#fault
  }

  /**
   * Waits for a permit; resolves its token, or `false` when `timeout`
   * passed or (`try`) none was free. The waiter is registered before the
   * call, since the wake-up may come before the reply.
   */
  protected async takeToken(
    options: RedisAcquireOptions | undefined,
    tryOnly: boolean,
    reenter?: number,
  ): Promise<number | false> {
    const { timeout, signal } = checkWaitOptions(options)
    this.#assertOpen('acquire')
    if (signal?.aborted) throw signal.reason
    await this.#ready
    this.#assertOpen('acquire')
    if (signal?.aborted) throw signal.reason
    const deadline = deadlineOf(timeout)
    const waiterId = `${this.#objectId}/${++this.#waiterCount}`
    const mode = tryOnly || timeout === 0 ? 'try' : 'wait'
    const keepAlive = this.#connection.keepAlive()
    return new Promise<number | false>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      let done = false
      const finish = () => {
        done = true
        this.#waiters.delete(waiterId)
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        keepAlive()
      }
      // Gave up while the server may have queued or granted: cancel, and give back a grant.
      const giveUp = (settle: () => void) => {
        if (done) return
        finish()
        settle()
        if (mode === 'wait') void this.#cancel(waiterId)
      }
      const onAbort = () => giveUp(() => reject(signal?.reason))
      const waiter: Waiter = {
        settle: (token) => {
          if (done) {
            if (token !== false) void this.#giveBack(token)
            return
          }
          finish()
          if (token !== false) this.#hold(token)
          resolve(token)
        },
        fail: (error) => {
          if (done) return
          finish()
          reject(error)
        },
      }
      this.#waiters.set(waiterId, waiter)
      if (timeout !== Number.POSITIVE_INFINITY && timeout !== 0)
        timer = setTimeout(() => giveUp(() => resolve(false)), Math.max(0, deadline - performance.now()))
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#call('ipc_sem_acquire', [waiterId, this.#lease, mode, reenter ?? '']).then(
        (raw) => {
          const reply = asArray(raw, 'acquire')
          try {
            this.#checkGone(reply, 'acquire')
          } catch (error) {
            waiter.fail(error)
            return
          }
          switch (reply[0]) {
            case 'granted':
              waiter.settle(asToken(reply[1], 'acquire'))
              return
            case 'reentered':
              if (done) void this.#giveBack(asToken(reply[1], 'acquire'))
              else {
                this.#depth++
                finish()
                resolve(asToken(reply[1], 'acquire'))
              }
              return
            case 'busy':
              waiter.settle(false)
              return
            case 'queued':
              // The grant comes as a wake-up message (or in a renew's reply if that message is lost).
              return
            default:
              corrupt('acquire', reply)
          }
        },
        (error: unknown) => waiter.fail(error),
      )
    })
  }

  #hold(token: number): void {
    if (!this.#held.includes(token)) this.#held.push(token)
    if (this.#kind === 'lock' || this.#kind === 'rlock') this.#depth = 1
  }

  /** Cancels a waiter on the server; a grant that came meanwhile is given back. */
  async #cancel(waiterId: string): Promise<void> {
    try {
      const reply = asArray(await this.#call('ipc_sem_cancel', [waiterId]), 'cancel')
      if (reply[0] === 'granted') await this.#giveBack(asToken(reply[1], 'cancel'))
    } catch {
      // Unreachable server: the queue entry and any grant lapse within one lease.
    }
  }

  /** Releases a token this object was granted but does not keep (nobody waits for it any more). */
  async #giveBack(token: number): Promise<void> {
    if (this.#held.includes(token)) return
    try {
      await this.#call('ipc_sem_release', [1, token])
    } catch {
      // The lease lapses by itself.
    }
  }

  #onWake(message: string): void {
    const [waiterId, tokenText] = message.split(' ')
    const token = Number(tokenText)
    if (waiterId === undefined || !Number.isSafeInteger(token) || token < 0) return
    const waiter = this.#waiters.get(waiterId)
    if (token === 0) {
      // A nudge: a permit is free and this waiter is first in the queue; claim it.
      if (waiter !== undefined) void this.#claim(waiterId, waiter)
      return
    }
    if (waiter !== undefined) waiter.settle(token)
    else if (!this.#closed) void this.#giveBack(token)
  }

  /** Takes the free permit a nudge announced (a newcomer may have taken it first: then wait on). */
  async #claim(waiterId: string, waiter: Waiter): Promise<void> {
    try {
      const reply = asArray(await this.#call('ipc_sem_acquire', [waiterId, this.#lease, 'claim', '']), 'claim')
      this.#checkGone(reply, 'acquire')
      if (reply[0] === 'granted') waiter.settle(asToken(reply[1], 'claim'))
      else if (reply[0] !== 'queued' && reply[0] !== 'gone') corrupt('claim', reply)
    } catch (error) {
      waiter.fail(error)
    }
  }

  /** A lost socket: pending acquires reject (the server drops their entries within a lease). */
  #failWaiters(error: Error): void {
    for (const waiter of [...this.#waiters.values()]) waiter.fail(error)
  }

  /** Renews after `ms` (the next lease end): a holder that died gives its permit to the queue then. */
  #scheduleSettle(ms: number): void {
    if (this.#settleTimer !== undefined) clearTimeout(this.#settleTimer)
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined
      void this.#renew()
    }, ms)
    this.#settleTimer.unref()
  }

  /** Renews this object's leases and queue entries, and learns of grants whose wake-up was lost. */
  async #renew(): Promise<void> {
    if (this.#closed || this.#fault !== undefined) return
    try {
      await this.#renewOnce()
    } catch (error) {
      // Unreachable, or a passing server error (LOADING after a restart): the next renewal tries again.
      if (!(error instanceof NotFoundError || error instanceof IncompatibleError || error instanceof CorruptError))
        return
      // Gone, replaced or garbled: this object is unusable from now on (close() still works).
      this.#fault ??= error
      this.#failWaiters(error)
    }
  }

  async #renewOnce(): Promise<void> {
    const waiterIds = [...this.#waiters.keys()]
    const tokens = [...this.#held]
    const reply = asArray(
      await this.#call('ipc_sem_renew', [this.#lease, waiterIds.length, ...waiterIds, ...tokens]),
      'renew',
    )
    this.#checkGone(reply, 'renew')
    const [granted, lost, gone, nextEnd] = reply
    const pairs = asArray(granted, 'renew')
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const waiter = this.#waiters.get(String(pairs[i]))
      const token = asToken(pairs[i + 1], 'renew')
      if (waiter !== undefined) waiter.settle(token)
    }
    for (const entry of asArray(lost, 'renew')) this.#lose(Number(entry))
    for (const entry of asArray(gone, 'renew')) {
      // Its queue entry lapsed (the connection was down for a lease): the acquire fails.
      this.#waiters
        .get(String(entry))
        ?.fail(
          new ConnectionError(
            `Cannot acquire ${this.#label} "${this.#name}": the wait lapsed on the server while the connection was down`,
          ),
        )
    }
    if (typeof nextEnd !== 'number') corrupt('renew', reply)
    if (this.#waiters.size > 0 && nextEnd >= 0 && nextEnd < this.#lease) this.#scheduleSettle(nextEnd + 2)
  }

  /** The lease of `token` lapsed: it is no longer held. */
  #lose(token: number): void {
    const index = this.#held.indexOf(token)
    if (index !== -1) this.#held.splice(index, 1)
    if (this.#kind === 'lock' || this.#kind === 'rlock') this.#depth = 0
    this.#permits
      .get(token)
      ?.lose(
        new ConnectionError(
          `The lease of permit ${token} of ${this.#label} "${this.#name}" lapsed: this process was cut off from Redis for longer than ${this.#lease} ms`,
        ),
      )
    this.#permits.delete(token)
  }

  /**
   * Gives back `n` permits: `tokens` (held by this object, at most `n`)
   * first, then new ones (Semaphore), in one atomic call. Returns the RLock
   * depth left.
   */
  protected async releaseTokens(tokens: readonly number[], n: number): Promise<number> {
    this.#assertOpen('release')
    await this.#ready
    const reply = asArray(await this.#call('ipc_sem_release', [n, ...tokens]), 'release')
    this.#checkGone(reply, 'release')
    const isLock = this.#kind === 'lock' || this.#kind === 'rlock'
    switch (reply[0]) {
      case 'ok': {
        const depth = typeof reply[1] === 'number' ? reply[1] : corrupt('release', reply)
        if (depth === 0) for (const token of tokens) this.#forget(token)
        if (isLock) this.#depth = depth
        return depth
      }
      case 'lost':
        for (const token of tokens) this.#lose(token)
        throw new ValueError(
          `Cannot release ${this.#label} "${this.#name}": its lease lapsed (this process was cut off from Redis for longer than ${this.#lease} ms) and another holder may have it`,
        )
      case 'not-owner':
        throw new ValueError(`Cannot release ${this.#label} "${this.#name}": this object does not hold it`)
      case 'over-bound':
        throw new ValueError(
          `Cannot release ${this.#label} "${this.#name}": it would exceed its initial value ${String(reply[1])} (released more times than acquired)`,
        )
      case 'over-max':
        throw new ValueError(
          `Cannot release ${this.#label} "${this.#name}" by ${n}: its value would exceed ${MAX_VALUE}`,
        )
      default:
        return corrupt('release', reply)
    }
  }

  #forget(token: number): void {
    const index = this.#held.indexOf(token)
    if (index !== -1) this.#held.splice(index, 1)
    this.#permits.delete(token)
  }

  /** Tokens this object holds, oldest first. */
  protected get heldTokens(): readonly number[] {
    return this.#held
  }

  /** RLock: the depth of this object's hold. */
  protected get depth(): number {
    return this.#depth
  }

  /** Makes a Permit of `token` (already held). */
  protected makePermit(token: number): Permit {
    const permit = new Permit(token, async () => {
      if (this.#closed) return
      await this.releaseTokens([token], 1)
    })
    this.#permits.set(token, permit)
    return permit
  }

  /** The server's counters: free permits, RLock depth, holders, waiters. */
  protected async readState(): Promise<{ free: number; depth: number; holders: number; waiting: number }> {
    this.#assertOpen('read')
    await this.#ready
    const reply = asArray(await this.#call('ipc_sem_value', []), 'value')
    this.#checkGone(reply, 'read')
    const [status, free, depth, holders, waiting] = reply
    if (
      status !== 'ok' ||
      typeof free !== 'number' ||
      free < 0 ||
      free > MAX_VALUE ||
      typeof depth !== 'number' ||
      typeof holders !== 'number' ||
      typeof waiting !== 'number'
    )
      corrupt('value', reply)
    return { free, depth, holders, waiting }
  }

  /** Throws TimeoutError when `acquire` resolved false (for `permit`/`withPermit`). */
  protected timeoutError(options: RedisAcquireOptions | undefined): TimeoutError {
    return new TimeoutError(
      `Cannot get a permit of ${this.#label} "${this.#name}": none was free within ${options?.timeout} ms`,
    )
  }

  /**
   * Detaches this object: gives back the permits it holds, rejects its
   * pending acquires with `ClosedError`, and stops renewing. The last
   * object to close removes a non-persistent semaphore from the server.
   * Idempotent.
   * @throws {ConnectionError} The server cannot be reached (the permits then lapse after `lease`).
   */
  async close(): Promise<void> {
    if (this.#closed) return
    const waiterIds = [...this.#waiters.keys()]
    const tokens = [...this.#held]
    for (const waiter of [...this.#waiters.values()])
      waiter.fail(new ClosedError(`Cannot acquire ${this.#label} "${this.#name}": it was closed`))
    this.#closed = true
    for (const permit of this.#permits.values()) permit.lose(new ClosedError(`The ${this.#label} was closed`))
    this.#permits.clear()
    this.#held.length = 0
    try {
      // Never attached (the attach failed): nothing to give back.
      const attached = await this.#ready.then(
        () => true,
        () => false,
      )
      if (attached) await this.#call('ipc_sem_close', [waiterIds.length, ...waiterIds, ...tokens])
    } catch (error) {
      if (error instanceof ConnectionError) throw error
      // Already gone from the server (unlinked): nothing to give back.
    } finally {
      this.#closeLocally()
    }
  }

  #closeLocally(): void {
    this.#closed = true
    this.#releaseConnection()
  }

  /** Stops renewing and gives the shared connection back (idempotent). */
  #releaseConnection(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    if (this.#settleTimer !== undefined) clearTimeout(this.#settleTimer)
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
   * Removes the semaphore from the server now: later `X.open(name)` fail
   * (or create anew), and objects still attached fail with `NotFoundError`.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async unlink(): Promise<void> {
    await this.#ready.catch(() => {})
    // Its own reference: unlink() also works after close().
    const connection = RedisConnection.acquire(this.#url)
    try {
      await connection.call(SEMAPHORE_LIBRARY, 'ipc_sem_unlink', this.#keys, [], {
        deadline: Number.POSITIVE_INFINITY,
      })
    } finally {
      connection.release()
    }
  }

  /** How `Process` revives this object in a child (the class is found by module and export name). */
  [TRANSFER](): { module: string; export: string; handle: RedisSemaphoreHandle } {
    return { module: this.#module, export: this.#className, handle: this.handle }
  }

  /** `Semaphore { name: 'jobs', url: 'redis://…', held: 1, waiting: 0 }`: local state (the server's needs `getValue()`). */
  [inspect.custom](_depth: number, options: object): string {
    const fields: Record<string, unknown> = { name: this.#name, url: this.url }
    if (this.#closed) fields.closed = true
    else {
      fields.held = this.#held.length
      fields.waiting = this.#waiters.size
    }
    return `${this.#className} (Redis) ${inspect(fields, options)}`
  }
}
