/**
 * @ipc/queue/redis as a user the server's ACL limits to the `ipc:*` keys and
 * channels (the rules the docs give): every call, a blocked get's wake-up and
 * join work; a wrong password, or a user without those keys or channels, is
 * refused with ConnectionError at once, and the password never shows.
 */
import { ConnectionError, JoinableQueue, Queue } from '@ipc/queue/redis'
import {
  aclUser,
  describeWithRedis,
  describeWithRedisCluster,
  elapsed,
  type RedisServer,
  uniqueName,
} from '@ipc/test-utils'
import { expect, it } from 'vitest'

describeWithRedis('@ipc/queue/redis under an ACL user', (server) => {
  it('works with only the ipc:* keys and channels', { timeout: 30_000 }, async () => {
    const url = await aclUser(server(), 'app', 'app-secret')
    const queue = await new Queue<string>({ url, maxsize: 2 }).ready()
    await queue.put('a')
    expect(await queue.get()).toBe('a')
    // A blocked get is woken by a message on an ipc:* channel.
    const waiting = queue.get({ timeout: 5000 })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await queue.put('b')
    expect(await waiting).toBe('b')
    await queue.close()

    const jobs = await new JoinableQueue<number>({ url }).ready()
    await jobs.putMany([1, 2])
    const joined = jobs.join({ timeout: 5000 })
    for (const _ of [1, 2]) {
      await jobs.get()
      await jobs.taskDone()
    }
    expect(await joined).toBe(true)
    await jobs.close()
  })

  it('refuses a wrong password with ConnectionError, without showing it', { timeout: 30_000 }, async () => {
    await aclUser(server(), 'app', 'app-secret')
    const url = server().url.replace('redis://', 'redis://app:wrong-secret@')
    const queue = new Queue<string>({ url, name: uniqueName('acl') })
    const { ms, outcome: error } = await elapsed(queue.ready())
    expect(error).toBeInstanceOf(ConnectionError)
    const { message, cause } = error as ConnectionError
    expect(message).toMatch(/WRONGPASS/)
    expect(message).toContain('redis://app:***@')
    expect(`${message} ${String(cause)}`).not.toContain('wrong-secret')
    expect(ms).toBeLessThan(6000)
    await queue.close().catch(() => {})
  })

  it.each([
    ['keys', ['~other:*', '&ipc:*', '+@all', '-@dangerous']],
    ['channels', ['~ipc:*', '+@all', '-@dangerous']],
  ])(
    'refuses a user without the ipc:* %s with ConnectionError naming NOPERM',
    {
      timeout: 30_000,
    },
    async (_, rules) => {
      const url = await aclUser(server(), 'narrow', 'narrow-secret', rules)
      const queue = new Queue<string>({ url })
      const { ms, outcome: error } = await elapsed(queue.put('x'))
      expect(error).toBeInstanceOf(ConnectionError)
      expect((error as ConnectionError).message).toMatch(/NOPERM/)
      expect(ms).toBeLessThan(6000)
      await queue.close().catch(() => {})
    },
  )
})

describeWithRedisCluster('@ipc/queue/redis on a Redis Cluster under an ACL user', (cluster) => {
  it('needs the user on every node, and says which login a node refused', { timeout: 60_000 }, async () => {
    const [first, ...others] = cluster().nodes as RedisServer[]
    const url = await aclUser(first as RedisServer, 'app', 'app-secret')
    // Only the URL's node knows the user: the others refuse the client's login.
    const early = new Queue<string>({ url })
    const { outcome: error } = await elapsed(early.ready())
    expect(error).toBeInstanceOf(ConnectionError)
    expect((error as ConnectionError).message).toMatch(/WRONGPASS/)
    await early.close().catch(() => {})

    for (const node of others) await aclUser(node, 'app', 'app-secret')
    const queue = await new Queue<string>({ url }).ready()
    await queue.put('a')
    expect(await queue.get({ timeout: 5000 })).toBe('a')
    await queue.close()
  })
})
