/**
 * @ipc/semaphore/redis when a reply comes late although the server ran the
 * call in time: a proxy (startDelayingProxy) holds the server's replies, so
 * the holder's renewals still reach the server and its lease never lapses
 * (a stopped server would let it lapse, and a test would then prove the
 * lapse, not the undo). An RLock re-entry the holder gave up on, by its
 * timeout or by the reply limit, is undone with one release: the holder's
 * own release then frees the lock.
 */
import { redisKey } from '@ipc/core/redis'
import { describeWithRedis, elapsed, startDelayingProxy, uniqueName } from '@ipc/test-utils'
import { expect, it, vi } from 'vitest'
import { ConnectionError, RLock } from '../src/redis/index.js'

/** How late a timeout or a reply limit may end on a loaded machine. */
const SLACK = 1000
/** The reply limit of a call that does not wait (the reply limit, redisLimits.reply: the lease, 5000 here, is not longer). */
const LIMIT = 5000

describeWithRedis('@ipc/semaphore/redis replies that come late', (server) => {
  /** The re-entry count of RLock `name` on the server (its meta hash's depth; 0: free). */
  async function serverDepth(name: string): Promise<number> {
    const reply = await server().bulk('HGET', redisKey(name, 'meta'), 'depth')
    return Number(/^\$\d+\r\n(\d+)\r\n/.exec(reply)?.[1])
  }

  /** RLock `name`, opened through a new proxy (`lock`, lease `lease`) and straight to the server (`other`). */
  async function lockBehindProxy(lease: number) {
    const name = uniqueName()
    const proxy = await startDelayingProxy(server().url)
    const lock = await RLock.open(name, { url: proxy.url, lease, create: true })
    const other = await RLock.open(name, { url: server().url })
    return { name, proxy, lock, other }
  }

  /** The lock is free: `other` takes it at once; then both close. */
  async function expectFreeAndClose({ name, lock, other }: Awaited<ReturnType<typeof lockBehindProxy>>) {
    expect(await serverDepth(name)).toBe(0)
    expect(await other.tryAcquire()).toBe(true)
    await other.release()
    await Promise.all([lock.close(), other.close()])
  }

  it('undoes an RLock re-entry whose reply comes after acquire({ timeout }) resolved false: the holder keeps one level', {
    timeout: 20_000,
  }, async () => {
    // A long lease: nothing lapses however late the replies come.
    const pair = await lockBehindProxy(30_000)
    const { name, proxy, lock, other } = pair
    await lock.withLock(async () => {
      proxy.delay('replies', 400)
      const reentered = proxy.arrival('replies', 'reentered')
      const { ms, outcome } = await elapsed(lock.acquire({ timeout: 100 }))
      expect(outcome).toBe(false)
      expect(ms).toBeLessThan(100 + SLACK)
      await reentered
      proxy.delay('replies', 0)
      // The server did re-enter, in time; its reply was held past the call's timeout.
      expect(await serverDepth(name)).toBe(2)
      await proxy.drained()
      await vi.waitFor(async () => expect(await serverDepth(name)).toBe(1), { timeout: 3000, interval: 20 })
      expect(lock.level).toBe(1)
      expect(await other.tryAcquire()).toBe(false)
    })
    // withLock's one release frees it: another object takes it at once.
    await expectFreeAndClose(pair)
  })

  it('undoes it too when the holder released before the late reply came: the lock is free and the holder knows it', {
    timeout: 20_000,
  }, async () => {
    const pair = await lockBehindProxy(30_000)
    const { name, proxy, lock, other } = pair
    // The usual shape: give up inside the scope, and let withLock release. That release reaches
    // the server before the late 'reentered' reply reaches the holder (2 levels become 1), and
    // its reply, held behind, says a level is left; the undo that follows leaves none.
    await lock.withLock(async () => {
      proxy.delay('replies', 400)
      expect(await lock.acquire({ timeout: 100 })).toBe(false)
    })
    proxy.delay('replies', 0)
    await proxy.drained()
    await vi.waitFor(async () => expect(await serverDepth(name)).toBe(0), { timeout: 3000, interval: 20 })
    expect(await other.tryAcquire()).toBe(true)
    await other.release()
    await vi.waitFor(() => expect(lock.owned).toBe(false), { timeout: 3000, interval: 20 })
    expect(lock.level).toBe(0)
    expect(await lock.tryAcquire()).toBe(true)
    await lock.release()
    expect(lock.owned).toBe(false)
    await expectFreeAndClose(pair)
  })

  it('undoes an RLock re-entry whose reply comes after tryAcquire() rejected at the reply limit (the late hook), with the lease kept', {
    timeout: 30_000,
  }, async () => {
    // The shortest lease with the shortest limit (5 s), renewed every 1.67 s. One renewal is in
    // flight at most, so one whose reply were held for the limit would let the lease lapse (the
    // next would go out a whole lease after it): the replies are held only while the acquire's
    // reply comes in, just after a renewal, so the next renewal goes out later and its reply,
    // held behind the acquire's, still comes within its own limit.
    const pair = await lockBehindProxy(LIMIT)
    const { name, proxy, lock, other } = pair
    await lock.withLock(async () => {
      // Just after a renewal whose reply is in (one round trip on the same socket after it): the
      // next one is 1.67 s away. A round trip slowed past 500 ms by a loaded machine waits for the next.
      for (;;) {
        await proxy.arrival('requests', 'semaphore_renew')
        const seen = performance.now()
        expect(await lock.locked()).toBe(true)
        if (performance.now() - seen < 500) break
      }
      proxy.delay('replies', LIMIT + 300)
      const reentered = proxy.arrival('replies', 'reentered')
      const call = elapsed(lock.tryAcquire())
      await reentered
      proxy.delay('replies', 0)
      const { ms, outcome } = await call
      expect(outcome).toBeInstanceOf(ConnectionError)
      expect((outcome as Error).message).toMatch(`did not answer within ${LIMIT} ms`)
      expect(ms).toBeGreaterThan(LIMIT - 500)
      expect(ms).toBeLessThan(LIMIT + SLACK)
      // The server re-entered in time; the reply is still held.
      expect(await serverDepth(name)).toBe(2)
      await proxy.drained()
      await vi.waitFor(async () => expect(await serverDepth(name)).toBe(1), { timeout: 3000, interval: 20 })
      // The lease did not lapse: the holder still holds it, one level.
      expect(lock.owned).toBe(true)
      expect(lock.level).toBe(1)
      expect(await other.tryAcquire()).toBe(false)
    })
    await expectFreeAndClose(pair)
  })
})
