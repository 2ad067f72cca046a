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
import { redisKey } from '@ipc/core/redis'
import { describeWithRedis, elapsed, sleep, startDelayingProxy, uniqueName } from '@ipc/test-utils'
import { expect, it, vi } from 'vitest'
import { ClosedError, ConnectionError, Lock, RLock, Semaphore } from '../src/redis/index.js'

/** Long enough that a lapse cannot be what frees a permit within a test. */
const LEASE = 30_000
/** How soon the permit must be free again: a reconnect (50 ms), a renewal and a release, on a loaded machine. */
const BACK_WITHIN = 5000

describeWithRedis('@ipc/semaphore/redis grants whose reply was lost', (server) => {
  /** Semaphore `name` (`value`, no reclaim) through a new proxy (`sem`) and straight to the server (`other`). */
  async function semaphoreBehindProxy(value = 1) {
    const name = uniqueName()
    const proxy = await startDelayingProxy(server().url)
    const sem = await Semaphore.open(name, { url: proxy.url, lease: LEASE, create: { value, reclaim: false } })
    const other = await Semaphore.open(name, { url: server().url, lease: LEASE })
    /** The holders members on the server now, `<token>|<object>`. */
    const holders = async () => {
      const reply = await server().bulk(
        'EVAL',
        "return table.concat(redis.call('ZRANGE', KEYS[1], 0, -1), ',')",
        '1',
        redisKey(name, 'holders'),
      )
      return (reply.split('\r\n')[1] ?? '').split(',').filter((entry) => entry.includes('|'))
    }
    return { proxy, sem, other, holders }
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

  /**
   * `other` takes the permit, `wait()` queues on `sem`, and `other`'s release hands it the permit
   * (token 2) while the replies are held, its wake-up message among them. Returns the wait.
   */
  async function handOffWithWakeUpHeld<T>(
    { proxy, other }: Awaited<ReturnType<typeof semaphoreBehindProxy>>,
    wait: () => Promise<T>,
  ): Promise<{ waiting: Promise<T> }> {
    expect(await other.acquire()).toBe(true)
    const queued = proxy.arrival('replies', 'queued')
    const waiting = wait()
    await queued
    // Past its 2 ms of barging, the release hands the permit to the waiter (a younger one would be
    // nudged to claim it).
    await sleep(20)
    proxy.delay('replies', 60_000)
    const woken = proxy.arrival('replies', ' 2\r\n')
    await other.release()
    await woken
    return { waiting }
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
    const pair = await semaphoreBehindProxy()
    const { proxy, sem, other } = pair
    const { waiting } = await handOffWithWakeUpHeld(pair, () => elapsed(sem.acquire()))
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

  it("enters an RLock again with no server call, so a cut connection loses no re-entry's answer: the holder's releases free it", {
    timeout: 20_000,
  }, async () => {
    const name = uniqueName()
    const proxy = await startDelayingProxy(server().url)
    const lock = await RLock.open(name, { url: proxy.url, lease: LEASE, create: true })
    const other = await RLock.open(name, { url: server().url, lease: LEASE })
    await lock.withLock(async () => {
      // Replies held, then every socket cut: a re-entry sent to the server would be lost with them.
      proxy.delay('replies', 60_000)
      const reentered = await lock.acquire({ timeout: 1000 })
      proxy.cut()
      proxy.delay('replies', 0)
      expect(reentered).toBe(true)
      expect(await lock.tryAcquire()).toBe(true)
      expect(lock.level).toBe(3)
      await lock.release()
      await lock.release()
      expect(lock.level).toBe(1)
      // Connected again (a call made during the reconnect rejects) before the scope's release.
      await vi.waitFor(async () => expect(await lock.locked()).toBe(true), { timeout: BACK_WITHIN, interval: 50 })
      expect(await other.tryAcquire()).toBe(false)
    })
    // The scope's release was the last: free at once, not a level left held.
    expect(lock.level).toBe(0)
    expect(lock.owned).toBe(false)
    expect(await other.tryAcquire()).toBe(true)
    await other.release()
    await Promise.all([lock.close(), other.close()])
  })

  it("gives back a permit handed to a waiter that timed out, when its wake-up and its cancel's reply were both lost", {
    timeout: 20_000,
  }, async () => {
    const pair = await semaphoreBehindProxy()
    const { proxy, sem, other } = pair
    const { waiting } = await handOffWithWakeUpHeld(pair, () => sem.acquire({ timeout: 1000 }))
    // The waiter times out, its cancel finds the grant, and that reply is held too; then the cut.
    const cancelled = proxy.arrival('replies', 'granted')
    expect(await waiting).toBe(false)
    await cancelled
    proxy.cut()
    proxy.delay('replies', 0)
    expect(await other.acquire({ timeout: BACK_WITHIN })).toBe(true)
    await other.release()
    expect(await sem.getValue()).toBe(1)
    await Promise.all([sem.close(), other.close()])
  })

  it('asks again when the release that gives an orphan back is lost in a second cut', { timeout: 20_000 }, async () => {
    const { proxy, sem, other } = await semaphoreBehindProxy()
    const renewed = proxy.arrival('requests', 'semaphore_renew')
    await loseReply(proxy, 'granted', () => sem.acquire())
    await renewed
    // The renewal after the reconnect finds the orphan; its give-back is held, then cut.
    proxy.delay('requests', 60_000)
    await proxy.arrival('requests', 'semaphore_release')
    proxy.cut()
    proxy.delay('requests', 0)
    expect(await other.acquire({ timeout: BACK_WITHIN })).toBe(true)
    await other.release()
    await Promise.all([sem.close(), other.close()])
  })

  it('gives orphans back while the object keeps acquiring: 128 tasks that try for a permit without pause', {
    timeout: 30_000,
  }, async () => {
    // The orphans are the very permits the tasks want, so an acquire is always in flight.
    const { proxy, sem, other, holders } = await semaphoreBehindProxy(4)
    let running = true
    const task = async () => {
      while (running) {
        try {
          const permit = await sem.permit({ timeout: 0 }).catch((error: unknown) => {
            if (error instanceof ConnectionError) throw error
          })
          await permit?.release()
        } catch {
          await sleep(10)
        }
      }
    }
    const tasks = Array.from({ length: 128 }, task)
    await sleep(300)
    proxy.delay('replies', 60_000)
    await proxy.arrival('replies', 'granted')
    proxy.cut()
    proxy.delay('replies', 0)
    await sleep(50)
    const orphans = await holders()
    expect(orphans.length).toBeGreaterThan(0)
    // Every member seen just after the cut is gone within BACK_WITHIN while the tasks run on.
    const { outcome } = await elapsed(
      vi.waitFor(
        async () => {
          const now = await holders()
          expect(orphans.filter((entry) => now.includes(entry))).toEqual([])
        },
        { timeout: BACK_WITHIN, interval: 100 },
      ),
    )
    running = false
    await Promise.all(tasks)
    expect(outcome).toBeUndefined()
    expect(await other.getValue()).toBe(4)
    await Promise.all([sem.close(), other.close()])
  })

  it('gives the orphans back when close() comes after the renew found them, before the acquires in flight settled', {
    timeout: 20_000,
  }, async () => {
    const { proxy, sem, other, holders } = await semaphoreBehindProxy(2)
    const renewed = proxy.arrival('requests', 'semaphore_renew')
    await loseReply(proxy, 'granted', () => sem.acquire())
    // The renewal after the reconnect asks for orphans. Its reply (naming orphan 1, granted in a
    // reply: waiter '') is held 200 ms; a tryAcquire sent once the server ran it is in flight when
    // that reply comes, its own reply held 3 s. The close comes between.
    await renewed
    proxy.delay('replies', 200)
    await proxy.arrival('replies', ':1\r\n$0\r\n')
    proxy.delay('replies', 3000)
    const trying = elapsed(sem.tryAcquire())
    await sleep(400)
    await sem.close()
    // The close rejected it: the server's grant (token 2) went back with the close, as the orphan did.
    expect((await trying).outcome).toBeInstanceOf(ClosedError)
    expect(await holders()).toEqual([])
    expect(await other.getValue()).toBe(2)
    await other.close()
  })

  it('gives back a permit whose release() was lost in a cut: the object no longer renews it', {
    timeout: 20_000,
  }, async () => {
    const { proxy, sem, other } = await semaphoreBehindProxy()
    const permit = await sem.permit()
    // The release never reaches the server: its request is held, then cut.
    proxy.delay('requests', 60_000)
    const sent = proxy.arrival('requests', 'semaphore_release')
    const releasing = elapsed(permit.release())
    await sent
    proxy.cut()
    proxy.delay('requests', 0)
    expect((await releasing).outcome).toBeInstanceOf(ConnectionError)
    expect(permit.released).toBe(true)
    expect(await other.acquire({ timeout: BACK_WITHIN })).toBe(true)
    await other.release()
    expect(await other.getValue()).toBe(1)
    await Promise.all([sem.close(), other.close()])
  })

  it('gives back what a lost release() named, and the next release() gives back a permit still held', {
    timeout: 20_000,
  }, async () => {
    const { proxy, sem, other } = await semaphoreBehindProxy(2)
    expect(await sem.acquire()).toBe(true)
    expect(await sem.acquire()).toBe(true)
    // The release (of token 2, the newest) never reaches the server: held, then cut.
    proxy.delay('requests', 60_000)
    const sent = proxy.arrival('requests', 'semaphore_release')
    const releasing = elapsed(sem.release())
    await sent
    proxy.cut()
    proxy.delay('requests', 0)
    expect((await releasing).outcome).toBeInstanceOf(ConnectionError)
    // Not retried: the object gives token 2 back itself once connected again.
    await vi.waitFor(async () => expect(await other.getValue()).toBe(1), { timeout: BACK_WITHIN, interval: 50 })
    // Its next release names token 1, the one it still holds.
    await sem.release()
    expect(await other.getValue()).toBe(2)
    await Promise.all([sem.close(), other.close()])
  })
})
