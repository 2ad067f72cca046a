/**
 * What another program on the same Redis server (a co-tenant, through a
 * client of its own) can do to a queue, and what it must not cost: it may
 * FUNCTION FLUSH the server's functions, write garbled waiter ids into the
 * queue's lists, or PUBLISH forged wake-ups; no item is lost or delivered
 * twice, and calls fail with typed errors.
 */
import { CorruptError, IpcError } from '@ipc/core'
import { redisKey } from '@ipc/core/redis'
import { describeWithRedis, uniqueName } from '@ipc/test-utils'
import { createClient } from '@redis/client'
import { expect, it } from 'vitest'
import { Queue } from './index.js'
import { KEY_PARTS, QUEUE_LIBRARY } from './library.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describeWithRedis('Redis queues and a co-tenant', (server) => {
  async function coTenant() {
    const client = createClient({ url: server().url })
    client.on('error', () => {})
    await client.connect()
    return client
  }

  /** FCALL of the queue library's `fn` on queue `name`, as a client of object `object` (its idle: 3 leases) would send it. */
  function fcall(name: string, fn: string, object: string, args: string[], idle = 30_000): string[] {
    const keys = KEY_PARTS.map((part) => redisKey(name, part))
    return [
      'FCALL',
      QUEUE_LIBRARY.functionName(fn),
      String(keys.length),
      ...keys,
      'queue',
      object,
      String(idle),
      ...args,
    ]
  }

  it('refuses a get or put that reaches the server after its cancel (a call resent after FUNCTION LOAD): it takes and puts nothing', async () => {
    const name = uniqueName('late')
    const queue = await new Queue<string>({ name, url: server().url }).ready()
    await queue.put('a')
    const admin = await coTenant()
    try {
      // The order a resend after "Function not found" can make: the cancel first, then the call.
      expect(await admin.sendCommand(fcall(name, 'cancel', 'co/q1', ['0', 'co/q1/1']))).toEqual(['gone'])
      expect(await admin.sendCommand(fcall(name, 'get', 'co/q1', ['0', 'co/q1/1', '1000', 'wait', '1']))).toEqual([
        'cancelled',
      ])
      expect(await admin.sendCommand(fcall(name, 'cancel', 'co/q1', ['0', 'co/q1/2']))).toEqual(['gone'])
      expect(await admin.sendCommand(fcall(name, 'put', 'co/q1', ['0', 'co/q1/2', '1000', 'wait', '1b']))).toEqual([
        'cancelled',
      ])
      expect(await queue.getNowait()).toBe('a')
      expect(await queue.qsize()).toBe(0)
    } finally {
      admin.destroy()
      await queue.close()
    }
  })

  it("keeps what a live object was handed past its lease until that object cancels it; a gone object's entry and a tombstone lapse", async () => {
    const name = uniqueName('kept')
    const lease = 1000
    const queue = await new Queue<string>({ name, url: server().url, lease }).ready()
    await queue.putMany(['a', 'b'])
    const admin = await coTenant()
    try {
      // The id of `queue`, a live object (it renews every lease / 3, and each renewal sweeps).
      const [object = ''] = (await admin.sendCommand(['ZRANGE', redisKey(name, 'objects'), '0', '-1'])) as string[]
      const live = `${object}/999999`
      const gone = 'co/gone/1'
      // Handed to a call of the live object and to one of an object the server does not know.
      for (const waiter of [live, gone]) {
        const reply = (await admin.sendCommand(
          fcall(name, 'get', object, ['0', waiter, String(lease), 'try', '1']),
        )) as unknown[]
        expect(reply[0]).toBe('items')
      }
      // A cancel that finds no call leaves a tombstone (for a resend that may come), which lapses
      // 3 leases on whatever its object (nobody acks it): here 1 lease, as `idle` says.
      const tombstone = `${object}/888888`
      expect(await admin.sendCommand(fcall(name, 'cancel', object, ['0', tombstone], lease))).toEqual(['gone'])
      // Its cancel comes 2.5 leases late (a backlog of calls, resends after a flush): the items are still there.
      await sleep(2.5 * lease)
      expect(await admin.sendCommand(['HEXISTS', redisKey(name, 'handed'), tombstone])).toBe(0)
      expect(await admin.sendCommand(fcall(name, 'cancel', object, ['0', live]))).toEqual(['returned', 1])
      expect(await admin.sendCommand(fcall(name, 'cancel', object, ['0', gone]))).toEqual(['gone'])
      expect(await queue.getNowait()).toBe('a')
      await expect(queue.getNowait()).rejects.toThrow(/empty/)
    } finally {
      admin.destroy()
      await queue.close()
    }
  })

  it('loses no item while a co-tenant runs FUNCTION FLUSH every few ms and consumers keep giving up after 2 ms', {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('flush')
    const count = 600
    const producer = await new Queue<string>({ name, url: server().url, lease: 1000, persistent: true }).ready()
    await producer.putMany(Array.from({ length: count }, (_, i) => `item-${i}`))
    const admin = await coTenant()
    const seen = new Map<string, number>()
    const errors: unknown[] = []
    let stop = false
    const flusher = (async () => {
      while (!stop) {
        await sleep(5)
        await admin.sendCommand(['FUNCTION', 'FLUSH']).catch(() => {})
      }
    })()
    const consumers = await Promise.all(
      Array.from({ length: 4 }, () => Queue.open<string>(name, { url: server().url, lease: 1000 })),
    )
    const loops = consumers.map(async (consumer) => {
      while (!stop) {
        try {
          const item = await consumer.get({ timeout: 2 })
          seen.set(item, (seen.get(item) ?? 0) + 1)
          await sleep(2)
        } catch (error) {
          if ((error as Error).name !== 'Empty') errors.push(error)
          await sleep(1)
        }
      }
    })
    const started = Date.now()
    while (seen.size < count && Date.now() - started < 20_000) await sleep(50)
    stop = true
    await flusher
    await Promise.all(loops)
    // A lapsed handed entry (an item lost) would be dropped by the renewals within a lease.
    await sleep(1500)
    for (const consumer of consumers) await consumer.close()
    for (;;) {
      const item = await producer.getNowait().catch(() => undefined)
      if (item === undefined) break
      seen.set(item, (seen.get(item) ?? 0) + 1)
    }
    admin.destroy()
    await producer.unlink()
    await producer.close()
    expect([...seen.values()].filter((n) => n > 1)).toEqual([])
    expect(seen.size).toBe(count)
    for (const error of errors) expect(error).toBeInstanceOf(IpcError)
  })

  it('rejects a put whose cancel fails with its typed error (CorruptError for a garbled key), not the bare server error', async () => {
    const name = uniqueName('refused')
    const queue = await new Queue<string>({ name, url: server().url, maxsize: 1 }).ready()
    await queue.put('filler')
    const admin = await coTenant()
    try {
      const put = queue.put('b', { timeout: 200 }).catch((error: unknown) => error)
      await sleep(50)
      // The waiters hash garbled into a string: the cancel's HDEL fails with WRONGTYPE.
      await admin.sendCommand(['DEL', redisKey(name, 'waiters')])
      await admin.sendCommand(['SET', redisKey(name, 'waiters'), 'garbage'])
      const error = await put
      expect(error).toBeInstanceOf(CorruptError)
      expect(String((error as Error).message)).toMatch(/WRONGTYPE|corrupt/i)
    } finally {
      await admin.sendCommand(['DEL', redisKey(name, 'waiters')])
      admin.destroy()
      await queue.close()
    }
  })

  // Ids no client makes ('<clientId>/<object>/<n>', core's ipc_waiter_ok): no client part, one
  // part missing, an empty part, a '|' inside.
  it.each(['noslash', 'client/object', '/object/1', 'client//1', 'client/object/1|x'])(
    'drops waiter id %j (written by another program) before any write: put goes in, nothing half-applied',
    async (id) => {
      const name = uniqueName('badid')
      const queue = await new Queue<string>({ name, url: server().url }).ready()
      const admin = await coTenant()
      try {
        await admin.sendCommand(['RPUSH', redisKey(name, 'getters'), id])
        await admin.sendCommand(['HSET', redisKey(name, 'waiters'), id, '99999999999999|1000|1'])
        await queue.put('item-1')
        expect(await admin.sendCommand(['HLEN', redisKey(name, 'handed')])).toBe(0)
        expect(await admin.sendCommand(['LLEN', redisKey(name, 'getters')])).toBe(0)
        expect(await queue.get({ timeout: 300 })).toBe('item-1')
      } finally {
        admin.destroy()
        await queue.close()
      }
    },
  )
})
