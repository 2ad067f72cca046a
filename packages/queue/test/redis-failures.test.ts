/**
 * Redis-only behaviour of @ipc/queue/redis: a server that is killed, stopped
 * (SIGSTOP) or restarted; a consumer that dies holding items; items the
 * server hands back that cannot be decoded; Process revival. It imports the
 * package by name (its built dist), as the children Process starts do. The behaviour
 * both backends share is in conformance.test.ts.
 */
import { Process } from '@ipc/core'
import { ConnectionError, CorruptError, JoinableQueue, Queue, TimeoutError } from '@ipc/queue/redis'
import { describeWithRedis, spawnChild, uniqueName } from '@ipc/test-utils'
import { expect, it } from 'vitest'

const TAKER = new URL('./fixtures/redis-taker.mjs', import.meta.url)
const WORK = new URL('./fixtures/redis-work.mjs', import.meta.url)
/** How late a timeout may end on a loaded machine. */
const SLACK = 1000

/** Retries `call` while it rejects with ConnectionError (the client reconnects by itself). */
async function whenBack<R>(call: () => Promise<R>): Promise<R> {
  for (let i = 0; ; i++) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof ConnectionError) || i > 200) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

describeWithRedis(
  '@ipc/queue/redis failures',
  (server) => {
    it('rejects a waiting get with ConnectionError when the server dies, within its timeout, and works again once it is back', {
      timeout: 30_000,
    }, async () => {
      const queue = await Queue.open<string>(uniqueName('down'), { url: server().url, create: { persistent: true } })
      const started = performance.now()
      const waiting = queue.get({ timeout: 10_000 }).catch((error: unknown) => error)
      await new Promise((resolve) => setTimeout(resolve, 50))
      await server().kill()
      expect(await waiting).toBeInstanceOf(ConnectionError)
      expect(performance.now() - started).toBeLessThan(10_000)
      await expect(queue.put('while down', { timeout: 1000 })).rejects.toMatchObject({ code: 'IPC_CONNECTION' })
      await server().start()
      await whenBack(() => queue.put('back'))
      expect(await queue.get({ timeout: 5000 })).toBe('back')
      await queue.unlink()
      await queue.close()
    })

    it('makes get({ timeout }) end with Empty on a stopped server (SIGSTOP); the item it was handed late goes back to the head', {
      timeout: 30_000,
    }, async () => {
      const queue = await Queue.open<string>(uniqueName('paused'), { url: server().url, create: true })
      await queue.putMany(['first', 'second'])
      server().pause()
      try {
        const started = performance.now()
        await expect(queue.get({ timeout: 300 })).rejects.toMatchObject({ name: 'Empty' })
        expect(performance.now() - started).toBeLessThan(300 + SLACK)
      } finally {
        server().resume()
      }
      // The server ran the get after SIGCONT and handed it 'first'; the cancel that followed gave it back.
      expect(await queue.get({ timeout: 5000 })).toBe('first')
      expect(await queue.get({ timeout: 5000 })).toBe('second')
      expect(await queue.qsize()).toBe(0)
      await queue.close()
    })

    it('makes getNowait() and qsize() reject with ConnectionError within the reply limit (5 s) on a stopped server; the item handed late goes back', {
      timeout: 30_000,
    }, async () => {
      const queue = await Queue.open<string>(uniqueName('paused-try'), { url: server().url, lease: 5000, create: true })
      await queue.put('first')
      server().pause()
      try {
        const started = performance.now()
        const [got, size] = await Promise.all([
          queue.getNowait().catch((error: unknown) => error),
          queue.qsize().catch((error: unknown) => error),
        ])
        expect(got).toBeInstanceOf(ConnectionError)
        expect(size).toBeInstanceOf(ConnectionError)
        expect(performance.now() - started).toBeLessThan(5000 + SLACK)
      } finally {
        server().resume()
      }
      // The server ran the getNowait after SIGCONT and handed it 'first'; a renewal cancelled that call.
      expect(await queue.get({ timeout: 5000 })).toBe('first')
      expect(await queue.qsize()).toBe(0)
      await queue.close()
    })

    it('makes put({ timeout }) end on a stopped server: TimeoutError when the server could not say whether the item went in, never a duplicate', {
      timeout: 30_000,
    }, async () => {
      const queue = await Queue.open<string>(uniqueName('paused-put'), { url: server().url, create: true })
      server().pause()
      try {
        const started = performance.now()
        const error = await queue.put('maybe', { timeout: 300 }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(TimeoutError)
        expect(performance.now() - started).toBeLessThan(300 + 1000 + SLACK)
      } finally {
        server().resume()
      }
      // The server ran the put after SIGCONT: the item is there once.
      expect(await queue.getMany({ timeout: 5000 })).toEqual(['maybe'])
      await queue.close()
    })

    it('counts the items a putMany put when its timeout fires before the server answers: .item holds only the rest', {
      timeout: 30_000,
    }, async () => {
      const queue = new Queue<number>({ url: server().url, maxsize: 2 })
      await queue.ready()
      server().pause()
      let error: unknown
      try {
        const putting = queue.putMany([1, 2, 3, 4], { timeout: 50 }).catch((e: unknown) => e)
        // The timer fires while the server is stopped; it then puts two and queues the call.
        await new Promise((resolve) => setTimeout(resolve, 150))
        server().resume()
        error = await putting
      } finally {
        server().resume()
      }
      // Before, .item held all four (the count was taken when the timer fired): a re-put doubled 1 and 2.
      expect(error).toMatchObject({ name: 'Full', item: [3, 4] })
      expect(String((error as Error).message)).toMatch(/the first 2 of its 4 items were put/)
      expect(await queue.getMany({ timeout: 5000 })).toEqual([1, 2])
      await queue.close()
    })

    it('says how many items a putMany put in its earlier rounds when a later one ends unknown (TimeoutError)', {
      timeout: 30_000,
    }, async () => {
      const queue = new Queue<number>({ url: server().url, maxsize: 1030 })
      await queue.ready()
      // Two rounds (1024 items a round): the first puts 1024, the second 6, then waits for room.
      const items = Array.from({ length: 1100 }, (_, i) => i)
      const controller = new AbortController()
      const putting = queue.putMany(items, { signal: controller.signal }).catch((e: unknown) => e)
      while ((await queue.qsize()) < 1030) await new Promise((resolve) => setTimeout(resolve, 5))
      // Stopped, then aborted: the cancel gets no answer, so whether the waiting items went in is unknown.
      server().pause()
      let error: unknown
      try {
        controller.abort()
        error = await putting
      } finally {
        server().resume()
      }
      expect(error).toBeInstanceOf(TimeoutError)
      expect(String((error as Error).message)).toMatch(/the first 1030 of its 1100 items were put before/)
      expect(await queue.qsize()).toBe(1030)
      await queue.close()
    })

    it('keeps every item whose put() resolved across a server restart (appendonly yes, appendfsync always)', {
      timeout: 30_000,
    }, async () => {
      const name = uniqueName('durable')
      const queue = await Queue.open<number>(name, { url: server().url, create: { persistent: true } })
      for (let i = 0; i < 50; i++) await queue.put(i)
      await server().restart()
      expect(await whenBack(() => queue.qsize())).toBe(50)
      const other = await Queue.open<number>(name, { url: server().url })
      const got: number[] = []
      while (got.length < 50) got.push(...(await other.getMany({ timeout: 5000 })))
      expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i))
      await other.unlink()
      await other.close()
      await queue.close()
    })

    it('a consumer killed by SIGKILL loses at most the item it took; it is never delivered twice', {
      timeout: 30_000,
    }, async () => {
      const name = uniqueName('killed')
      const lease = 300
      const queue = await Queue.open<string>(name, { url: server().url, lease, create: true })
      await queue.putMany(['a', 'b', 'c'])
      const taker = spawnChild(TAKER, [server().url, name, String(lease), '1'])
      await taker.waitFor('holding')
      expect(taker.stdout()).toContain('took a')
      taker.child.kill('SIGKILL')
      await taker.exited
      // Its lease lapses; 'a' is dropped, not handed again.
      await new Promise((resolve) => setTimeout(resolve, lease * 2))
      expect(await queue.getMany({ timeout: 1000 })).toEqual(['b', 'c'])
      await expect(queue.get({ timeout: 100 })).rejects.toMatchObject({ name: 'Empty' })
      await queue.close()
    })

    it('drops an item the server holds that cannot be decoded (CorruptError) and goes on', {
      timeout: 30_000,
    }, async () => {
      const name = uniqueName('garbled')
      const queue = await Queue.open<string>(name, { url: server().url, create: true })
      await queue.put('good')
      expect(await server().command('LPUSH', `ipc:{${name}}:items`, '9not an item')).toBe(':2')
      await expect(queue.get()).rejects.toBeInstanceOf(CorruptError)
      expect(await queue.get()).toBe('good')
      await server().command('RPUSH', `ipc:{${name}}:items`, '5@@@')
      await queue.put('after')
      await expect(queue.get()).rejects.toMatchObject({ code: 'IPC_CORRUPT' })
      expect(await queue.get()).toBe('after')
      // A garbled meta hash is reported, never computed with.
      await server().command('HSET', `ipc:{${name}}:meta`, 'maxsize', '-3')
      await expect(queue.qsize()).rejects.toBeInstanceOf(CorruptError)
      await queue.close()
    })

    it('refuses an item larger than 8 MiB encoded with RangeError, putting nothing', async () => {
      const queue = new Queue<Uint8Array>({ url: server().url })
      await expect(queue.put(new Uint8Array(8 * 1024 * 1024 + 1))).rejects.toBeInstanceOf(RangeError)
      expect(await queue.qsize()).toBe(0)
      await queue.close()
    })

    it('charges a string as its UTF-8 bytes: "é" × 6 Mi (6 MiB in the codec, 12 on the wire) is RangeError, nothing put', {
      timeout: 30_000,
    }, async () => {
      const queue = new Queue<string>({ url: server().url })
      const big = '\u00e9'.repeat(6 * 1024 * 1024)
      await expect(queue.put(big)).rejects.toBeInstanceOf(RangeError)
      // putMany goes to the server in rounds of 1,024: the first round must not have gone.
      await expect(queue.putMany([...Array.from({ length: 1024 }, (_, i) => `s${i}`), big])).rejects.toBeInstanceOf(
        RangeError,
      )
      expect(await queue.qsize()).toBe(0)
      // At the bound it goes through: 4 Mi chars are 8 MiB as UTF-8.
      const most = '\u00e9'.repeat(4 * 1024 * 1024)
      await queue.put(most)
      expect(await queue.get()).toBe(most)
      await queue.close()
    })

    it('is revived attached in a child by Process, a JoinableQueue joined by the parent', {
      timeout: 30_000,
    }, async () => {
      const tasks = new JoinableQueue<string>({ url: server().url })
      const results = new Queue<string>({ url: server().url })
      const producer = new Process(WORK, { args: [results, 20], exportName: 'produce' })
      producer.start()
      expect(await producer.join()).toBe(0)
      expect(await results.qsize()).toBe(20)
      expect((await results.getMany()).at(-1)).toBe('item-19')
      const consumer = new Process(WORK, { args: [tasks, results], exportName: 'consume' })
      consumer.start()
      await tasks.putMany(['a', 'b', 'c'])
      expect(await tasks.join({ timeout: 20_000 })).toBe(true)
      expect(await results.getMany({ timeout: 5000 })).toEqual(['A', 'B', 'C'])
      await tasks.shutdown()
      expect(await consumer.join()).toBe(0)
      await tasks.close()
      await results.close()
    })
  },
  { appendonly: true },
)
