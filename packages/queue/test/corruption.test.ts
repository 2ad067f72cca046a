/**
 * A queue whose shared memory another process scribbles on: attaching to
 * damaged metadata throws CorruptError, and a corrupt item makes a waiting
 * get throw CorruptError within its timeout (the event loop running) instead
 * of wedging; the queue object is unusable after, close() works.
 */
import { truncateSync } from 'node:fs'
import { HEADER_BYTES, MPMC_RING_HEADER_BYTES, Segment } from '@ipc/core/internal'
import { CorruptError, IncompatibleError, JoinableQueue, Queue } from '@ipc/queue'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const corrupter = new URL('./fixtures/queue-corrupter.mjs', import.meta.url)
const fuzzer = new URL('./fixtures/fuzz-queue.mjs', import.meta.url)
const blocked = new URL('./fixtures/blocked.mjs', import.meta.url)

// From src/layout.ts and core's mpmc-ring.ts (white box): word indexes in the data area.
const QUEUE_KIND = { kind: 'queue', version: 4, label: 'queue' }
const W_MAGIC = 0
const RING = 64 / 4
const P_LOCK = RING + 0
const TAIL = RING + 1
const TAIL_COUNT = RING + 2
const C_LOCK = RING + 16
const HEAD = RING + 17
const HEAD_COUNT = RING + 18
const C_PHASE = RING + 22
const CAPACITY = RING + 34
const MAX_ITEMS = RING + 35
const FLAGS = RING + 36
const C_WAITERS = RING + 37

/** Counts event-loop ticks (every 5 ms) until the returned function is called. */
function ticker(): () => number {
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  onTestFinished(() => clearInterval(timer))
  return () => {
    clearInterval(timer)
    return ticks
  }
}

/** The data area of queue `name` as another process maps it. */
function scribbler(name: string): Int32Array {
  const segment = Segment.open(QUEUE_KIND, name)
  onTestFinished(() => segment.close())
  return new Int32Array(segment.buffer, segment.dataOffset)
}

function newQueue(options: { maxsize?: number; capacity?: number } = {}): Queue<unknown> {
  const queue = new Queue({ name: uniqueName('corrupt'), capacity: 1024, ...options })
  onTestFinished(() => queue.close())
  return queue
}

describe('Queue.open() of damaged metadata', () => {
  const cases: [string, (words: Int32Array) => void][] = [
    ['a capacity that is not a multiple of 8', (w) => (w[CAPACITY] = 1020)],
    ['a capacity larger than the segment', (w) => (w[CAPACITY] = 1 << 24)],
    ['a negative capacity', (w) => (w[CAPACITY] = -1024)],
    ['a misaligned head', (w) => (w[HEAD] = 12)],
    ['a head beyond twice the capacity', (w) => (w[HEAD] = 1 << 20)],
    ['a tail more than the capacity ahead of head', (w) => (w[TAIL] = 1024 + 64)],
    ['a size (items counted) larger than the bytes can hold', (w) => (w[TAIL_COUNT] = 5000)],
    ['a size below zero', (w) => (w[HEAD_COUNT] = 100)],
    ['a negative maxsize in the ring', (w) => (w[MAX_ITEMS] = -1)],
    ['an unknown state flag', (w) => (w[FLAGS] = 6)],
    ['a commit phase other than 0 or 1', (w) => (w[C_PHASE] = 7)],
    ['a lock word naming no slot', (w) => (w[C_LOCK] = 0x300)],
    ['a wrong magic', (w) => (w[W_MAGIC] = 0x1234)],
  ]
  for (const [what, scribble] of cases) {
    it(`throws CorruptError for ${what}`, () => {
      const queue = newQueue()
      queue.putSync('before')
      scribble(scribbler(queue.name))
      expect(() => Queue.open(queue.name)).toThrow(CorruptError)
    })
  }

  // The file cut short by its owner (header intact): nothing is read past the end.
  for (const [bytes, what] of [
    [0, 'no data area'],
    [64, 'the queue words but no ring header'],
    [192, 'part of the ring header'],
  ] as const) {
    it(`throws CorruptError, not a RangeError, for a file cut short to ${what}`, () => {
      const queue = new Queue({ name: uniqueName('short'), capacity: 64, persistent: true })
      onTestFinished(() => {
        queue.unlink()
        queue.close()
      })
      truncateSync(`/dev/shm/ipc-${queue.name}`, HEADER_BYTES + bytes)
      expect(() => Queue.open(queue.name)).toThrow(CorruptError)
      expect(() => Queue.open(queue.name)).toThrow(
        `a data area of ${bytes} bytes, too short for the layout's ${64 + MPMC_RING_HEADER_BYTES}`,
      )
    })
  }

  it('still throws IncompatibleError for another kind', () => {
    const queue = newQueue()
    expect(() => JoinableQueue.open(queue.name)).toThrow(IncompatibleError)
  })

  it('a sound queue attaches and works (the checks do not refuse good metadata)', () => {
    const queue = newQueue({ maxsize: 5 })
    for (let i = 0; i < 5; i++) queue.putSync(`item-${i}`)
    queue.getSync()
    const other = Queue.open(queue.name)
    onTestFinished(() => other.close())
    expect(other.qsize()).toBe(4)
    expect(other.getSync()).toBe('item-1')
  })
})

describe('a corrupt item published while a consumer waits', () => {
  const cases = ['negative size', 'size beyond what was published', 'unknown tag', 'misaligned tail']
  for (const kase of cases) {
    it(`${kase}: a waiting get() rejects with CorruptError, the event loop ticking`, { timeout: 20_000 }, async () => {
      const queue = newQueue()
      const child = spawnChild(corrupter, [queue.name, kase, '200'])
      const stop = ticker()
      const started = performance.now()
      await expect(queue.get({ timeout: 10_000 })).rejects.toThrow(CorruptError)
      expect(performance.now() - started).toBeLessThan(8000)
      expect(stop()).toBeGreaterThanOrEqual(10)
      expect(await child.exited).toBe(0)
      // Unusable in this process from now on, at once; close still works.
      const again = performance.now()
      expect(() => queue.getSync({ timeout: 5000 })).toThrow(CorruptError)
      await expect(queue.put('x', { timeout: 5000 })).rejects.toThrow(CorruptError)
      expect(() => queue.qsize()).toThrow(CorruptError)
      expect(performance.now() - again).toBeLessThan(500)
      queue.close()
      expect(queue.closed).toBe(true)
    })

    it(`${kase}: a blocked getSync({ timeout }) throws CorruptError promptly`, { timeout: 20_000 }, async () => {
      const queue = newQueue()
      const child = spawnChild(corrupter, [queue.name, kase, '300'])
      await child.waitFor('ready')
      const started = performance.now()
      expect(() => queue.getSync({ timeout: 10_000 })).toThrow(CorruptError)
      expect(performance.now() - started).toBeLessThan(5000)
      expect(await child.exited).toBe(0)
    })
  }
})

describe('a put whose wake-up meets a scribbled lock word', () => {
  it('keeps the item it put and faults the object (the next call throws), instead of throwing from a put that took effect; the sleeper share of the dead consumer is dropped all the same', async () => {
    // A waiting get killed in a child leaves its sleeper share, so puts keep trying to wake it
    // and, after a while of finding nobody, sweep for dead attachments. The sweep reaps the child,
    // whose reclaim meets a consumer lock word naming slot 199 of 128. A put that threw there
    // would report a failure for an item it had put: a caller (the pool) would put it again.
    const queue = newQueue({ capacity: 1 << 20 })
    const child = spawnChild(blocked, [JSON.stringify(queue.handle), 'get-async'])
    await child.waitFor('waiting')
    await new Promise((resolve) => setTimeout(resolve, 200))
    child.child.kill('SIGKILL')
    await child.exited
    const words = scribbler(queue.name)
    words[C_LOCK] = 200 * 2 ** 22
    let returned = 0
    let error: unknown
    const deadline = performance.now() + 10_000
    while (error === undefined && performance.now() < deadline) {
      try {
        queue.putSync(returned)
        returned++
      } catch (caught) {
        error = caught
      }
      if (returned % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 2))
    }
    expect(error).toBeInstanceOf(CorruptError)
    expect(String(error)).toContain('a lock word is 838860800')
    // Every put that returned put its item, and none that threw did.
    expect((words[TAIL_COUNT] as number) - (words[HEAD_COUNT] as number)).toBe(returned)
    expect(() => queue.putSync('after')).toThrow(CorruptError)
    // The reclaim that threw still dropped the dead consumer's sleeper share (the slot is freed
    // either way): a share left behind made every later put pay a wake syscall for nobody.
    expect(words[C_WAITERS]).toBe(0)
  })
})

describe('a putMany whose next round meets a scribbled lock word', () => {
  it('rejects with CorruptError saying how many of its items went in, and that many are in the queue', async () => {
    // 1 KiB of ring holds 4 of these items: the first round puts 4, then the call waits for room.
    const queue = newQueue()
    const items = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(200, '.'))
    const putting = queue.putMany(items)
    const outcome = putting.then(
      () => undefined,
      (error: unknown) => error,
    )
    const words = scribbler(queue.name)
    const deadline = performance.now() + 5_000
    while ((words[TAIL_COUNT] as number) === 0 && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 1))
    const first = words[TAIL_COUNT] as number
    expect(first).toBeGreaterThan(0)
    expect(first).toBeLessThan(items.length)
    // Attached first (an attach checks the lock words). The producer lock then names slot 199 of
    // 128; taking two items wakes the waiting put.
    const consumer = Queue.from(queue.handle)
    onTestFinished(() => consumer.close())
    words[P_LOCK] = 200 * 2 ** 22
    expect([consumer.getSync(), consumer.getSync()]).toEqual(items.slice(0, 2))
    const error = await outcome
    expect(error).toBeInstanceOf(CorruptError)
    expect(String(error)).toContain(`the first ${first} of the batch's 10 items were put, the rest were not`)
    expect(words[TAIL_COUNT]).toBe(first)
  })
})

describe('random words scribbled on a queue while attached (fuzz, in a child process)', () => {
  it('every call works or throws CorruptError/Empty/Full/ShutDown in bound; the child never hangs or crashes', {
    timeout: 120_000,
  }, async () => {
    const seed = Number(process.env.IPC_FUZZ_SEED ?? Date.now() % 2 ** 31)
    const rounds = 400
    console.log(`queue fuzz seed: ${seed} (rerun with IPC_FUZZ_SEED=${seed})`)
    const child = spawnChild(fuzzer, [String(seed), String(rounds)])
    // Each round has a hard deadline: the child reports every round, and must not go quiet.
    for (let round = 0; round < rounds; round++) {
      await child.waitFor(`round ${round} `, 20_000).catch((error: unknown) => {
        throw new Error(`seed ${seed}: round ${round} missed its deadline: ${String(error)}`)
      })
    }
    await child.waitFor('done', 10_000)
    expect(await child.exited, `seed ${seed}: ${child.stderr()}`).toBe(0)
    console.log(`queue fuzz: ${child.stdout().match(/done (.*)/)?.[1]}`)
    expect(child.stdout()).not.toMatch(/unexpected/)
  })
})
