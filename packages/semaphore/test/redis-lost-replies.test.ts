/**
 * @ipc/semaphore/redis when a grant's reply is lost: the server ran the
 * acquire (or handed a queued waiter a permit) and the connection dropped
 * before the reply (or the wake-up) reached the client, so the call rejected
 * with ConnectionError. A proxy (startDelayingProxy) holds the server's
 * replies, then cuts every socket, as a network would; the client connects
 * again through it. The grant nobody saw goes back once the object is
 * connected again (its next renewal asks for it), long before its lease (30 s
 * here) could lapse, and also without `reclaim` (which drops a lapsed one).
 */
import { describeWithRedis, elapsed, startDelayingProxy, uniqueName } from '@ipc/test-utils'
import { expect, it, vi } from 'vitest'
import { ConnectionError, Lock, RLock, Semaphore } from '../src/redis/index.js'

/** Long enough that a lapse cannot be what frees a permit within a test. */
const LEASE = 30_000
/** How soon the permit must be free again: a reconnect (50 ms), a renewal and a release, on a loaded machine. */
const BACK_WITHIN = 5000

describeWithRedis('@ipc/semaphore/redis grants whose reply was lost', (server) => {
  /** Semaphore `name` (value 1, no reclaim) through a new proxy (`sem`) and straight to the server (`other`). */
  async function semaphoreBehindProxy() {
    const name = uniqueName()
    const proxy = await startDelayingProxy(server().url)
    const sem = await Semaphore.open(name, { url: proxy.url, lease: LEASE, create: { value: 1, reclaim: false } })
    const other = await Semaphore.open(name, { url: server().url, lease: LEASE })
    return { proxy, sem, other }
  }

  /** Holds the replies, runs `call`, and cuts the connection as `text` (its grant) comes back: `call` rejects. */
  async function loseReply(
    proxy: Awaited<ReturnType<typeof startDelayingProxy>>,
    text: string,
    call: () => Promise<unknown>,
  ) {
    proxy.delay('replies', 60_000)
    const granted = proxy.arrival('replies', text)
    const outcome = elapsed(call())
    await granted
    proxy.cut()
    proxy.delay('replies', 0)
    expect((await outcome).outcome).toBeInstanceOf(ConnectionError)
  }

  it('gives back a permit granted in an acquire() whose reply was lost, without waiting for its lease (reclaim: false)', {
    timeout: 20_000,
  }, async () => {
    const { proxy, sem, other } = await semaphoreBehindProxy()
    await loseReply(proxy, 'granted', () => sem.acquire())
    // The server granted it: nobody has it, and without reclaim a lapse would drop it for good.
    const { ms, outcome } = await elapsed(other.acquire({ timeout: BACK_WITHIN }))
    expect(outcome).toBe(true)
    expect(ms).toBeLessThan(BACK_WITHIN)
    await other.release()
    // The object works again, and the count is whole: one permit.
    expect(await sem.acquire({ timeout: BACK_WITHIN })).toBe(true)
    expect(await other.tryAcquire()).toBe(false)
    await sem.release()
    expect(await other.getValue()).toBe(1)
    await Promise.all([sem.close(), other.close()])
  })

  it('gives back a Lock taken by a tryAcquire() whose reply was lost', { timeout: 20_000 }, async () => {
    const name = uniqueName()
    const proxy = await startDelayingProxy(server().url)
    const lock = await Lock.open(name, { url: proxy.url, lease: LEASE, create: true })
    const other = await Lock.open(name, { url: server().url, lease: LEASE })
    await loseReply(proxy, 'granted', () => lock.tryAcquire())
    expect(await other.acquire({ timeout: BACK_WITHIN })).toBe(true)
    expect(lock.owned).toBe(false)
    expect(await lock.tryAcquire()).toBe(false)
    await other.release()
    expect(await lock.acquire({ timeout: BACK_WITHIN })).toBe(true)
    await lock.release()
    await Promise.all([lock.close(), other.close()])
  })

  it('gives back a permit handed to a queued acquire() whose wake-up was lost with the connection', {
    timeout: 20_000,
  }, async () => {
    const { proxy, sem, other } = await semaphoreBehindProxy()
    expect(await other.acquire()).toBe(true)
    const queued = proxy.arrival('replies', 'queued')
    const waiting = elapsed(sem.acquire())
    await queued
    // The release hands the permit to the waiter; its wake-up message is held, then cut.
    proxy.delay('replies', 60_000)
    const woken = proxy.arrival('replies', ' 2\r\n')
    await other.release()
    await woken
    proxy.cut()
    proxy.delay('replies', 0)
    expect((await waiting).outcome).toBeInstanceOf(ConnectionError)
    const { ms, outcome } = await elapsed(other.acquire({ timeout: BACK_WITHIN }))
    expect(outcome).toBe(true)
    expect(ms).toBeLessThan(BACK_WITHIN)
    expect(await sem.tryAcquire()).toBe(false)
    await other.release()
    expect(await sem.getValue()).toBe(1)
    await Promise.all([sem.close(), other.close()])
  })

  it('leaves an RLock at one level, as lock.level shows, after a re-entry whose reply was lost; one more release frees it', {
    timeout: 20_000,
  }, async () => {
    const name = uniqueName()
    const proxy = await startDelayingProxy(server().url)
    const lock = await RLock.open(name, { url: proxy.url, lease: LEASE, create: true })
    const other = await RLock.open(name, { url: server().url, lease: LEASE })
    // Re-entered inside the holder's own scope; the server counted it, the holder did not. Its
    // release as the scope ends leaves one level, and its reply says so.
    await lock.withLock(async () => {
      await loseReply(proxy, 'reentered', () => lock.acquire())
      expect(lock.level).toBe(1)
      // Connected again (a call made during the reconnect rejects) before the scope's release.
      await vi.waitFor(async () => expect(await lock.locked()).toBe(true), { timeout: BACK_WITHIN, interval: 50 })
    })
    expect(lock.level).toBe(1)
    expect(lock.owned).toBe(true)
    expect(await other.tryAcquire()).toBe(false)
    await lock.release()
    expect(lock.level).toBe(0)
    expect(await other.acquire({ timeout: BACK_WITHIN })).toBe(true)
    await other.release()
    await Promise.all([lock.close(), other.close()])
  })
})
