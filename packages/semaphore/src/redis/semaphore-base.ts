/**
 * RedisSemaphoreBase: what the four Redis classes (Semaphore,
 * BoundedSemaphore, Lock, RLock) share on top of RedisObject (attach,
 * heartbeat, close, unlink: @ipc/core/redis): waiting without polling (a
 * FIFO queue on the server, woken by pub/sub), permits with fencing tokens,
 * and the leases of held permits, renewed with the object. The server side
 * is library.ts.
 *
 * Client state (this object only): `#held`, the tokens it holds (renewed
 * every lease/3); `#waiters`, its queued acquires by waiter id. A grant
 * arrives as a wake-up message, or, if that message was lost (a reconnect),
 * in the reply of the next renew, so no grant is missed and none is taken
 * twice (a token already held is ignored). A grant for a waiter that gave up
 * (timeout, abort) is released at once.
 *
 * A grant whose reply was lost (the connection dropped after the server ran
 * the acquire, or a queued waiter's wake-up, or a cancel's or give-back's
 * reply with it) is an orphan: the server holds it for this object, which
 * does not know it. After such a loss the next renew asks the server for
 * this object's grants it did not name (`#orphanCheck`), and once every
 * acquire or claim that was in flight when its reply came has settled here,
 * one handed to a waiter still here settles it and any other goes back. Why
 * that is safe: a call sent after the reply came ran on the server after the
 * renew, so none of these grants is its; a call sent before may have been
 * granted one (its reply on the way: a resend after a library reload or a
 * Cluster redirect can even run after later calls), and once it settled it
 * holds that token or its waiter is done (a done waiter gives back whatever
 * comes). So a token given back is one nobody here holds or will.
 */
import { ClosedError, ConnectionError, TimeoutError, ValueError } from '@ipc/core'
import { afterTimeout, checkWaitOptions, deadlineOf, WAIT_OPTIONS } from '@ipc/core/internal'
import {
  type RedisAttachSpec,
  type RedisHandle,
  RedisObject,
  replyArray,
  replyFlag,
  unexpectedReply,
} from '@ipc/core/redis'
import { HANDOFF_MS, KEY_PARTS, SEMAPHORE_LIBRARY } from './library.js'
import type { RedisAcquireOptions } from './options.js'
import { Permit } from './permit.js'

/** The kinds of Redis semaphore (the `kind` field in the meta hash and the handle). */
export type RedisKind = 'semaphore' | 'bounded-semaphore' | 'lock' | 'rlock'

/** The `.handle` of a Redis semaphore or lock: JSON; `X.from(handle)` attaches anywhere. */
export interface RedisSemaphoreHandle extends RedisHandle {
  kind: RedisKind
}

/** How an object attaches. */
export interface AttachSpec extends RedisAttachSpec {
  /** Initial free permits, the bound (0: none), persistent, reclaim: used when creating. */
  value: number
  bound: number
  persistent: boolean
  reclaim: boolean
}

interface Waiter {
  /** Resolves with the token, or false (timeout, try). */
  settle(token: number | false): void
  fail(error: unknown): void
  /** performance.now() time its timeout ends (Infinity: none). */
  deadline: number
  /** A claim planned for when this waiter's 2 ms of barging are up (see library.ts, Fairness). */
  claimTimer?: NodeJS.Timeout
}

/** Largest value and release count (as for the shared-memory classes). */
export const MAX_VALUE = 8388607

/** The most orphan grants one renew names (library.ts MAX_ORPHANS); more wait for the next renew. */
const MAX_ORPHANS = 1000

/** A grant of this object that it did not know of, and the waiter it was handed to ('': in a reply). */
interface Orphan {
  token: number
  waiterId: string
}

/** The orphans field of a renew's reply, `[token, waiter or '', …]`; CorruptError for anything else. */
function orphanList(field: unknown): Orphan[] {
  const flat = replyArray(field, 'renew')
  if (flat.length % 2 !== 0 || flat.length > 2 * MAX_ORPHANS) unexpectedReply('renew', field)
  const found: Orphan[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const waiterId = flat[i + 1]
    if (typeof waiterId !== 'string') unexpectedReply('renew', field)
    found.push({ token: asToken(flat[i], 'renew'), waiterId })
  }
  return found
}

const LABELS: Record<RedisKind, string> = {
  semaphore: 'semaphore',
  'bounded-semaphore': 'bounded semaphore',
  lock: 'lock',
  rlock: 'rlock',
}

function asToken(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) unexpectedReply(what, value)
  return value
}

/**
 * The part the four Redis classes share. Not exported; use the classes.
 */
export abstract class RedisSemaphoreBase extends RedisObject {
  /** Tokens this object holds, oldest first. */
  readonly #held: number[] = []
  readonly #permits = new Map<number, Permit>()
  /** Tokens named by releases in flight, with how many name each (a user may release one twice). */
  readonly #releasing = new Map<number, number>()
  readonly #waiters = new Map<string, Waiter>()
  /** Acquire and claim calls sent and not yet settled here: each resolves once its reply or failure was handled. */
  readonly #granting = new Set<Promise<void>>()
  /** Losses so far that may have left an orphan grant (a lost socket, a failed acquire, cancel or give-back); only grows. */
  #losses = 0
  /** `#losses` when the renew of the last check that ran was sent: every loss up to it was looked for. */
  #lossesChecked = 0

  protected constructor(kind: RedisKind, className: string, module: string, spec: AttachSpec) {
    super(
      {
        kind,
        label: LABELS[kind],
        className,
        module,
        library: SEMAPHORE_LIBRARY,
        keyParts: KEY_PARTS,
        idPrefix: '',
        functions: { create: 'create', close: 'close', unlink: 'unlink' },
        replyWithinLease: false,
        waits: true,
      },
      spec,
      [spec.mode, spec.value, spec.bound, spec.persistent ? 1 : 0, spec.reclaim ? 1 : 0],
    )
  }

  /** A small plain JSON object; `X.from(handle)` attaches to the same semaphore in any process, on any machine. */
  override get handle(): RedisSemaphoreHandle {
    return super.handle as RedisSemaphoreHandle
  }

  /** Create reply: `[status, persistent]`. */
  protected override readAttach(reply: unknown[]): boolean {
    return replyFlag(reply, 1, 'create')
  }

  /**
   * Waits for a permit; resolves its token, or `false` when `timeout`
   * passed or (`try`) none was free. The waiter is registered before the
   * call, since the wake-up may come before the reply.
   */
  protected async takeToken(options: RedisAcquireOptions | undefined, tryOnly: boolean): Promise<number | false> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    const deadline = deadlineOf(timeout)
    const attaching = this.enter('acquire', signal, timeout)
    // Not attached within the timeout: no acquire was sent, so none can be granted later.
    if (attaching !== undefined && (await attaching) === false) return false
    const waiterId = this.newWaiterId()
    const mode = tryOnly || timeout === 0 ? 'try' : 'wait'
    const keepAlive = this.keepAlive()
    return new Promise<number | false>((resolve, reject) => {
      let cancelTimer = () => {}
      let done = false
      const finish = () => {
        done = true
        this.#waiters.delete(waiterId)
        cancelTimer()
        if (waiter.claimTimer !== undefined) clearTimeout(waiter.claimTimer)
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
        deadline,
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
      if (timeout !== 0) cancelTimer = afterTimeout(deadline - performance.now(), () => giveUp(() => resolve(false)))
      signal?.addEventListener('abort', onAbort, { once: true })
      const onReply = (raw: unknown) => {
        // A reply that breaks the protocol (a garbled meta hash, a hostile server) fails this
        // acquire with CorruptError; nothing else may see the throw (an unhandled rejection).
        try {
          this.#onAcquireReply(raw, waiter)
        } catch (error) {
          waiter.fail(error)
        }
      }
      // A try gets the reply limit; a wait gets it after its timeout. A reply after that (the call
      // rejected with ConnectionError, so it is done) still goes through onReply: a grant is given back.
      this.#grantingCall(
        'acquire',
        [waiterId, this.lease, mode],
        mode === 'try' ? 0 : Math.max(0, deadline - performance.now()),
        onReply,
        (error) => waiter.fail(error),
      )
    })
  }

  /**
   * Sends acquire call `fn` (an acquire or a claim: the server may grant in
   * it), kept in `#granting` until its reply or error was handled; `late`
   * also gets a reply that comes after the call's limit. A ConnectionError
   * may have lost a grant's reply: the next renew looks for orphans.
   */
  #grantingCall(
    fn: string,
    args: (string | number)[],
    waits: number,
    onReply: (raw: unknown) => void,
    onError: (error: unknown) => void,
  ): void {
    // One reaction per call (this is the acquire's hot path): each handler takes the call out of
    // `#granting` as it starts, and `handled` settles once it has run (a check waiting on it then
    // sees the token held, or the waiter done).
    const handled: Promise<void> = this.call(fn, args, { waits, late: onReply }).then(
      (raw) => {
        this.#granting.delete(handled)
        onReply(raw)
      },
      (error: unknown) => {
        this.#granting.delete(handled)
        if (error instanceof ConnectionError) this.#losses++
        onError(error)
      },
    )
    this.#granting.add(handled)
  }

  /**
   * The reply of an acquire call: settles `waiter` (a token granted after the
   * caller gave up is given back); throws CorruptError for a reply outside
   * the protocol.
   */
  #onAcquireReply(raw: unknown, waiter: Waiter): void {
    const reply = replyArray(raw, 'acquire')
    this.checkGone(reply, 'acquire')
    switch (reply[0]) {
      case 'granted':
        waiter.settle(asToken(reply[1], 'acquire'))
        return
      case 'busy':
        waiter.settle(false)
        return
      case 'queued':
        // The grant comes as a wake-up message (or in a renew's reply if that message is lost).
        return
      default:
        unexpectedReply('acquire', reply)
    }
  }

  #hold(token: number): void {
    if (!this.#held.includes(token)) this.#held.push(token)
  }

  /** Cancels a waiter on the server; a grant that came meanwhile (in time or late) is given back. */
  async #cancel(waiterId: string): Promise<void> {
    const onReply = async (raw: unknown) => {
      const reply = replyArray(raw, 'cancel')
      if (reply[0] === 'granted') await this.#giveBack(asToken(reply[1], 'cancel'))
    }
    try {
      await onReply(await this.call('cancel', [waiterId], { late: (raw) => void onReply(raw).catch(() => {}) }))
    } catch {
      // Unreachable server: the queue entry lapses within one lease; a grant is an orphan, given
      // back after the reconnect (see the top of this file).
      this.#losses++
    }
  }

  /** Releases a token this object was granted but does not keep (nobody waits for it any more). */
  async #giveBack(token: number): Promise<void> {
    if (this.#held.includes(token)) return
    try {
      await this.call('release', [1, token])
    } catch {
      // Unreachable: an orphan, given back after the reconnect (see the top of this file).
      this.#losses++
    }
  }

  protected override onWake(message: string): void {
    const [waiterId, tokenText, bar] = message.split(' ')
    const token = Number(tokenText)
    if (waiterId === undefined || !Number.isSafeInteger(token) || token < 0) return
    const waiter = this.#waiters.get(waiterId)
    if (token === 0) {
      // A nudge: a permit is free and this waiter is first in the queue; claim it, unless every
      // permit free then was granted since (bar: see library.ts, Fairness).
      if (waiter !== undefined) this.#claim(waiterId, waiter, bar ?? '')
      return
    }
    if (waiter !== undefined) waiter.settle(token)
    else if (!this.closed) void this.#giveBack(token)
  }

  /**
   * Takes the free permit a nudge announced (`bar`, from the nudge: the
   * server refuses the claim once every permit free then was granted since,
   * a holder that loops). A newcomer may have taken it first: then this
   * waiter waits on, and claims again (unconditionally) when the reply says
   * its barging window ends (a release after that hands the permit over; the
   * planned claim covers a holder that does not release again).
   */
  #claim(waiterId: string, waiter: Waiter, bar = ''): void {
    const onReply = (raw: unknown) => {
      try {
        const reply = replyArray(raw, 'claim')
        this.checkGone(reply, 'acquire')
        if (reply[0] === 'granted') waiter.settle(asToken(reply[1], 'claim'))
        else if (reply[0] === 'queued') {
          const left = reply[1]
          // Our server code never asks for more than HANDOFF_MS (a larger wait, past 2^31 ms, would
          // be a 1 ms timer: a claim every millisecond).
          if (typeof left !== 'number' || !(left <= HANDOFF_MS)) unexpectedReply('claim', reply)
          if (left > 0 && this.#waiters.get(waiterId) === waiter) {
            if (waiter.claimTimer !== undefined) clearTimeout(waiter.claimTimer)
            waiter.claimTimer = setTimeout(() => {
              waiter.claimTimer = undefined
              if (this.#waiters.get(waiterId) === waiter) this.#claim(waiterId, waiter)
            }, left + 1)
          }
        } else if (reply[0] !== 'gone') unexpectedReply('claim', reply)
      } catch (error) {
        waiter.fail(error)
      }
    }
    // Part of the acquire's wait: its reply limit counts from the acquire's timeout, so a server that
    // stops answering ends the acquire by that timeout (false); a grant that comes after the limit
    // goes through onReply too, and `settle` gives it back (the waiter is done by then).
    const waits = Math.max(0, waiter.deadline - performance.now())
    this.#grantingCall('acquire', [waiterId, this.lease, 'claim', bar], waits, onReply, (error) => waiter.fail(error))
  }

  /** A lost socket, or the semaphore is gone: pending acquires reject (the server drops their entries within a lease). */
  protected override failWaiters(error: Error): void {
    // A permit may have been handed to a queued waiter, its wake-up lost with the socket, or to a
    // waiter that gave up, its cancel's reply lost.
    this.#losses++
    for (const waiter of [...this.#waiters.values()]) waiter.fail(error)
  }

  /**
   * Renews this object's leases and queue entries, and learns of grants
   * whose wake-up was lost; while it waits, renews again at the next lease
   * end (a holder that died gives its permit to the queue then).
   */
  protected override async renew(): Promise<void> {
    const waiterIds = [...this.#waiters.keys()]
    const tokens = [...this.#held]
    // A loss before this renew goes out left its orphan on the server by then (the grant ran before
    // the loss was seen), so this renew's list has it.
    const losses = this.#losses
    const orphans = losses > this.#lossesChecked
    const reply = replyArray(
      await this.call('renew', [this.lease, orphans ? 1 : 0, waiterIds.length, ...waiterIds, ...tokens], {
        background: true,
      }),
      'renew',
    )
    this.checkGone(reply, 'renew')
    const [granted, lost, gone, nextEnd, , orphaned] = reply
    const pairs = replyArray(granted, 'renew')
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const waiter = this.#waiters.get(String(pairs[i]))
      const token = asToken(pairs[i + 1], 'renew')
      if (waiter !== undefined) waiter.settle(token)
    }
    for (const entry of replyArray(lost, 'renew')) this.#lose(Number(entry))
    for (const entry of replyArray(gone, 'renew')) {
      // Its queue entry lapsed (the connection was down for a lease): the acquire fails.
      this.#waiters
        .get(String(entry))
        ?.fail(
          new ConnectionError(
            `Cannot acquire ${this.what}: the wait lapsed on the server while the connection was down`,
          ),
        )
    }
    if (typeof nextEnd !== 'number') unexpectedReply('renew', reply)
    if (orphans) {
      const found = orphanList(orphaned)
      // Calls sent from now on run after this renew on the server: only those in flight now may
      // have been granted one of these.
      void Promise.allSettled(this.#granting).then(() => this.#orphanCheck(found, losses))
    }
    if (this.#waiters.size > 0 && nextEnd >= 0 && nextEnd < this.lease) this.renewIn(nextEnd + 2)
  }

  /**
   * Settles or gives back `found`, this object's grants that a renew found
   * and did not name, once the acquires and claims in flight when its reply
   * came have settled (see the top of this file): a grant handed to a
   * waiter still here settles it; any other goes back (a token held by now
   * stays: `#giveBack`).
   */
  #orphanCheck(found: readonly Orphan[], losses: number): void {
    // Closed meanwhile: the losses not yet checked made the close give them back.
    if (this.closed) return
    for (const { token, waiterId } of found) {
      const waiter = waiterId === '' ? undefined : this.#waiters.get(waiterId)
      if (waiter !== undefined) waiter.settle(token)
      else void this.#giveBack(token)
    }
    // The losses up to `losses` are checked (a later one keeps the next renews asking), unless the
    // list was full (the server names MAX_ORPHANS at most). A high-water mark, never a reset: a
    // check that ends after a later one, or losses that reach the same count again, cannot hide one.
    if (found.length < MAX_ORPHANS) this.#lossesChecked = Math.max(this.#lossesChecked, losses)
  }

  /** The lease of `token` lapsed: it is no longer held. */
  #lose(token: number): void {
    const index = this.#held.indexOf(token)
    if (index !== -1) this.#held.splice(index, 1)
    this.#permits
      .get(token)
      ?.lose(
        new ConnectionError(
          `The lease of permit ${token} of ${this.what} lapsed: this process was cut off from Redis for longer than ${this.lease} ms`,
        ),
      )
    this.#permits.delete(token)
  }

  /**
   * Gives back `n` permits: `tokens` (held by this object, at most `n`)
   * first, then new ones (Semaphore), in one atomic call.
   */
  protected async releaseTokens(tokens: readonly number[], n: number): Promise<void> {
    // Marked before any await, so that a release() made meanwhile picks other tokens (see releasableTokens).
    for (const token of tokens) this.#releasing.set(token, (this.#releasing.get(token) ?? 0) + 1)
    try {
      return await this.#releaseTokens(tokens, n)
    } catch (error) {
      // Not known to have reached the server (a lost socket, no answer, a refusal): the caller gave
      // these tokens up either way, so this object stops renewing them, and they become orphans,
      // given back after the reconnect (or, if the release did land, already gone). The caller must
      // not release again: a retry could add the permits twice (documented).
      if (error instanceof ConnectionError) {
        for (const token of tokens) this.#forget(token)
        this.#losses++
      }
      throw error
    } finally {
      for (const token of tokens) {
        const left = (this.#releasing.get(token) ?? 1) - 1
        if (left > 0) this.#releasing.set(token, left)
        else this.#releasing.delete(token)
      }
    }
  }

  async #releaseTokens(tokens: readonly number[], n: number): Promise<void> {
    this.assertOpen('release')
    if (!this.attached) await this.ready()
    const reply = replyArray(await this.call('release', [n, ...tokens]), 'release')
    this.checkGone(reply, 'release')
    switch (reply[0]) {
      case 'ok':
        // The depth left: 0 (a lock's release frees it; an RLock counts its levels in the client).
        if (reply[1] !== 0) unexpectedReply('release', reply)
        for (const token of tokens) this.#forget(token)
        return
      case 'lost':
        for (const token of tokens) this.#lose(token)
        throw new ValueError(
          `Cannot release ${this.what}: its lease lapsed (this process was cut off from Redis for longer than ${this.lease} ms) and another holder may have it`,
        )
      case 'not-owner':
        throw new ValueError(`Cannot release ${this.what}: this object does not hold it`)
      case 'over-bound':
        throw new ValueError(
          `Cannot release ${this.what}: it would exceed its initial value ${String(reply[1])} (released more times than acquired)`,
        )
      case 'over-max':
        throw new ValueError(`Cannot release ${this.what} by ${n}: its value would exceed ${MAX_VALUE}`)
      default:
        return unexpectedReply('release', reply)
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

  /**
   * Tokens this object holds that no release in flight names, oldest first:
   * two `release()` calls made at once give back two tokens (picking the
   * same one, the second would free nothing, and the other token would stay
   * held, renewed for good).
   */
  protected get releasableTokens(): number[] {
    return this.#releasing.size === 0 ? [...this.#held] : this.#held.filter((token) => !this.#releasing.has(token))
  }

  /** Makes a Permit of `token` (already held). */
  protected makePermit(token: number): Permit {
    const permit = new Permit(token, async () => {
      if (this.closed) return
      await this.releaseTokens([token], 1)
    })
    this.#permits.set(token, permit)
    return permit
  }

  /** The server's counters: free permits, a lock's depth, holders, waiters. */
  protected async readState(): Promise<{ free: number; depth: number; holders: number; waiting: number }> {
    this.assertOpen('read')
    await this.ready()
    const reply = replyArray(await this.call('value', []), 'value')
    this.checkGone(reply, 'read')
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
      unexpectedReply('value', reply)
    return { free, depth, holders, waiting }
  }

  /** Throws TimeoutError when `acquire` resolved false (for `permit`/`withPermit`). */
  protected timeoutError(options: RedisAcquireOptions | undefined): TimeoutError {
    return new TimeoutError(`Cannot get a permit of ${this.what}: none was free within ${options?.timeout} ms`)
  }

  /**
   * As `close()` begins: rejects pending acquires with `ClosedError` and
   * drops the permits this object holds; the close function gives them back
   * (and removes the waiters' queue entries) on the server.
   */
  protected override beginClose(): (string | number)[] {
    const waiterIds = [...this.#waiters.keys()]
    const tokens = [...this.#held]
    for (const waiter of [...this.#waiters.values()])
      waiter.fail(new ClosedError(`Cannot acquire ${this.what}: it was closed`))
    for (const permit of this.#permits.values()) permit.lose(new ClosedError(`The ${this.label} was closed`))
    this.#permits.clear()
    this.#held.length = 0
    // After a lost reply the server also gives back the grants this object never learnt of.
    return [this.#losses > this.#lossesChecked ? 1 : 0, waiterIds.length, ...waiterIds, ...tokens]
  }

  /** `held` and `waiting`: this object's permits and queued acquires (the server's counts need `getValue()`). */
  protected override inspectFields(): Record<string, unknown> {
    return this.closed ? {} : { held: this.#held.length, waiting: this.#waiters.size }
  }
}
