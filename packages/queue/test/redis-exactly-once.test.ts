/**
 * @ipc/queue/redis across processes, with consumers that give up all the
 * time (timeouts of 2 ms, aborts after 3 ms) and producers that wait for room
 * with short timeouts: every item is delivered exactly once, none is lost
 * to a call that gave up, none is delivered twice.
 */

import { Queue } from '@ipc/queue/redis'
import { describeWithRedis, spawnChild, uniqueName } from '@ipc/test-utils'
import { expect, it } from 'vitest'

const STRESS = new URL('./fixtures/redis-stress.mjs', import.meta.url)

describeWithRedis('@ipc/queue/redis exactly once', (server) => {
  it('delivers 3 producers × 2,000 items to 3 consumers that keep giving up, exactly once', {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('stress')
    const count = 2000
    const queue = await Queue.open<string>(name, { url: server().url, create: { maxsize: 20 } })
    const consumers = ['timeouts', 'aborts', 'plain'].map((mode, c) =>
      spawnChild(STRESS, [server().url, name, 'consumer', String(c), mode]),
    )
    const producers = [0, 1, 2].map((p) =>
      spawnChild(STRESS, [server().url, name, 'producer', String(p), String(count)]),
    )
    for (const producer of producers) await producer.waitFor('done', 50_000)
    await queue.shutdown()
    const got: string[] = []
    for (const consumer of consumers) {
      await consumer.waitFor('got ', 20_000)
      expect(await consumer.exited).toBe(0)
      got.push(...(JSON.parse(consumer.stdout().match(/^got (.*)$/m)?.[1] ?? '[]') as string[]))
    }
    expect(new Set(got).size).toBe(got.length)
    expect(got.length).toBe(3 * count)
    expect(await queue.qsize()).toBe(0)
    await queue.close()
  })
})
