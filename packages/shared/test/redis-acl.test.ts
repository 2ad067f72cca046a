/**
 * @ipc/shared/redis as a user the server's ACL limits to the `ipc:*` keys and
 * channels (the rules the docs give): atomic updates, an array snapshot and
 * withLock (a distributed RLock) work.
 */
import { SharedArray, SharedValue } from '@ipc/shared/redis'
import { aclUser, describeWithRedis } from '@ipc/test-utils'
import { expect, it } from 'vitest'

describeWithRedis('@ipc/shared/redis under an ACL user', (server) => {
  it('works with only the ipc:* keys and channels', { timeout: 30_000 }, async () => {
    const url = await aclUser(server(), 'app', 'app-secret')
    const counter = await new SharedValue('int32', 0, { url }).ready()
    await counter.add(5)
    expect(await counter.compareExchange(5, 7)).toBe(5)
    await counter.withLock(async () => {
      await counter.set((await counter.get()) + 1)
    })
    expect(await counter.get()).toBe(8)
    await counter.close()

    const numbers = await new SharedArray('float64', [1, 2, 3], { url }).ready()
    await numbers.set(1, 2.5)
    expect(await numbers.toArray()).toEqual([1, 2.5, 3])
    await numbers.close()
  })
})
