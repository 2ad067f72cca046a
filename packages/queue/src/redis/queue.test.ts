import { inspect } from 'node:util'
import { TRANSFER } from '@ipc/core/internal'
import { describeWithRedis, uniqueName } from '@ipc/test-utils'
import { createClient } from '@redis/client'
import { describe, expect, it } from 'vitest'
import { ConnectionError, JoinableQueue, MAX_ITEM_BYTES, Queue } from './index.js'
import { fromWire, MAX_WIRE_CHARS, toWire } from './item.js'

describe('Redis queue items (item.ts)', () => {
  it('round-trip through the wire form the values the shared-memory queue accepts', () => {
    const values = ['text', 'ünï ☃', { a: [1, null] }, Buffer.from('b'), new Uint8Array([0, 255]), new Map([[1, 2]])]
    for (const value of values) expect(fromWire(toWire(value), 'a test')).toEqual(value)
    expect(Buffer.isBuffer(fromWire(toWire(Buffer.from('x')), 'a test'))).toBe(true)
  })

  it('refuse what the queue never writes with CorruptError', () => {
    for (const wire of ['', '9x', '5@@@', '3abc', 'x'.repeat(MAX_WIRE_CHARS + 1), 42])
      expect(() => fromWire(wire, 'a test')).toThrow(expect.objectContaining({ name: 'CorruptError' }))
  })

  it('refuse an item larger than MAX_ITEM_BYTES with RangeError', () => {
    expect(() => toWire(new Uint8Array(MAX_ITEM_BYTES + 1))).toThrow(RangeError)
    // A Latin-1 string counts as the UTF-8 the server stores: "é" is 1 byte in the codec, 2 there.
    expect(() => toWire('\u00e9'.repeat(MAX_ITEM_BYTES / 2 + 1))).toThrow(RangeError)
    expect(toWire('\u00e9'.repeat(MAX_ITEM_BYTES / 2)).length).toBe(MAX_ITEM_BYTES / 2 + 1)
    expect(toWire('x'.repeat(MAX_ITEM_BYTES)).length).toBe(MAX_ITEM_BYTES + 1)
  })
})

describe('Redis queues without a server', () => {
  it('reject a bad url, lease, name or maxsize before connecting', () => {
    expect(() => new Queue({ url: 'http://x' })).toThrow(TypeError)
    expect(() => new Queue({ lease: 5 })).toThrow(RangeError)
    expect(() => new Queue({ name: 'a{b}' })).toThrow(TypeError)
    expect(() => new Queue({ maxsize: -1 })).toThrow(RangeError)
    expect(() => new Queue({ maxsize: '10' as unknown as number })).toThrow(TypeError)
  })

  it('refuse an option name they do not know, naming the one meant', async () => {
    expect(() => new Queue({ maxSize: 10 } as never)).toThrow(/Unknown option "maxSize".*Did you mean "maxsize"/)
    expect(() => new Queue({ host: 'localhost' } as never)).toThrow(/Unknown option "host"/)
    await expect(Queue.open('jobs', { url: 'redis://127.0.0.1:1', create: { capacity: 64 } } as never)).rejects.toThrow(
      /Unknown option "capacity" in the "create" option/,
    )
  })

  it('reject calls with ConnectionError when nothing listens at the url', async () => {
    const queue = new Queue({ url: 'redis://127.0.0.1:1' })
    const error = await queue.get({ timeout: 5000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    expect(String((error as Error).message)).toMatch(/^Cannot reach Redis at redis:\/\/127\.0\.0\.1:1/)
    await queue.close()
  })
})

describeWithRedis('Redis queues', (server) => {
  it("get() waits for a timeout above setTimeout's limit (2 ** 31 - 1 ms) instead of giving up after 1 ms", async () => {
    const queue = await new Queue<string>({ url: server().url }).ready()
    let settled: unknown = 'pending'
    const pending = queue.get({ timeout: 2 ** 31 + 5 }).then(
      (item) => {
        settled = item
      },
      (error: unknown) => {
        settled = error
      },
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(settled).toBe('pending')
    await queue.put('late')
    await pending
    expect(settled).toBe('late')
    await queue.unlink?.()
    await queue.close()
  })

  it('rejects ready() with ExistsError when the name is taken, and leaves the first one working', async () => {
    const name = uniqueName()
    const first = await new Queue<string>({ name, url: server().url, maxsize: 3 }).ready()
    const second = new Queue<string>({ name, url: server().url })
    await expect(second.ready()).rejects.toMatchObject({ name: 'ExistsError' })
    await expect(second.put('x')).rejects.toMatchObject({ name: 'ExistsError' })
    await second.close()
    await first.put('kept')
    expect(await first.get()).toBe('kept')
    await first.close()
  })

  it('open(name, { create }) creates once: of racing objects exactly one creates, all see its maxsize', async () => {
    const name = uniqueName()
    const all = await Promise.all(
      Array.from({ length: 5 }, () => Queue.open(name, { url: server().url, create: { maxsize: 4 } })),
    )
    expect(all.filter((queue) => queue.created)).toHaveLength(1)
    expect(all.map((queue) => queue.maxsize)).toEqual([4, 4, 4, 4, 4])
    for (const queue of all) await queue.close()
  })

  it('from(handle) attaches to the same queue; the handle is plain JSON', async () => {
    const queue = new JoinableQueue<number>({ url: server().url })
    const early = queue.handle
    expect(early.creating).toBe(true)
    await queue.ready()
    expect(queue.handle).toEqual({ kind: 'joinable-queue', name: queue.name, url: server().url, lease: 10_000 })
    const other = await JoinableQueue.from<number>(JSON.parse(JSON.stringify(early)))
    await other.put(7)
    expect(await queue.get()).toBe(7)
    await expect(Queue.from(queue.handle as never)).rejects.toThrow(TypeError)
    await other.close()
    await queue.close()
  })

  it('removes the queue and its items with the last close, unless persistent; unlink removes it at once', async () => {
    const name = uniqueName()
    const queue = await Queue.open<string>(name, { url: server().url, create: true })
    const other = await Queue.open<string>(name, { url: server().url })
    await queue.put('a')
    await queue.close()
    await queue.close()
    expect(await other.qsize()).toBe(1)
    await other.close()
    await expect(Queue.open(name, { url: server().url })).rejects.toMatchObject({ name: 'NotFoundError' })
    expect(await server().command('EXISTS', `ipc:{${name}}:items`, `ipc:{${name}}:meta`)).toBe(':0')

    const kept = await Queue.open<string>(name, { url: server().url, create: { persistent: true } })
    await kept.put('b')
    await kept.close()
    const again = await Queue.open<string>(name, { url: server().url })
    expect(again.persistent).toBe(true)
    expect(await again.get()).toBe('b')
    await again.unlink()
    await expect(again.qsize()).rejects.toMatchObject({ name: 'NotFoundError' })
    await again.close()
  })

  it('unlink() of a stale object leaves alone another kind that took the name since', async () => {
    const name = uniqueName()
    const stale = await Queue.open<string>(name, { url: server().url, create: { persistent: true } })
    await stale.unlink()
    const joinable = await JoinableQueue.open<string>(name, { url: server().url, create: true })
    await joinable.put('kept')
    await stale.unlink()
    expect(await joinable.qsize()).toBe(1)
    expect(await joinable.get()).toBe('kept')
    await stale.close()
    await joinable.close()
  })

  it('rejects calls after close() with ClosedError', async () => {
    const queue = new Queue({ url: server().url })
    await queue.close()
    await expect(queue.put(1)).rejects.toMatchObject({ name: 'ClosedError', code: 'IPC_CLOSED' })
    expect(queue.closed).toBe(true)
  })

  describe('Queue#close() with calls pending', () => {
    const pending = (q: Queue<string>) => Number(/waiting: (\d+)/.exec(inspect(q))?.[1])
    /** Turns microtasks (no I/O: no reply can come) until `q` has a call pending; a put needs a few. */
    async function untilPending(q: Queue<string>): Promise<void> {
      for (let turn = 0; pending(q) === 0; turn++) {
        if (turn === 1000) throw new Error('no call became pending')
        await Promise.resolve()
      }
    }

    it('rejects a put the server already ran with ClosedError; its item stays put', async () => {
      const queue = await new Queue<string>({ url: server().url }).ready()
      const other = await Queue.open<string>(queue.name, { url: server().url })
      const sent = queue.put('sent')
      await untilPending(queue) // its request is on the wire
      const closing = queue.close()
      await expect(sent).rejects.toMatchObject({ name: 'ClosedError' })
      await closing
      expect(await other.getNowait()).toBe('sent')
      await other.close()
    })

    it('rejects a put waiting for room with ClosedError; it puts nothing', async () => {
      const queue = await new Queue<string>({ url: server().url, maxsize: 1 }).ready()
      const other = await Queue.open<string>(queue.name, { url: server().url })
      await queue.put('a')
      const waiting = queue.put('b') // the queue is full: registered on the server
      await untilPending(queue)
      await new Promise((resolve) => setTimeout(resolve, 50))
      const refused = expect(waiting).rejects.toMatchObject({ name: 'ClosedError' })
      await queue.close()
      await refused
      expect(await other.getNowait()).toBe('a')
      await expect(other.getNowait()).rejects.toMatchObject({ name: 'Empty' })
      await other.close()
    })

    it('still sends a call that does not wait, started in the same tick (taskDone before close)', async () => {
      const jobs = await new JoinableQueue<string>({ url: server().url }).ready()
      const other = await JoinableQueue.open<string>(jobs.name, { url: server().url })
      await other.put('job')
      expect(await jobs.get()).toBe('job')
      const done = jobs.taskDone()
      await jobs.close()
      await done
      expect(await other.join({ timeout: 5000 })).toBe(true)
      await other.close()
    })

    it('sends no call started in the same tick: a get takes no item, a put on a full queue puts nothing', async () => {
      const queue = await new Queue<string>({ url: server().url, maxsize: 1 }).ready()
      const other = await Queue.open<string>(queue.name, { url: server().url })
      await other.put('a')
      const put = queue.put('b')
      const refusedPut = expect(put).rejects.toMatchObject({ name: 'ClosedError' })
      await queue.close()
      await refusedPut
      expect(await other.getNowait()).toBe('a')
      await expect(other.getNowait()).rejects.toMatchObject({ name: 'Empty' })

      const taker = await Queue.open<string>(queue.name, { url: server().url })
      const get = taker.get()
      const refused = expect(get).rejects.toMatchObject({ name: 'ClosedError' })
      await taker.close()
      await refused
      // Not handed to a get that nobody waits for: the next get has it.
      await other.put('x')
      expect(await other.getNowait()).toBe('x')
      await other.close()
    })
  })

  it('describes itself for Process and util.inspect', async () => {
    const queue = await new Queue({ url: server().url, maxsize: 2 }).ready()
    const descriptor = queue[TRANSFER]()
    expect(descriptor.export).toBe('Queue')
    expect(descriptor.handle).toEqual(queue.handle)
    const shown = inspect(queue, { breakLength: Number.POSITIVE_INFINITY })
    expect(shown).toMatch(
      /^Queue \(Redis\) \{ name: '.+', url: 'redis:\/\/127\.0\.0\.1:\d+', maxsize: 2, waiting: 0 \}$/,
    )
    await queue.close()
  })

  it('makes one round trip per put and per get that finds an item, and one call and its wake-up per blocked get', async () => {
    const queue = await new Queue<string>({ url: server().url }).ready()
    const client = createClient({ url: server().url })
    await client.connect()
    /** FCALLs and PUBLISHes the server ran since the last look (INFO commandstats, reset each time). */
    const calls = async () => {
      const info = String(await client.sendCommand(['INFO', 'commandstats']))
      await client.sendCommand(['CONFIG', 'RESETSTAT'])
      const count = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
      return { fcall: count('fcall'), publish: count('publish') }
    }
    try {
      await calls()
      await queue.put('a')
      expect(await calls()).toEqual({ fcall: 1, publish: 0 })
      expect(await queue.get()).toBe('a')
      expect(await calls()).toEqual({ fcall: 1, publish: 0 })
      const blocked = queue.get()
      for (let i = 0; i < 100 && (await calls()).fcall === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 5))
      // The get is queued on the server (one call); the put hands it the item with one wake-up.
      await queue.put('b')
      expect(await blocked).toBe('b')
      expect(await calls()).toEqual({ fcall: 1, publish: 1 })
    } finally {
      client.destroy()
      await queue.close()
    }
  })

  it('runs 3 commands in the function of a put and 5 in that of a get without a maxsize (an ack adds 2); a maxsize adds 2 to a put and 1 to a get', async () => {
    const client = createClient({ url: server().url })
    await client.connect()
    /** Commands the server ran since the last look, by name, without FCALL and the test's own (reset each time). */
    const commands = async () => {
      const info = String(await client.sendCommand(['INFO', 'commandstats']))
      await client.sendCommand(['CONFIG', 'RESETSTAT'])
      const counts: Record<string, number> = {}
      for (const [, command, calls] of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g))
        if (command !== 'fcall' && command !== 'info' && !command?.startsWith('config'))
          counts[command as string] = Number(calls)
      return counts
    }
    // Persistent: no PEXPIRE after each write, so the counts are the queue's own; a lease of a
    // minute: no heartbeat renew (every lease/3) runs during the test.
    const unbounded = await new Queue<string>({ url: server().url, persistent: true, lease: 60_000 }).ready()
    const bounded = await new Queue<string>({ url: server().url, persistent: true, lease: 60_000, maxsize: 10 }).ready()
    try {
      await commands()
      await unbounded.put('a')
      expect(await commands()).toEqual({ hmget: 1, rpush: 1, exists: 1 })
      expect(await unbounded.get()).toBe('a')
      expect(await commands()).toEqual({ hmget: 1, lpop: 1, time: 1, hset: 1, zadd: 1 })
      // The next call carries the ack of that get.
      await unbounded.put('b')
      expect(await unbounded.get()).toBe('b')
      expect(await commands()).toEqual({
        hmget: 2,
        rpush: 1,
        exists: 1,
        hdel: 1,
        zrem: 1,
        lpop: 1,
        time: 1,
        hset: 1,
        zadd: 1,
      })
      // A maxsize: the put reads the putters' and the items' lengths, the get serves blocked puts.
      await bounded.put('c')
      expect(await commands()).toEqual({ hmget: 1, llen: 2, rpush: 1, exists: 1 })
      expect(await bounded.get()).toBe('c')
      expect(await commands()).toEqual({ hmget: 1, lpop: 1, time: 1, hset: 1, zadd: 1, exists: 1 })
    } finally {
      client.destroy()
      await unbounded.unlink()
      await bounded.unlink()
      await unbounded.close()
      await bounded.close()
    }
  })

  it('sends the acks of 10,000 gets that resolved together with its next call', { timeout: 60_000 }, async () => {
    const queue = await new Queue<number>({ url: server().url }).ready()
    const count = 10_000
    try {
      await queue.putMany(Array.from({ length: count }, (_, i) => i))
      // All sent in one tick: every get is handed its item before any ack can go out.
      const items = await Promise.all(Array.from({ length: count }, () => queue.get()))
      expect(new Set(items).size).toBe(count)
      // The next call carries the 10,000 acks (more than Lua's unpack takes at once).
      expect(await queue.qsize()).toBe(0)
      expect(await server().command('HLEN', `ipc:{${queue.name}}:handed`)).toBe(':0')
    } finally {
      await queue.close()
    }
  })
})
