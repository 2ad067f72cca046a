import { inspect } from 'node:util'
import { notifyWord, ownerCode, SLOT_COUNT, TRANSFER, threadId } from '@ipc/core/internal'
import { shmSegments, spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  ClosedError,
  DataCloneError,
  Empty,
  ExistsError,
  Full,
  IncompatibleError,
  IpcError,
  JoinableQueue,
  NotFoundError,
  Queue,
  ShutDown,
  SimpleQueue,
} from './index.js'
import { RING_OFFSET } from './layout.js'
import { queueState } from './queue.js'

function queue<T>(options: ConstructorParameters<typeof Queue>[0] = {}): Queue<T> {
  const q = new Queue<T>({ name: uniqueName('queue'), ...options })
  onTestFinished(() => q.close())
  return q
}

describe('new Queue()', () => {
  it('creates a named queue that Queue.open() and Queue.from() attach to', () => {
    const q = queue<string>()
    const opened = Queue.open<string>(q.name)
    const fromHandle = Queue.from<string>(JSON.parse(JSON.stringify(q.handle)))
    onTestFinished(() => {
      opened.close()
      fromHandle.close()
    })
    q.putSync('one')
    opened.putSync('two')
    expect(fromHandle.getSync()).toBe('one')
    expect(q.getSync()).toBe('two')
    expect(q.handle).toEqual({ kind: 'queue', name: q.name })
  })

  it('gives a random name when none is given', () => {
    const a = new Queue()
    const b = new Queue()
    onTestFinished(() => {
      a.close()
      b.close()
    })
    expect(a.name).not.toBe(b.name)
    expect(a.name.length).toBeGreaterThanOrEqual(16)
  })

  it('throws ExistsError for a name that exists', () => {
    const q = queue()
    expect(() => new Queue({ name: q.name })).toThrow(ExistsError)
  })

  it('validates maxsize and capacity', () => {
    expect(() => new Queue({ maxsize: -1 })).toThrow(
      'The "maxsize" option must be an integer from 0 to 2147483647, received -1',
    )
    expect(() => new Queue({ maxsize: 1.5 })).toThrow(RangeError)
    // A string is a TypeError that shows it is one, as for every other option.
    expect(() => new Queue({ maxsize: '10' as unknown as number })).toThrow(TypeError)
    expect(() => new JoinableQueue({ maxsize: '10' as unknown as number })).toThrow("received '10'")
    // null is no limit, as undefined (it always was).
    const unbounded = new Queue({ maxsize: null as unknown as number })
    expect(unbounded.maxsize).toBe(0)
    unbounded.close()
    expect(() => new Queue({ capacity: 10 })).toThrow(RangeError)
    expect(() => new Queue({ capacity: '1' as unknown as number })).toThrow(TypeError)
    expect(() => new Queue({ name: 'a/b' })).toThrow(TypeError)
  })

  it('refuses an option name it does not know, naming the one meant, before creating anything', () => {
    // maxSize for maxsize would otherwise make an unbounded queue in silence.
    const misspelled = { maxSize: 10 } as never
    expect(() => new Queue(misspelled)).toThrow(
      'Unknown option "maxSize" in the options. Did you mean "maxsize"? Known: "maxsize", "capacity", "name", "persistent".',
    )
    expect(() => new JoinableQueue(misspelled)).toThrow(/Did you mean "maxsize"/)
    // SimpleQueue has no maxsize: it is unknown there, not dropped.
    expect(() => new SimpleQueue({ maxsize: 3 } as never)).toThrow(/Unknown option "maxsize"/)
    // Inherited names count for SimpleQueue too (a spread dropped them).
    const simple = new SimpleQueue(Object.create({ capacity: 4096 }))
    onTestFinished(() => simple.close())
    expect(inspect(simple)).toContain('capacity: 4096')
    const name = uniqueName('misspelled')
    expect(() => Queue.open(name, { create: { maxSize: 10 } } as never)).toThrow(
      /Unknown option "maxSize" in the "create" option\. Did you mean "maxsize"\?/,
    )
    // An inherited name counts, as in the constructor's options (a spread would have dropped it).
    expect(() => Queue.open(name, { create: Object.create({ maxSize: 10 }) })).toThrow(/Unknown option "maxSize"/)
    const inherited = Queue.open(uniqueName('inherited'), { create: Object.create({ maxsize: 3 }) })
    onTestFinished(() => inherited.close())
    expect(inherited.maxsize).toBe(3)
    // A name other code set on Object.prototype is not the caller's: ignored, not refused.
    const polluted = Object.prototype as Record<string, unknown>
    polluted.pollutedName = 1
    try {
      const fine = Queue.open(uniqueName('polluted'), { create: { maxsize: 2 } })
      onTestFinished(() => fine.close())
      expect(fine.maxsize).toBe(2)
      expect(() => fine.getSync({ timeout: 0 })).toThrow(Empty)
    } finally {
      delete polluted.pollutedName
    }
    expect(() => Queue.open(name, { crate: true } as never)).toThrow(/Unknown option "crate".*Did you mean "create"/)
    expect(() => Queue.open(name)).toThrow(NotFoundError)
  })

  it('defaults to an unbounded count and a 1 MiB ring', () => {
    const q = queue()
    expect(q.maxsize).toBe(0)
    expect(q.capacity).toBe(1024 * 1024)
    expect(q.full()).toBe(false)
  })
})

describe('Queue.open()', () => {
  it('throws NotFoundError for a missing name', () => {
    expect(() => Queue.open(uniqueName('missing'))).toThrow(NotFoundError)
  })

  it('throws IncompatibleError for a joinable queue and vice versa', () => {
    const q = queue()
    const joinable = new JoinableQueue({ name: uniqueName('joinable') })
    onTestFinished(() => joinable.close())
    expect(() => JoinableQueue.open(q.name)).toThrow(IncompatibleError)
    expect(() => Queue.open(joinable.name)).toThrow(IncompatibleError)
  })

  it('Queue.from() rejects a handle of another kind', () => {
    expect(() => Queue.from({ kind: 'semaphore', name: 'x' })).toThrow(TypeError)
    expect(() => Queue.from(null as never)).toThrow(TypeError)
  })
})

describe('Queue#put() and #get()', () => {
  it('keeps FIFO order and round-trips structured-clone values', async () => {
    const q = queue<unknown>()
    const values = [
      'msg-12345',
      'ünïcode ☃',
      'a lone surrogate \ud800 kept',
      { id: 1, tags: new Set(['a']) },
      Buffer.from('b'),
      new Uint8Array([1]),
      0,
      null,
    ]
    for (const value of values) await q.put(value)
    expect(q.qsize()).toBe(values.length)
    for (const value of values) expect(await q.get()).toEqual(value)
    expect(q.empty()).toBe(true)
  })

  it('writes the item before put() returns, when there is room', () => {
    const q = queue<string>()
    void q.put('now')
    expect(q.qsize()).toBe(1)
    expect(q.getNowait()).toBe('now')
  })

  it('get() resolves when another put arrives later', async () => {
    const q = queue<string>()
    setTimeout(() => q.putSync('later'), 20)
    expect(await q.get()).toBe('later')
  })

  it('get() rejects with Empty after the timeout and leaves the queue unchanged', async () => {
    const q = queue<string>()
    const error = await q.get({ timeout: 20 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Empty)
    expect(error).toMatchObject({ name: 'Empty', code: 'IPC_EMPTY' })
    expect((error as Error).message).toBe(`Cannot get from queue "${q.name}": it is empty after waiting 20 ms`)
    expect(q.qsize()).toBe(0)
  })

  it('put() rejects with Full after the timeout and puts nothing', async () => {
    const q = queue<number>({ maxsize: 1 })
    await q.put(1)
    const error = await q.put(2, { timeout: 20 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Full)
    expect(error).toMatchObject({ code: 'IPC_FULL' })
    expect(q.qsize()).toBe(1)
    expect(q.getNowait()).toBe(1)
    expect(() => q.getNowait()).toThrow(Empty)
  })

  it('put() waits for room and completes when a get frees it', async () => {
    const q = queue<number>({ maxsize: 2 })
    await q.put(1)
    await q.put(2)
    const pending = q.put(3)
    expect(q.qsize()).toBe(2)
    setTimeout(() => q.getSync(), 20)
    await pending
    expect(q.qsize()).toBe(2)
    expect(q.getSync()).toBe(2)
    expect(q.getSync()).toBe(3)
  })

  it('put() waits when the bytes run out even without maxsize', async () => {
    const q = queue<string>({ capacity: 64 })
    for (let i = 0; i < 4; i++) q.putNowait(`item-00${i}`)
    expect(() => q.putNowait('item-004')).toThrow(Full)
    expect(q.full()).toBe(false)
    const pending = q.put('item-004', { timeout: 5000 })
    expect(q.getSync()).toBe('item-000')
    await pending
    expect(q.qsize()).toBe(4)
  })

  it('get() with an aborted signal rejects with signal.reason and takes nothing', async () => {
    const q = queue<string>()
    q.putSync('kept')
    const controller = new AbortController()
    controller.abort()
    await expect(q.get({ signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' })
    expect(q.qsize()).toBe(1)
  })

  it('get() aborted while waiting rejects with signal.reason, and a later item is not lost', async () => {
    const q = queue<string>()
    const controller = new AbortController()
    const pending = q.get({ signal: controller.signal })
    setTimeout(() => controller.abort(new Error('changed my mind')), 20)
    await expect(pending).rejects.toThrow('changed my mind')
    q.putSync('after')
    expect(q.getSync()).toBe('after')
  })

  it('put() aborted while waiting for room rejects and puts nothing', async () => {
    const q = queue<number>({ maxsize: 1 })
    q.putSync(1)
    const pending = q.put(2, { signal: AbortSignal.timeout(20) })
    await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' })
    expect(q.qsize()).toBe(1)
    expect(q.getSync()).toBe(1)
    expect(() => q.getNowait()).toThrow(Empty)
  })

  it('put() with an aborted signal rejects before touching the queue', async () => {
    const q = queue<number>()
    await expect(q.put(1, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect(q.qsize()).toBe(0)
  })

  it('validates the options', async () => {
    const q = queue<number>()
    await expect(q.get({ timeout: -1 })).rejects.toThrow(RangeError)
    await expect(q.put(1, { signal: 'x' as never })).rejects.toThrow(TypeError)
    expect(() => q.getSync({ timeout: Number.NaN })).toThrow(TypeError)
  })

  it('refuses a call option it does not know (a misspelled timeout would wait forever)', async () => {
    const q = queue<number>()
    await expect(q.get({ timout: 10 } as never)).rejects.toThrow(/Unknown option "timout".*Did you mean "timeout"/)
    expect(() => q.getSync({ timeOut: 10 } as never)).toThrow(/Did you mean "timeout"/)
    expect(() => q.putSync(1, { block: false } as never)).toThrow(/Unknown option "block"/)
    expect(() => q.getManySync({ maxItems: 2, timeout: 0 } as never)).toThrow(/Unknown option "maxItems"/)
    expect(() => q.shutdown({ immediately: true } as never)).toThrow(/Did you mean "immediate"/)
    // Nothing was put, and the queue is still open.
    expect(q.qsize()).toBe(0)
    q.putSync(1)
    expect(q.getManySync({ max: 1, timeout: 0 })).toEqual([1])
  })

  it('throws DataCloneError for a value that cannot be cloned and leaves the queue unchanged', async () => {
    const q = queue<unknown>()
    q.putSync('before')
    await expect(q.put({ callback() {} })).rejects.toThrow(DataCloneError)
    expect(() => q.putSync(Symbol('no') as never)).toThrow(DataCloneError)
    expect(() => q.putNowait(() => 1)).toThrow(DataCloneError)
    expect(q.qsize()).toBe(1)
    expect(q.getSync()).toBe('before')
    expect(() => q.getNowait()).toThrow(Empty)
  })

  it('throws RangeError for an item larger than the capacity and leaves the queue unchanged', async () => {
    const q = queue<unknown>({ capacity: 1024 })
    q.putSync('before')
    await expect(q.put(Buffer.alloc(2000))).rejects.toThrow(RangeError)
    expect(() => q.putSync('x'.repeat(5000))).toThrow(/holds 1024 bytes/)
    expect(q.qsize()).toBe(1)
    expect(q.getSync()).toBe('before')
    q.putSync(Buffer.alloc(1016))
    expect((q.getSync() as Buffer).length).toBe(1016)
  })
})

describe('Queue#putSync() and #getSync()', () => {
  it('block until the timeout, then throw Full / Empty', () => {
    const q = queue<number>({ maxsize: 1 })
    expect(() => q.getSync({ timeout: 20 })).toThrow(Empty)
    q.putSync(1)
    expect(() => q.putSync(2, { timeout: 20 })).toThrow(Full)
    expect(q.getSync({ timeout: 0 })).toBe(1)
  })

  it('throw signal.reason for an already aborted signal', () => {
    const q = queue<number>()
    const reason = new Error('aborted before')
    expect(() => q.putSync(1, { signal: AbortSignal.abort(reason) })).toThrow(reason)
    expect(() => q.getSync({ signal: AbortSignal.abort(reason) })).toThrow(reason)
    expect(q.qsize()).toBe(0)
  })
})

describe('Queue#putNowait() and #getNowait()', () => {
  it('throw Full and Empty at once', () => {
    const q = queue<string>({ maxsize: 1 })
    expect(() => q.getNowait()).toThrow(`Cannot get from queue "${q.name}": it is empty`)
    q.putNowait('a')
    expect(q.full()).toBe(true)
    expect(() => q.putNowait('b')).toThrow(`Cannot put to queue "${q.name}": it is full`)
    expect(q.getNowait()).toBe('a')
  })
})

describe('Queue#close() while its own get() waits', () => {
  // Ring words from @ipc/core's mpmc-ring.ts layout table (white box).
  const C_WAITERS = 37
  const SLOT_C_WAITERS = 192

  it("leaves the count of sleeping getters right: another object's get still wakes at the next put", async () => {
    const q = queue<number>()
    const closing = Queue.open<number>(q.name)
    const other = Queue.open<number>(q.name)
    onTestFinished(() => other.close())
    const { segment } = queueState(q as Queue<unknown>)
    const ring = (segment.dataOffset + RING_OFFSET) / 4
    const closed = closing.get({ timeout: 10_000 })
    const woken = other.get({ timeout: 10_000 })
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(Atomics.load(segment.i32, ring + C_WAITERS)).toBe(2)
    closing.close()
    await expect(closed).rejects.toBeInstanceOf(ClosedError)
    // The closed object's leave and its ring's give-back of its share must not both count: before, the
    // count fell to 0 while other's get slept, so the put made no wake-up and it waited for its next look.
    expect(Atomics.load(segment.i32, ring + C_WAITERS)).toBe(1)
    const started = performance.now()
    q.putSync(1)
    expect(await woken).toBe(1)
    expect(performance.now() - started).toBeLessThan(300)
    expect(Atomics.load(segment.i32, ring + C_WAITERS)).toBe(0)
    for (let s = 0; s < 128; s++) expect(Atomics.load(segment.i32, ring + SLOT_C_WAITERS + s)).toBe(0)
  })
})

describe('a dead attacher whose slot a full table hands to a new attachment', () => {
  it("abandons the locks the slot held: the heir, with the dead holder's thread id, is not taken for their holder", {
    timeout: 30_000,
  }, async () => {
    const q = queue<string>()
    const child = spawnChild(new URL('../test/fixtures/blocked.mjs', import.meta.url), [
      JSON.stringify(q.handle),
      'get-async',
    ])
    await child.waitFor('waiting')
    const { segment } = queueState(q as Queue<unknown>)
    const childSlot = Array.from({ length: SLOT_COUNT }, (_, s) => s).find(
      (s) => segment.slotOwner(s)?.pid === child.child.pid,
    ) as number
    expect(childSlot).toBeGreaterThan(0)
    child.child.kill('SIGKILL')
    expect(await child.exited).toBe(-9)
    // White box: the consumer lock word (mpmc-ring.ts's C_LOCK, word 16) names the dead child's slot
    // and this thread, as if it died holding it and its pid came back as this thread's id.
    const cLock = (segment.dataOffset + RING_OFFSET) / 4 + 16
    Atomics.store(segment.i32, cLock, ownerCode(childSlot, threadId()))
    const others: Queue<string>[] = []
    onTestFinished(() => {
      for (const other of others) other.close()
    })
    for (let i = 2; i < SLOT_COUNT; i++) others.push(Queue.open<string>(q.name))
    // Every slot is taken: this open takes the dead child's slot. Before, its own code in the lock
    // word read as corrupt memory (CorruptError at open); now the lock was abandoned, and the
    // heir's get takes it over (repairing what the dead holder may have left half done).
    const heir = Queue.open<string>(q.name)
    others.push(heir)
    heir.putSync('after')
    expect(heir.getNowait()).toBe('after')
  })
})

describe('Queue calls while a live attachment holds the lock', () => {
  // Ring words from @ipc/core's mpmc-ring.ts layout table (white box).
  const P_LOCK = 0
  const C_LOCK = 16

  /** A queue holding 'kept', and a lock word that names a second, live attachment of it (as a stopped holder would). */
  function held(lock: number): { q: Queue<string>; release: () => void } {
    const q = queue<string>()
    q.putSync('kept')
    const other = Queue.open<string>(q.name)
    onTestFinished(() => other.close())
    const { segment } = queueState(other as Queue<unknown>)
    const ring = (segment.dataOffset + RING_OFFSET) / 4
    // The owner word (core's ownership/owner-word.ts): that attachment's slot + 1, this thread's id.
    Atomics.store(segment.i32, ring + lock, ((segment.slot + 1) << 22) | (threadId() & 0x3fffff))
    const release = () => {
      // As the holder's unlock does: clear the word, wake a sleeper.
      Atomics.store(segment.i32, ring + lock, 0)
      notifyWord(segment.i32, ring + lock, 1)
    }
    onTestFinished(release)
    return { q, release }
  }

  function ticker(): () => number {
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    onTestFinished(() => clearInterval(timer))
    return () => ticks
  }

  it('get({ timeout: 50 }) rejects with Empty at ~50 ms while the event loop ticks, taking nothing', async () => {
    const { q, release } = held(C_LOCK)
    const ticks = ticker()
    const started = performance.now()
    await expect(q.get({ timeout: 50 })).rejects.toBeInstanceOf(Empty)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(ticks()).toBeGreaterThanOrEqual(2)
    release()
    expect(q.getNowait()).toBe('kept')
  })

  it('get({ signal }) aborted at 20 ms rejects with signal.reason while the event loop ticks', async () => {
    const { q, release } = held(C_LOCK)
    const ticks = ticker()
    const started = performance.now()
    await expect(q.get({ signal: AbortSignal.timeout(20) })).rejects.toMatchObject({ name: 'TimeoutError' })
    expect(performance.now() - started).toBeLessThan(1000)
    expect(ticks()).toBeGreaterThanOrEqual(1)
    release()
    expect(q.getNowait()).toBe('kept')
  })

  it('getSync({ timeout: 50 }) throws Empty at its deadline, and getNowait() at once', () => {
    const { q, release } = held(C_LOCK)
    let started = performance.now()
    expect(() => q.getSync({ timeout: 50 })).toThrow(Empty)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(performance.now() - started).toBeLessThan(1000)
    started = performance.now()
    expect(() => q.getNowait()).toThrow(Empty)
    expect(performance.now() - started).toBeLessThan(50)
    release()
    expect(q.getNowait()).toBe('kept')
  })

  it('get() without a timeout waits, event loop ticking, and resolves once the holder releases', async () => {
    const { q, release } = held(C_LOCK)
    const ticks = ticker()
    const pending = q.get()
    setTimeout(release, 200)
    expect(await pending).toBe('kept')
    expect(ticks()).toBeGreaterThanOrEqual(10)
  })

  it('put({ timeout: 50 }) rejects with Full at ~50 ms and putNowait() throws Full at once, putting nothing', async () => {
    const { q, release } = held(P_LOCK)
    const ticks = ticker()
    let started = performance.now()
    await expect(q.put('late', { timeout: 50 })).rejects.toBeInstanceOf(Full)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(ticks()).toBeGreaterThanOrEqual(2)
    started = performance.now()
    expect(() => q.putNowait('now')).toThrow(Full)
    expect(performance.now() - started).toBeLessThan(50)
    release()
    expect(q.qsize()).toBe(1)
    await q.put('after')
    expect(q.getSync()).toBe('kept')
    expect(q.getSync()).toBe('after')
  })
})

describe('Queue#shutdown()', () => {
  it('makes put throw ShutDown carrying the item, lets get drain, then throws ShutDown', async () => {
    const q = queue<string>()
    q.putSync('a')
    q.putSync('b')
    q.shutdown()
    const error = (await q.put('c').catch((e: unknown) => e)) as ShutDown
    expect(error).toBeInstanceOf(ShutDown)
    expect(error).toMatchObject({ code: 'IPC_SHUTDOWN', item: 'c' })
    expect(() => q.putNowait('d')).toThrow(ShutDown)
    expect(await q.get()).toBe('a')
    expect(q.getSync()).toBe('b')
    await expect(q.get()).rejects.toThrow(`Cannot get from queue "${q.name}": it was shut down and is empty`)
    expect(() => q.getNowait()).toThrow(ShutDown)
  })

  it('drops everything with immediate', () => {
    const q = queue<number>()
    for (let i = 0; i < 5; i++) q.putSync(i)
    q.shutdown({ immediate: true })
    expect(q.qsize()).toBe(0)
    expect(() => q.getSync()).toThrow(ShutDown)
  })

  it('rejects a get that was waiting, in another attachment too', async () => {
    const q = queue<number>()
    const other = Queue.open<number>(q.name)
    onTestFinished(() => other.close())
    const waiting = other.get()
    await new Promise((r) => setTimeout(r, 10))
    q.shutdown()
    await expect(waiting).rejects.toThrow(ShutDown)
  })

  it('rejects a put that was waiting for room with ShutDown carrying its item', async () => {
    const q = queue<string>({ maxsize: 1 })
    q.putSync('in')
    const waiting = q.put('waiting')
    await new Promise((r) => setTimeout(r, 10))
    q.shutdown()
    const error = (await waiting.catch((e: unknown) => e)) as ShutDown
    expect(error).toBeInstanceOf(ShutDown)
    expect(error.item).toBe('waiting')
    expect(q.getSync()).toBe('in')
  })

  it('ends for await once the queue is drained', async () => {
    const q = queue<number>()
    for (let i = 0; i < 3; i++) q.putSync(i)
    setTimeout(() => {
      q.putSync(3)
      q.shutdown()
    }, 20)
    const seen: number[] = []
    for await (const n of q) seen.push(n)
    expect(seen).toEqual([0, 1, 2, 3])
  })

  it('validates its options', () => {
    const q = queue()
    expect(() => q.shutdown({ immediate: 'yes' as never })).toThrow(TypeError)
    expect(q.qsize()).toBe(0)
  })
})

describe('Queue#close()', () => {
  it('is idempotent, makes later calls throw ClosedError, and removes the segment', () => {
    const name = uniqueName('closing')
    const q = new Queue({ name })
    expect(shmSegments()).toContain(`ipc-${name}`)
    q.close()
    q.close()
    expect(q.closed).toBe(true)
    expect(() => q.putSync(1)).toThrow(ClosedError)
    expect(() => q.getNowait()).toThrow(`Cannot use queue "${name}": it was closed`)
    expect(() => q.qsize()).toThrow(ClosedError)
    expect(shmSegments()).not.toContain(`ipc-${name}`)
  })

  it('rejects a pending get with ClosedError that says the queue was closed while it waited', async () => {
    const name = uniqueName('closing')
    const q = new Queue<number>({ name })
    const pending = q.get()
    await new Promise((r) => setTimeout(r, 10))
    q.close()
    await expect(pending).rejects.toThrow(ClosedError)
    await expect(pending).rejects.toThrow(`Cannot use queue "${name}": it was closed while the call waited`)
  })

  it('[Symbol.dispose] closes', () => {
    const q = new Queue({ name: uniqueName('dispose') })
    q[Symbol.dispose]()
    expect(q.closed).toBe(true)
  })

  it('keeps the queue while another attachment is open; unlink removes the name', () => {
    const q = new Queue<number>({ name: uniqueName('shared') })
    const other = Queue.open<number>(q.name)
    q.putSync(1)
    q.close()
    expect(other.getSync()).toBe(1)
    other.unlink()
    expect(() => Queue.open(other.name)).toThrow(NotFoundError)
    other.close()
  })
})

describe('Queue inspection and transfer', () => {
  it('shows live state', () => {
    const q = queue<number>({ maxsize: 5, capacity: 4096 })
    q.putSync(1)
    expect(inspect(q, { breakLength: Number.POSITIVE_INFINITY })).toBe(
      `Queue { name: '${q.name}', size: 1, maxsize: 5, capacity: 4096, shutdown: false }`,
    )
    q.shutdown()
    expect(inspect(q)).toContain('shutdown: true')
  })

  it('describes itself for Process', () => {
    const q = queue()
    const descriptor = q[TRANSFER]()
    expect(descriptor.export).toBe('Queue')
    expect(descriptor.handle).toEqual(q.handle)
    expect(descriptor.module).toMatch(/^file:/)
  })

  it('errors are IpcErrors', () => {
    expect(new Empty('x')).toBeInstanceOf(IpcError)
    expect(new ShutDown('x', { item: 1 }).item).toBe(1)
    expect(Full.code).toBe('IPC_FULL')
  })
})
