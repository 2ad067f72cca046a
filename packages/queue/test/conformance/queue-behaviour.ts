/**
 * The behaviour both backends share (shared memory and Redis), written once:
 * `queueBehaviour(backend)` registers `describe` blocks that run against the
 * queues its factory builds. `test/conformance.test.ts` runs them against
 * `@ipc/queue` and `@ipc/queue/redis`. Every call is awaited (a sync
 * `putNowait()` that throws is wrapped in an async function), so one test
 * reads the same for both.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'

type MaybePromise<T> = T | Promise<T>
interface WaitOptions {
  timeout?: number
  signal?: AbortSignal
}

export interface QueueLike<T = unknown> extends AsyncIterable<T> {
  readonly name: string
  put(item: T, options?: WaitOptions): Promise<void>
  putNowait(item: T): MaybePromise<void>
  putMany(items: Iterable<T>, options?: WaitOptions): Promise<void>
  get(options?: WaitOptions): Promise<T>
  getNowait(): MaybePromise<T>
  getMany(options?: WaitOptions & { max?: number }): Promise<T[]>
  qsize(): MaybePromise<number>
  empty(): MaybePromise<boolean>
  full(): MaybePromise<boolean>
  shutdown(options?: { immediate?: boolean }): MaybePromise<void>
  close(): MaybePromise<void>
}

export interface JoinableQueueLike<T = unknown> extends QueueLike<T> {
  taskDone(): MaybePromise<void>
  join(options?: WaitOptions): Promise<boolean>
}

/** Builds and opens the queues of one backend. */
export interface Backend {
  /** Shown in the test names: 'shared memory', 'Redis', 'Redis Cluster'. */
  readonly label: string
  queue<T>(options?: { maxsize?: number; name?: string }): MaybePromise<QueueLike<T>>
  openQueue<T>(name: string): Promise<QueueLike<T>>
  joinable<T>(options?: { maxsize?: number; name?: string }): MaybePromise<JoinableQueueLike<T>>
  openJoinable<T>(name: string): Promise<JoinableQueueLike<T>>
}

/** The error a call rejects with (a sync throw of `putNowait`/`getNowait` included). */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  throw new Error('The call did not fail')
}

/** Registers the conformance tests of Queue and JoinableQueue for `backend`. */
export function queueBehaviour(backend: Backend): void {
  const open: { close(): MaybePromise<void> }[] = []
  async function track<Q extends { close(): MaybePromise<void> }>(object: MaybePromise<Q>): Promise<Q> {
    const resolved = await object
    open.push(resolved)
    return resolved
  }
  afterEach(async () => {
    for (const object of open.splice(0).reverse()) await object.close()
  })
  const label = backend.label

  describe(`Queue#put() and #get() (${label})`, () => {
    it('keeps FIFO order and round-trips structured-clone values', async () => {
      const q = await track(backend.queue<unknown>())
      const values = [
        'msg-12345',
        'ünïcode ☃',
        { id: 1, tags: new Set(['a']) },
        { plain: [1, 'two', null] },
        Buffer.from('b'),
        new Uint8Array([1, 200]),
        0,
        null,
        undefined,
        new Date(0),
      ]
      for (const value of values) await q.put(value)
      expect(await q.qsize()).toBe(values.length)
      for (const value of values) expect(await q.get()).toEqual(value)
      expect(await q.empty()).toBe(true)
    })

    it('get() resolves when another object puts later', async () => {
      const q = await track(backend.queue<string>({ name: uniqueName('later') }))
      const other = await track(backend.openQueue<string>(q.name))
      // Awaited below: on Redis the put's reply can come after the get has its
      // item, and a put still pending at close() rejects with ClosedError.
      const putting = delay(20).then(() => other.put('later'))
      expect(await q.get()).toBe('later')
      await putting
    })

    it('get() rejects with Empty after the timeout and leaves the queue unchanged', async () => {
      const q = await track(backend.queue<string>())
      const started = performance.now()
      const error = await failure(() => q.get({ timeout: 50 }))
      expect(performance.now() - started).toBeGreaterThanOrEqual(45)
      expect(error).toMatchObject({ name: 'Empty', code: 'IPC_EMPTY' })
      expect((error as Error).message).toBe(`Cannot get from queue "${q.name}": it is empty after waiting 50 ms`)
      await q.put('after')
      expect(await q.get({ timeout: 1000 })).toBe('after')
    })

    it('put() rejects with Full after the timeout, carrying the item, and puts nothing', async () => {
      const q = await track(backend.queue<number>({ maxsize: 1 }))
      await q.put(1)
      const error = await failure(() => q.put(2, { timeout: 30 }))
      expect(error).toMatchObject({ name: 'Full', code: 'IPC_FULL', item: 2 })
      expect(await q.full()).toBe(true)
      expect(await q.get()).toBe(1)
      expect(await failure(() => q.getNowait())).toMatchObject({ name: 'Empty' })
    })

    it('put() waits for room and completes when a get frees it', async () => {
      const q = await track(backend.queue<number>({ maxsize: 2 }))
      await q.put(1)
      await q.put(2)
      let done = false
      const third = q.put(3).then(() => {
        done = true
      })
      await new Promise((resolve) => setTimeout(resolve, 30))
      expect(done).toBe(false)
      expect(await q.get()).toBe(1)
      await third
      expect(await q.qsize()).toBe(2)
      expect(await q.getMany()).toEqual([2, 3])
    })

    it('get() aborted while waiting rejects with signal.reason, and a later item is not lost', async () => {
      const q = await track(backend.queue<string>())
      const controller = new AbortController()
      const waiting = q.get({ signal: controller.signal })
      setTimeout(() => controller.abort(), 20)
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError' })
      await q.put('kept')
      expect(await q.get({ timeout: 1000 })).toBe('kept')
    })

    it('put() aborted while waiting for room rejects with signal.reason and puts nothing', async () => {
      const q = await track(backend.queue<string>({ maxsize: 1 }))
      await q.put('a')
      const controller = new AbortController()
      const waiting = q.put('b', { signal: controller.signal })
      setTimeout(() => controller.abort(new Error('stop')), 20)
      await expect(waiting).rejects.toThrow('stop')
      expect(await q.get()).toBe('a')
      expect(await failure(() => q.getNowait())).toMatchObject({ name: 'Empty' })
    })

    it('an already aborted signal rejects with its reason and touches nothing', async () => {
      const q = await track(backend.queue<string>())
      await q.put('a')
      const signal = AbortSignal.abort(new Error('early'))
      await expect(q.get({ signal })).rejects.toThrow('early')
      await expect(q.put('b', { signal })).rejects.toThrow('early')
      expect(await q.qsize()).toBe(1)
    })

    it('throws DataCloneError for a value that cannot be cloned and leaves the queue unchanged', async () => {
      const q = await track(backend.queue<unknown>())
      expect(await failure(() => q.put(() => 1))).toMatchObject({ name: 'DataCloneError' })
      expect(await failure(() => q.putNowait({ f: () => 1 }))).toMatchObject({ name: 'DataCloneError' })
      expect(await q.qsize()).toBe(0)
    })

    it('validates the options', async () => {
      const q = await track(backend.queue<string>())
      await expect(q.get({ timeout: -1 })).rejects.toBeInstanceOf(RangeError)
      await expect(q.getMany({ max: 0 })).rejects.toBeInstanceOf(RangeError)
    })
  })

  describe(`Queue#putNowait() and #getNowait() (${label})`, () => {
    it('fail with Full and Empty at once', async () => {
      const q = await track(backend.queue<string>({ maxsize: 1 }))
      const empty = await failure(() => q.getNowait())
      expect(empty).toMatchObject({ name: 'Empty', code: 'IPC_EMPTY' })
      expect((empty as Error).message).toBe(`Cannot get from queue "${q.name}": it is empty`)
      await q.putNowait('a')
      const full = await failure(() => q.putNowait('b'))
      expect(full).toMatchObject({ name: 'Full', item: 'b' })
      expect((full as Error).message).toBe(`Cannot put to queue "${q.name}": it is full`)
      expect(await q.getNowait()).toBe('a')
    })
  })

  describe(`Queue#putMany() and #getMany() (${label})`, () => {
    it('put a batch in order and take up to max of what is there, at least one', async () => {
      const q = await track(backend.queue<number>())
      await q.putMany([1, 2, 3, 4, 5])
      expect(await q.getMany({ max: 2 })).toEqual([1, 2])
      expect(await q.getMany()).toEqual([3, 4, 5])
      expect(await failure(() => q.getMany({ timeout: 0 }))).toMatchObject({ name: 'Empty' })
    })

    it('getMany waits for the first item like get, then returns what is there', async () => {
      const q = await track(backend.queue<string>())
      const putting = delay(20).then(() => q.putMany(['x', 'y']))
      expect(await q.getMany({ timeout: 5000 })).toEqual(['x', 'y'])
      await putting
    })

    it('putMany waits for room, batch by batch, keeping maxsize and order', async () => {
      const q = await track(backend.queue<number>({ maxsize: 3 }))
      const items = Array.from({ length: 20 }, (_, i) => i)
      const putting = q.putMany(items)
      const got: number[] = []
      while (got.length < items.length) {
        expect(await q.qsize()).toBeLessThanOrEqual(3)
        got.push(...(await q.getMany({ timeout: 5000 })))
      }
      await putting
      expect(got).toEqual(items)
    })

    it('a timeout hands back the items it did not put in Full.item; the first ones stay put', async () => {
      const q = await track(backend.queue<number>({ maxsize: 2 }))
      const error = await failure(() => q.putMany([1, 2, 3, 4], { timeout: 30 }))
      expect(error).toMatchObject({ name: 'Full', item: [3, 4] })
      expect(await q.getMany()).toEqual([1, 2])
    })

    it('an abort after some items went in rejects with Full: .item the rest, cause the reason', async () => {
      const q = await track(backend.queue<number>({ maxsize: 2 }))
      const controller = new AbortController()
      const putting = failure(() => q.putMany([1, 2, 3, 4], { signal: controller.signal }))
      while ((await q.qsize()) < 2) await delay(2)
      const reason = new Error('stop')
      controller.abort(reason)
      expect(await putting).toMatchObject({ name: 'Full', item: [3, 4], cause: reason })
      expect(await q.getMany()).toEqual([1, 2])
    })

    it('a close while putMany waits for room rejects with ClosedError saying how many went in', async () => {
      const q = await backend.queue<number>({ maxsize: 2 })
      const reader = await track(backend.openQueue<number>(q.name))
      const putting = failure(() => q.putMany([1, 2, 3, 4]))
      // Two went in, two wait for room.
      while ((await reader.qsize()) < 2) await delay(2)
      await q.close()
      expect(await putting).toMatchObject({
        name: 'ClosedError',
        // (On Redis: as far as the replies read before the close say.)
        message: expect.stringMatching(
          label === 'shared memory'
            ? /closed while the call waited for room; the first 2 of its 4 items were put/
            : /closed while the call waited for room; the first 2 of its 4 items are known to be put/,
        ),
      })
      expect(await reader.getMany()).toEqual([1, 2])
    })

    it('after shutdown, ShutDown hands the items back; getMany drains, then rejects with ShutDown', async () => {
      const q = await track(backend.queue<number>())
      await q.putMany([1, 2])
      await q.shutdown()
      expect(await failure(() => q.putMany([3, 4]))).toMatchObject({ name: 'ShutDown', item: [3, 4] })
      expect(await q.getMany()).toEqual([1, 2])
      expect(await failure(() => q.getMany())).toMatchObject({ name: 'ShutDown' })
    })
  })

  describe(`Queue#shutdown() (${label})`, () => {
    it('makes put reject with ShutDown carrying the item, lets get drain, then rejects with ShutDown', async () => {
      const q = await track(backend.queue<string>())
      await q.put('a')
      await q.put('b')
      await q.shutdown()
      expect(await failure(() => q.put('c'))).toMatchObject({ name: 'ShutDown', code: 'IPC_SHUTDOWN', item: 'c' })
      expect(await failure(() => q.putNowait('d'))).toMatchObject({ name: 'ShutDown', item: 'd' })
      expect(await q.get()).toBe('a')
      expect(await q.getNowait()).toBe('b')
      expect(await failure(() => q.get())).toMatchObject({ name: 'ShutDown' })
    })

    it('drops everything with immediate', async () => {
      const q = await track(backend.queue<string>())
      await q.putMany(['a', 'b'])
      await q.shutdown({ immediate: true })
      expect(await q.qsize()).toBe(0)
      expect(await failure(() => q.getNowait())).toMatchObject({ name: 'ShutDown' })
    })

    it('rejects a get that was waiting in another object', async () => {
      const q = await track(backend.queue<string>({ name: uniqueName('shutdown') }))
      const other = await track(backend.openQueue<string>(q.name))
      const waiting = failure(() => other.get())
      await new Promise((resolve) => setTimeout(resolve, 20))
      await q.shutdown()
      expect(await waiting).toMatchObject({ name: 'ShutDown' })
    })

    it('rejects a put that was waiting for room with ShutDown carrying its item', async () => {
      const q = await track(backend.queue<string>({ maxsize: 1 }))
      await q.put('a')
      const waiting = failure(() => q.put('b'))
      await new Promise((resolve) => setTimeout(resolve, 20))
      await q.shutdown()
      expect(await waiting).toMatchObject({ name: 'ShutDown', item: 'b' })
      expect(await q.get()).toBe('a')
    })

    it('ends for await once the queue is drained', async () => {
      const q = await track(backend.queue<number>())
      await q.putMany([1, 2, 3])
      await q.shutdown()
      const seen: number[] = []
      for await (const item of q) seen.push(item)
      expect(seen).toEqual([1, 2, 3])
    })
  })

  describe(`Queue#close() and open() (${label})`, () => {
    it('rejects a pending get with ClosedError, and later calls too', async () => {
      const q = await backend.queue<string>()
      const waiting = failure(() => q.get())
      await new Promise((resolve) => setTimeout(resolve, 20))
      await q.close()
      expect(await waiting).toMatchObject({ name: 'ClosedError', code: 'IPC_CLOSED' })
      expect(await failure(() => q.get())).toMatchObject({ name: 'ClosedError' })
      await q.close()
    })

    it('open() rejects a missing name with NotFoundError, and a queue of the other kind with IncompatibleError', async () => {
      expect(await failure(() => backend.openQueue(uniqueName('missing')))).toMatchObject({ name: 'NotFoundError' })
      const q = await track(backend.queue({ name: uniqueName('kind') }))
      expect(await failure(() => backend.openJoinable(q.name))).toMatchObject({ name: 'IncompatibleError' })
    })
  })

  describe(`Queue delivery (${label})`, () => {
    it('gives each item to exactly one of several waiting consumers, each producer in order', async () => {
      const q = await track(backend.queue<string>({ name: uniqueName('once'), maxsize: 16 }))
      const consumers = await Promise.all([1, 2, 3].map(() => track(backend.openQueue<string>(q.name))))
      const producers = await Promise.all([1, 2].map(() => track(backend.openQueue<string>(q.name))))
      const count = 300
      const seen: string[][] = consumers.map(() => [])
      const running = consumers.map(async (consumer, c) => {
        for (;;) {
          try {
            seen[c]?.push(await consumer.get({ timeout: 5000 }))
          } catch (error) {
            if ((error as Error).name === 'ShutDown') return
            throw error
          }
        }
      })
      await Promise.all(
        producers.map(async (producer, p) => {
          for (let i = 0; i < count; i++) await producer.put(`${p}:${i}`)
        }),
      )
      await q.shutdown()
      await Promise.all(running)
      const all = seen.flat()
      expect(all.length).toBe(2 * count)
      expect(new Set(all).size).toBe(2 * count)
      // Each consumer sees each producer's items in order.
      for (const mine of seen)
        for (const p of [0, 1]) {
          const numbers = mine.filter((item) => item.startsWith(`${p}:`)).map((item) => Number(item.slice(2)))
          expect(numbers).toEqual([...numbers].sort((a, b) => a - b))
        }
    })
  })

  describe(`JoinableQueue (${label})`, () => {
    it('taskDone() rejects with ValueError when called more times than items were put', async () => {
      const q = await track(backend.joinable<number>())
      await q.put(1)
      await q.get()
      await q.taskDone()
      expect(await failure(() => q.taskDone())).toMatchObject({ name: 'ValueError', code: 'IPC_VALUE' })
    })

    it('join() resolves true at once when nothing is unfinished, false after its timeout otherwise', async () => {
      const q = await track(backend.joinable<number>())
      expect(await q.join({ timeout: 0 })).toBe(true)
      await q.put(1)
      expect(await q.join({ timeout: 30 })).toBe(false)
      expect(await q.join({ timeout: 0 })).toBe(false)
    })

    it('join() waits until every item is marked done, in any object', async () => {
      const q = await track(backend.joinable<number>({ name: uniqueName('join') }))
      const worker = await track(backend.openJoinable<number>(q.name))
      await q.putMany([1, 2, 3])
      let joined = false
      const joining = q.join().then((value) => {
        joined = value
      })
      for (let i = 0; i < 3; i++) {
        await worker.get()
        await new Promise((resolve) => setTimeout(resolve, 5))
        expect(joined).toBe(false)
        await worker.taskDone()
      }
      await joining
      expect(joined).toBe(true)
    })

    it('join() rejects with signal.reason on abort', async () => {
      const q = await track(backend.joinable<number>())
      await q.put(1)
      const controller = new AbortController()
      setTimeout(() => controller.abort(new Error('enough')), 20)
      await expect(q.join({ signal: controller.signal })).rejects.toThrow('enough')
    })

    it('join() returns when shutdown({ immediate: true }) drops the unfinished items', async () => {
      const q = await track(backend.joinable<number>())
      await q.putMany([1, 2])
      const joining = q.join({ timeout: 5000 })
      await new Promise((resolve) => setTimeout(resolve, 20))
      await q.shutdown({ immediate: true })
      expect(await joining).toBe(true)
    })
  })
}
