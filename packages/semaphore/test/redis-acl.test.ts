/**
 * @ipc/semaphore/redis as a user the server's ACL limits to the `ipc:*` keys
 * and channels (the rules the docs give): grants, a waiter woken by a
 * release (a message on an ipc:* channel), an RLock entered again inside its withLock.
 */
import { RLock, Semaphore } from '@ipc/semaphore/redis'
import { aclUser, describeWithRedis } from '@ipc/test-utils'
import { expect, it } from 'vitest'

describeWithRedis('@ipc/semaphore/redis under an ACL user', (server) => {
  it('works with only the ipc:* keys and channels', { timeout: 30_000 }, async () => {
    const url = await aclUser(server(), 'app', 'app-secret')
    const pool = await new Semaphore(1, { url }).ready()
    await pool.acquire()
    const waiting = pool.acquire({ timeout: 5000 })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await pool.release()
    expect(await waiting).toBe(true)
    await pool.release()
    expect(await pool.getValue()).toBe(1)
    await pool.close()

    const lock = await new RLock({ url }).ready()
    // Entered again from inside its own withLock scope; free once both end.
    expect(await lock.withLock(() => lock.withLock(() => lock.locked()))).toBe(true)
    expect(await lock.locked()).toBe(false)
    expect(await lock.tryAcquire()).toBe(true)
    await lock.release()
    await lock.close()
  })
})
