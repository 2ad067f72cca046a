import { Worker } from 'node:worker_threads'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CorruptError, DataCloneError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { ownerCode } from '../ownership/owner-word.js'
import {
  MPMC_EMPTY,
  MPMC_PUT_FULL,
  MPMC_PUT_OK,
  MPMC_PUT_SHUTDOWN,
  MPMC_RING_HEADER_BYTES,
  MPMC_SHUTDOWN,
  MpmcRing,
  mpmcRingBytes,
  PutBatch,
} from './mpmc-ring.js'

const KIND = { kind: 'mpmc-test', version: 1, label: 'test ring' }

// Word indexes from the layout table in mpmc-ring.ts (white-box tests only).
const P_LOCK = 0
const TAIL = 1
const TAIL_COUNT = 2
const P_OLD_TAIL = 3
const P_OLD_COUNT = 4
const P_PHASE = 7
const P_BATCH = 8
const C_LOCK = 16
const HEAD = 17
const HEAD_COUNT = 18
const C_OLD_HEAD = 19
const C_OLD_COUNT = 20
const C_PHASE = 22
const C_BATCH = 23
const C_WAITERS = 37
const C_EVENT = 38

function makeRing(capacity: number, maxItems = 0): { segment: Segment; ring: MpmcRing } {
  const holder: { ring?: MpmcRing } = {}
  const segment = Segment.create(KIND, mpmcRingBytes(capacity), {
    name: uniqueName('mpmc'),
    init: (s) => MpmcRing.init(s, s.dataOffset, { capacity, maxItems }),
    onReap: (slot) => holder.ring?.reclaimSlot(slot),
  })
  const ring = new MpmcRing(segment, segment.dataOffset, 'test ring')
  holder.ring = ring
  onTestFinished(() => {
    ring.detach()
    segment.close()
  })
  return { segment, ring }
}

function put(ring: MpmcRing, value: unknown): number {
  return ring.tryPut(value, ring.prepare(value))
}

describe('MpmcRing#tryPut() and #tryGet()', () => {
  it('round-trips every codec tag in order', () => {
    const { ring } = makeRing(4096)
    const values: unknown[] = [
      'msg-12345',
      '',
      'héllo wörld',
      'snowman ☃ and emoji 😀',
      'x'.repeat(300),
      new Uint8Array([1, 2, 3]),
      Buffer.from('buffer'),
      { id: 1, name: 'n', values: [1, 2, 3] },
      [1, 'two', null],
      42,
      undefined,
      null,
      new Map([[1, 'a']]),
    ]
    for (const value of values) expect(put(ring, value)).toBe(MPMC_PUT_OK)
    expect(ring.count()).toBe(values.length)
    for (const value of values) expect(ring.tryGet()).toEqual(value)
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
    expect(ring.count()).toBe(0)
  })

  it('keeps Buffer and Uint8Array apart', () => {
    const { ring } = makeRing(1024)
    put(ring, Buffer.from([1]))
    put(ring, new Uint8Array([2]))
    expect(Buffer.isBuffer(ring.tryGet())).toBe(true)
    const bytes = ring.tryGet()
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(bytes)).toBe(false)
  })

  it('returns bytes split at the end as their own type, by get and by getMany', () => {
    const { ring } = makeRing(256)
    // 8 + 104 bytes each: the third payload runs past the end of the 256-byte area.
    const values = [
      Buffer.alloc(100, 1),
      new Uint8Array(100).fill(2),
      Buffer.alloc(100, 3),
      new Uint8Array(100).fill(4),
    ]
    expect(put(ring, values[0])).toBe(MPMC_PUT_OK)
    expect(put(ring, values[1])).toBe(MPMC_PUT_OK)
    expect(ring.tryGet()).toEqual(values[0])
    expect(put(ring, values[2])).toBe(MPMC_PUT_OK)
    const second = ring.tryGet() as Uint8Array
    expect(Buffer.isBuffer(second)).toBe(false)
    const third = ring.tryGet() as Buffer
    expect(Buffer.isBuffer(third)).toBe(true)
    expect(third.equals(values[2] as Buffer)).toBe(true)
    expect(put(ring, values[3])).toBe(MPMC_PUT_OK)
    expect(put(ring, values[1])).toBe(MPMC_PUT_OK)
    // The fourth starts at 112 + 112 + 112 = 336 - 256 = 80; the fifth at 192, its payload split.
    const many = ring.getManySync(10, 0) as unknown[]
    expect(many).toHaveLength(2)
    expect(Buffer.isBuffer(many[0])).toBe(false)
    expect([...(many[0] as Uint8Array)].every((b) => b === 4)).toBe(true)
    expect(Buffer.isBuffer(many[1])).toBe(false)
    expect(many[1]).toEqual(values[1])
  })

  it('wraps around many times with messages of every size, payloads split at the end', () => {
    const { ring } = makeRing(256)
    const seed = 12345
    let state = seed
    const random = () => {
      state = (state * 1103515245 + 12345) & 0x7fffffff
      return state
    }
    const pending: unknown[] = []
    let putCount = 0
    let getCount = 0
    for (let round = 0; round < 5000; round++) {
      const kind = random() % 4
      const size = random() % 120
      const value =
        kind === 0
          ? 'a'.repeat(size)
          : kind === 1
            ? '€'.repeat(size % 40)
            : kind === 2
              ? Buffer.alloc(size, round & 0xff)
              : { round, filler: 'z'.repeat(size % 50) }
      if (put(ring, value) === MPMC_PUT_OK) {
        pending.push(value)
        putCount++
      }
      if (random() % 3 !== 0 || pending.length > 6) {
        const got = ring.tryGet()
        if (pending.length === 0) expect(got).toBe(MPMC_EMPTY)
        else {
          expect(got, `seed ${seed}, round ${round}`).toEqual(pending.shift())
          getCount++
        }
      }
    }
    while (pending.length > 0) expect(ring.tryGet()).toEqual(pending.shift())
    expect(putCount).toBeGreaterThan(3000)
    expect(getCount).toBeGreaterThan(2000)
  })

  it('returns MPMC_PUT_FULL when the bytes run out, and accepts again after a get', () => {
    const { ring } = makeRing(64)
    // Each 'abcdefgh' takes 8 + 8 bytes: four fill 64 bytes.
    for (let i = 0; i < 4; i++) expect(put(ring, 'abcdefgh')).toBe(MPMC_PUT_OK)
    expect(put(ring, 'abcdefgh')).toBe(MPMC_PUT_FULL)
    expect(ring.count()).toBe(4)
    expect(ring.tryGet()).toBe('abcdefgh')
    expect(put(ring, 'abcdefgh')).toBe(MPMC_PUT_OK)
  })

  it('returns MPMC_PUT_FULL at maxItems', () => {
    const { ring } = makeRing(4096, 2)
    expect(put(ring, 1)).toBe(MPMC_PUT_OK)
    expect(put(ring, 2)).toBe(MPMC_PUT_OK)
    expect(put(ring, 3)).toBe(MPMC_PUT_FULL)
    expect(ring.tryGet()).toBe(1)
    expect(put(ring, 3)).toBe(MPMC_PUT_OK)
    expect(ring.count()).toBe(2)
  })

  it('throws RangeError for an item larger than the ring and writes nothing', () => {
    const { ring } = makeRing(128)
    put(ring, 'before')
    expect(() => ring.prepare(Buffer.alloc(121))).toThrow(RangeError)
    expect(() => ring.prepare('x'.repeat(200))).toThrow(/at most 120/)
    expect(ring.prepare(Buffer.alloc(120))).toBeDefined()
    expect(ring.count()).toBe(1)
    expect(ring.tryGet()).toBe('before')
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
  })

  it('takes a short non-Latin-1 string that fits only in UTF-8 through the fallback', () => {
    const { ring } = makeRing(64)
    // 10 chars, 30 bytes of UTF-8 (40 with the header): the fast path starts, then falls back.
    expect(put(ring, '€€€€€€€€€€')).toBe(MPMC_PUT_OK)
    expect(put(ring, '€€€€€€€€€€')).toBe(MPMC_PUT_FULL)
    expect(ring.tryGet()).toBe('€€€€€€€€€€')
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
  })

  it('throws DataCloneError before anything is written', () => {
    const { ring } = makeRing(1024)
    expect(() => ring.prepare({ f() {} })).toThrow(DataCloneError)
    expect(() => ring.prepare(Symbol('s'))).toThrow(DataCloneError)
    expect(ring.count()).toBe(0)
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
  })
})

describe('MpmcRing#getSync() and #putSync()', () => {
  it('return MPMC_EMPTY / MPMC_PUT_FULL after the timeout', () => {
    const { ring } = makeRing(64)
    expect(ring.getSync(20)).toBe(MPMC_EMPTY)
    for (let i = 0; i < 4; i++) put(ring, 'abcdefgh')
    const encoded = ring.prepare('abcdefgh')
    expect(ring.putSync('abcdefgh', encoded, 20)).toBe(MPMC_PUT_FULL)
    expect(ring.putSync('abcdefgh', encoded, 0)).toBe(MPMC_PUT_FULL)
    expect(ring.count()).toBe(4)
  })
})

describe('MpmcRing#get() and #put()', () => {
  it('returns a value synchronously when one is there', () => {
    const { ring } = makeRing(1024)
    put(ring, 'now')
    expect(ring.get(Number.POSITIVE_INFINITY)).toBe('now')
    expect(ring.put('x', ring.prepare('x'), Number.POSITIVE_INFINITY)).toBe(MPMC_PUT_OK)
  })

  it('resolves when a message arrives later', async () => {
    const { ring } = makeRing(1024)
    setTimeout(() => put(ring, 'later'), 20)
    await expect(ring.get(Number.POSITIVE_INFINITY)).resolves.toBe('later')
  })

  it('resolves MPMC_EMPTY after the timeout', async () => {
    const { ring } = makeRing(1024)
    await expect(ring.get(20)).resolves.toBe(MPMC_EMPTY)
  })

  it('rejects with signal.reason on abort and takes nothing', async () => {
    const { ring } = makeRing(1024)
    const controller = new AbortController()
    const pending = ring.get(Number.POSITIVE_INFINITY, controller.signal)
    setTimeout(() => controller.abort(), 20)
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    put(ring, 'kept')
    expect(ring.tryGet()).toBe('kept')
  })

  it('a put waiting for room rejects on abort and puts nothing', async () => {
    const { ring } = makeRing(64)
    for (let i = 0; i < 4; i++) put(ring, 'abcdefgh')
    const controller = new AbortController()
    const pending = ring.put('late', ring.prepare('late'), Number.POSITIVE_INFINITY, controller.signal)
    setTimeout(() => controller.abort(new Error('stop')), 20)
    await expect(pending).rejects.toThrow('stop')
    expect(ring.count()).toBe(4)
    for (let i = 0; i < 4; i++) expect(ring.tryGet()).toBe('abcdefgh')
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
  })

  it('a put waiting for room completes when a get frees it', async () => {
    const { ring } = makeRing(64)
    for (let i = 0; i < 4; i++) put(ring, `abcdefg${i}`)
    const pending = ring.put('next', ring.prepare('next'), 5000)
    setTimeout(() => ring.tryGet(), 20)
    await expect(pending).resolves.toBe(MPMC_PUT_OK)
    expect(ring.count()).toBe(4)
  })
})

describe('MpmcRing#shutdown()', () => {
  it('refuses puts, lets gets drain, then reports shut down', () => {
    const { ring } = makeRing(1024)
    put(ring, 'a')
    expect(ring.shutdown(false)).toBe(0)
    expect(ring.isShutdown()).toBe(true)
    expect(put(ring, 'b')).toBe(MPMC_PUT_SHUTDOWN)
    expect(ring.tryGet()).toBe('a')
    expect(ring.tryGet()).toBe(MPMC_SHUTDOWN)
  })

  it('drops what is left when immediate and returns how many', () => {
    const { ring } = makeRing(1024)
    for (let i = 0; i < 5; i++) put(ring, i)
    expect(ring.shutdown(true)).toBe(5)
    expect(ring.count()).toBe(0)
    expect(ring.tryGet()).toBe(MPMC_SHUTDOWN)
  })

  it('wakes a waiting get and a waiting put', async () => {
    const { ring } = makeRing(64)
    const get = ring.get(Number.POSITIVE_INFINITY)
    await new Promise((r) => setTimeout(r, 10))
    ring.shutdown(false)
    await expect(get).resolves.toBe(MPMC_SHUTDOWN)
    const { ring: full } = makeRing(64)
    for (let i = 0; i < 4; i++) put(full, 'abcdefgh')
    const waiting = full.put('x', full.prepare('x'), Number.POSITIVE_INFINITY)
    await new Promise((r) => setTimeout(r, 10))
    full.shutdown(false)
    await expect(waiting).resolves.toBe(MPMC_PUT_SHUTDOWN)
  })
})

describe('MpmcRing dead-owner recovery', () => {
  // An owner word naming slot 100, which nobody holds: its owner is gone.
  const deadOwner = (segment: Segment) => {
    expect(segment.slotOwner(100)).toBeUndefined()
    return ownerCode(100, 12345)
  }

  it('takes over a producer lock from a dead owner and rolls back its uncommitted count', () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    put(ring, 'first')
    // The dead producer journaled, bumped the count, then died before moving TAIL.
    i32[w + P_OLD_TAIL] = i32[w + TAIL] as number
    i32[w + P_OLD_COUNT] = 1
    i32[w + P_BATCH] = 1
    i32[w + P_PHASE] = 1
    i32[w + TAIL_COUNT] = 2
    Atomics.store(i32, w + P_LOCK, deadOwner(segment))
    expect(put(ring, 'second')).toBe(MPMC_PUT_OK)
    expect(ring.count()).toBe(2)
    expect(ring.tryGet()).toBe('first')
    expect(ring.tryGet()).toBe('second')
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
    expect(Atomics.load(i32, w + P_LOCK)).toBe(0)
  })

  it('takes over a consumer lock from a dead owner and completes its committed count', () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    put(ring, 'taken-by-the-dead')
    put(ring, 'next')
    // The dead consumer moved HEAD past the first message, then died before the count.
    const head = i32[w + HEAD] as number
    i32[w + C_OLD_HEAD] = head
    i32[w + C_OLD_COUNT] = 0
    i32[w + C_BATCH] = 1
    i32[w + C_PHASE] = 1
    Atomics.store(i32, w + HEAD, head + 8 + 24)
    Atomics.store(i32, w + C_LOCK, deadOwner(segment))
    expect(ring.tryGet()).toBe('next')
    expect(ring.count()).toBe(0)
    expect(Atomics.load(i32, w + HEAD_COUNT)).toBe(2)
  })

  it('completes the count of a dead consumer that committed a batch of 3 (getMany)', () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    for (const item of ['a', 'b', 'c', 'd']) put(ring, item)
    // The dead consumer journaled a batch of 3, moved HEAD past them, then died before the count.
    const head = i32[w + HEAD] as number
    i32[w + C_OLD_HEAD] = head
    i32[w + C_OLD_COUNT] = 0
    i32[w + C_BATCH] = 3
    i32[w + C_PHASE] = 1
    Atomics.store(i32, w + HEAD, head + 3 * 16)
    Atomics.store(i32, w + C_LOCK, deadOwner(segment))
    expect(ring.tryGetMany(10)).toEqual(['d'])
    expect(Atomics.load(i32, w + HEAD_COUNT)).toBe(4)
    expect(ring.count()).toBe(0)
  })

  it('refuses a journal whose batch is out of range with CorruptError', () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    put(ring, 'a')
    put(ring, 'b')
    const head = i32[w + HEAD] as number
    i32[w + C_OLD_HEAD] = head
    i32[w + C_BATCH] = 1000 // a 1024-byte ring holds at most 128 messages
    i32[w + C_PHASE] = 1
    Atomics.store(i32, w + HEAD, head + 16) // committed: the batch is what counts
    Atomics.store(i32, w + C_LOCK, deadOwner(segment))
    expect(() => ring.tryGet()).toThrow(/a journal's batch is 1000 messages/)
  })

  it('a corrupt journal batch found at takeover throws CorruptError and leaves the lock free for others', () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    put(ring, 'a')
    // A dead producer's committed put of 'a' (TAIL moved from 0), its batch word scribbled.
    i32[w + P_OLD_TAIL] = 0
    i32[w + P_OLD_COUNT] = 0
    i32[w + P_BATCH] = 0 // never written by a live producer
    i32[w + P_PHASE] = 1
    Atomics.store(i32, w + P_LOCK, deadOwner(segment))
    expect(() => put(ring, 'b')).toThrow(/a journal's batch is 0 messages/)
    expect(Atomics.load(i32, w + P_LOCK)).toBe(0) // released, not kept by a live attachment
    const attached = Segment.open(KIND, segment.name)
    onTestFinished(() => attached.close())
    const other = new MpmcRing(attached, segment.dataOffset, 'test ring')
    expect(other.tryPut('c', other.prepare('c'))).toBe(MPMC_PUT_OK)
    expect(other.tryGet()).toBe('a')
  })

  it('count() finds a corrupt journal batch at takeover: CorruptError, and the lock is free', () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    put(ring, 'a')
    i32[w + C_OLD_HEAD] = i32[w + HEAD] as number
    i32[w + C_BATCH] = -5 // never written by a live consumer
    i32[w + C_PHASE] = 1
    Atomics.store(i32, w + HEAD, (i32[w + HEAD] as number) + 16)
    Atomics.store(i32, w + C_LOCK, deadOwner(segment))
    expect(() => ring.count()).toThrow(/a journal's batch is -5 messages/)
    expect(Atomics.load(i32, w + C_LOCK)).toBe(0)
  })

  it('a message size near 2^31 is CorruptError, and HEAD stays where it was', () => {
    const { segment, ring } = makeRing(4096)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    put(ring, 'first')
    put(ring, 'second')
    const head = i32[w + HEAD] as number
    const data = segment.dataOffset + 448 * 4
    i32[(data + head) >> 2] = 0x7ffffffc // (size + 7) & ~7 would overflow to -2^31
    expect(() => ring.tryGet()).toThrow(/a message of size 2147483644/)
    expect(i32[w + HEAD]).toBe(head)
    expect(() => ring.tryGetMany(10)).toThrow(CorruptError)
  })

  it('takes over a lock held by a worker thread that was terminated', async () => {
    const { segment, ring } = makeRing(1024)
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      import(workerData.internal).then(({ Segment, MpmcRing, threadId }) => {
        const segment = Segment.open({ kind: 'mpmc-test', version: 1 }, workerData.name)
        const ring = new MpmcRing(segment, segment.dataOffset)
        const w = segment.dataOffset / 4
        // Hold the producer lock as this attachment and thread (the owner word), then spin forever.
        Atomics.store(segment.i32, w + ${P_LOCK}, ((segment.slot + 1) << 22) | (threadId() & 0x3fffff))
        parentPort.postMessage('holding')
        for (;;) {}
      })
      `,
      {
        eval: true,
        workerData: { name: segment.name, internal: new URL('../../dist/internal.js', import.meta.url).href },
      },
    )
    // A terminated worker never detaches: its slot stays taken, so remove the name ourselves.
    onTestFinished(async () => {
      await worker.terminate()
      segment.unlink()
    })
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve())
      worker.once('error', reject)
    })
    await worker.terminate()
    // The thread is gone but its process (this one) lives: the tid check finds it.
    expect(await ring.put('after', ring.prepare('after'), 5000)).toBe(MPMC_PUT_OK)
    expect(ring.tryGet()).toBe('after')
  })
})

describe('MpmcRing: a get waiting on an empty ring', () => {
  it('looks at the counts, not the consumer lock, until a message comes', async () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    const pending = ring.get(5000)
    // After the get's first look: a dead owner in the consumer lock. A look that took the lock
    // would take it over (and free it); the waiting get's looks (its re-check, its periodic
    // ones, at most RECHECK_MS apart) see equal counts and leave it.
    expect(segment.slotOwner(100)).toBeUndefined()
    const dead = ownerCode(100, 12345)
    Atomics.store(i32, w + C_LOCK, dead)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect(Atomics.load(i32, w + C_LOCK)).toBe(dead)
    // A message: the next look takes the lock over and takes it.
    expect(put(ring, 'after the wait')).toBe(MPMC_PUT_OK)
    await expect(pending).resolves.toBe('after the wait')
    expect(Atomics.load(i32, w + C_LOCK)).toBe(0)
  })
  it('finds a message that a scribbled count hides: the positions decide', async () => {
    const { segment, ring } = makeRing(1024)
    const w = segment.dataOffset / 4
    const i32 = segment.i32
    const pending = ring.get(3000)
    // One message short: after the put the counts are equal while a message is there.
    Atomics.sub(i32, w + TAIL_COUNT, 1)
    expect(put(ring, 'hidden by the count')).toBe(MPMC_PUT_OK)
    expect(Atomics.load(i32, w + TAIL_COUNT)).toBe(Atomics.load(i32, w + HEAD_COUNT))
    await expect(pending).resolves.toBe('hidden by the count')
  })
})

describe('MpmcRing: a producer killed between its bump and its wake-up', () => {
  it('delays a sleeping consumer by about PEER_CHECK_MS at most while other producers put', async () => {
    const { segment, ring } = makeRing(4096)
    const w = segment.dataOffset / 4
    const got = ring.get(10_000) as Promise<unknown>
    while (Atomics.load(segment.i32, w + C_WAITERS) === 0) await new Promise((r) => setTimeout(r, 1))
    await new Promise((r) => setTimeout(r, 200)) // the native waiter thread sleeps by now
    Atomics.add(segment.i32, w + C_EVENT, 1) // the killed producer's bump, with no wake-up after it
    const started = performance.now()
    let n = 0
    const producing = setInterval(() => {
      const v = n++
      ring.tryPut(v, ring.prepare(v))
    }, 1)
    try {
      expect(await got).toBe(0)
    } finally {
      clearInterval(producing)
    }
    // Skipped wakes (the epoch says it was woken) for SKIPPED_WAKES_MS, then a wake of all.
    expect(performance.now() - started).toBeLessThan(250)
  })
})

describe('MpmcRing#sweep()', () => {
  it('drops the sleeper share of a worker thread terminated while asleep', { timeout: 20_000 }, async () => {
    const { segment, ring } = makeRing(1024)
    const waiters = segment.dataOffset / 4 + C_WAITERS
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      import(workerData.internal).then(({ Segment, MpmcRing }) => {
        const segment = Segment.open({ kind: 'mpmc-test', version: 1 }, workerData.name)
        const ring = new MpmcRing(segment, segment.dataOffset)
        parentPort.postMessage('sleeping')
        ring.getSync(60_000)
      })
      `,
      {
        eval: true,
        workerData: { name: segment.name, internal: new URL('../../dist/internal.js', import.meta.url).href },
      },
    )
    onTestFinished(async () => {
      await worker.terminate()
    })
    await new Promise((resolve) => worker.once('message', resolve))
    while (Atomics.load(segment.i32, waiters) === 0) await new Promise((r) => setTimeout(r, 5))
    await worker.terminate()
    expect(Atomics.load(segment.i32, waiters)).toBe(1)
    // The first put wakes nobody; later ones skip the wake (the sleep epoch says
    // it was woken). After skipping for a while (a few hundred puts,
    // PEER_CHECK_MS) the producer sweeps.
    for (let i = 0; i < 5000 && Atomics.load(segment.i32, waiters) > 0; i++) {
      expect(put(ring, i)).toBe(MPMC_PUT_OK)
      expect(ring.tryGet()).toBe(i)
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1))
    }
    expect(Atomics.load(segment.i32, waiters)).toBe(0)
  })
})

describe('MpmcRing: producers waiting on a full ring', () => {
  const internal = new URL('../../dist/internal.js', import.meta.url).href
  // Word indexes from the layout table in mpmc-ring.ts.
  const P_EVENT = 40
  const P_NEED = 41
  const P_NEED_ITEMS = 42

  /**
   * A worker thread that puts `count` numbers (16-byte records) into the ring
   * (putSync, or await put with `mode` 'async'), then posts how long the last
   * put took.
   */
  function producer(segment: Segment, count: number, mode: 'sync' | 'async' = 'sync'): Promise<number> {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
       import(workerData.internal).then(async ({ Segment, MpmcRing, MPMC_PUT_OK }) => {
         const segment = Segment.open({ kind: 'mpmc-test', version: 1 }, workerData.name)
         const ring = new MpmcRing(segment, segment.dataOffset)
         let last = 0
         for (let i = 0; i < workerData.count; i++) {
           const start = performance.now()
           const status = workerData.mode === 'sync'
             ? ring.putSync(i, ring.prepare(i), 10_000)
             : await ring.put(i, ring.prepare(i), 10_000)
           if (status !== MPMC_PUT_OK) throw new Error('put failed: ' + status)
           last = performance.now() - start
         }
         ring.detach()
         segment.close()
         parentPort.postMessage(last)
       })`,
      { eval: true, workerData: { name: segment.name, count, mode, internal } },
    )
    onTestFinished(async () => {
      await w.terminate()
    })
    return new Promise((resolve, reject) => {
      w.once('message', resolve)
      w.once('error', reject)
    })
  }

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  /** Waits until the ring holds `items` messages (the producers filled it). */
  async function filled(ring: MpmcRing, items: number): Promise<void> {
    while (ring.count() < items) await pause(1)
  }

  for (const maxItems of [0, 64]) {
    it(`wakes producers about once per half ${maxItems ? 'maxItems' : 'ring'} drained, not once per message`, {
      timeout: 30_000,
    }, async () => {
      const { segment, ring } = makeRing(4096, maxItems) // 256 records of 16 bytes
      const count = 10_000
      const done = Promise.all([producer(segment, count), producer(segment, count, 'async')])
      // Bursts of 32 takes with pauses between: the producers fill the ring and sleep in each pause.
      for (let taken = 0; taken < 2 * count; ) {
        for (let k = 0; k < 32 && taken < 2 * count; k++, taken++) expect(ring.getSync(10_000)).not.toBe(MPMC_EMPTY)
        await pause(1)
      }
      await done
      // Waking them on every take while they slept bumped P_EVENT about 2 * count times.
      expect(Atomics.load(segment.i32, segment.dataOffset / 4 + P_EVENT)).toBeLessThan(count / 10)
    })
  }

  for (const [mode, maxItems] of [
    ['sync', 0],
    ['async', 0],
    ['sync', 64],
  ] as const) {
    it(`a ${mode} put goes on within milliseconds when a consumer takes one message and stops (maxItems ${maxItems})`, {
      timeout: 30_000,
    }, async () => {
      const { segment, ring } = makeRing(4096, maxItems)
      const fits = maxItems || 256
      const last = producer(segment, fits + 1, mode)
      await filled(ring, fits)
      await pause(20) // asleep by now, for more room than one record
      const freed = performance.now()
      expect(ring.tryGet()).toBe(0)
      await last
      expect(performance.now() - freed).toBeLessThan(50)
    })
  }

  it('announces its record alone once the consumers stall, and goes on at their first take', {
    timeout: 30_000,
  }, async () => {
    const { segment, ring } = makeRing(4096, 64)
    const w = segment.dataOffset / 4
    const last = producer(segment, 65)
    await filled(ring, 64)
    // It announced half the ring (2048 bytes, 32 places); a whole short slice with nothing taken: stalled.
    await pause(300)
    expect(Atomics.load(segment.i32, w + P_NEED)).toBe(16)
    expect(Atomics.load(segment.i32, w + P_NEED_ITEMS)).toBe(1)
    const freed = performance.now()
    expect(ring.tryGet()).toBe(0)
    await last
    expect(performance.now() - freed).toBeLessThan(50)
  })

  it('a putMany whose large first item went in goes on at the next take (its next item is small)', async () => {
    const { ring } = makeRing(4096) // half of it, 2048, is the need of small records here
    const small = 'x'.repeat(64) // 72-byte records
    for (let i = 0; i < 40; i++) expect(put(ring, small)).toBe(MPMC_PUT_OK)
    const values = ['b'.repeat(2992), ...Array.from({ length: 100 }, (_, i) => i)] // 3000 bytes, then 16 each
    const batch = new PutBatch(
      values,
      values.map((v) => ring.prepare(v)),
    )
    const putting = ring.putBatch(batch, 10_000)
    expect(batch.done).toBe(0)
    for (let i = 0; i < 25; i++) expect(ring.tryGet()).toBe(small) // 3016 free: the large item fits
    while (batch.done === 0) await pause(1)
    await pause(20) // full again, asleep
    const done = batch.done
    const freed = performance.now()
    expect(ring.tryGet()).toBe(small) // 72 bytes free: four more items fit
    while (batch.done === done) await pause(1)
    expect(performance.now() - freed).toBeLessThan(50)
    while (batch.done < values.length) {
      ring.tryGet()
      await pause(1)
    }
    expect(await putting).toBe(MPMC_PUT_OK)
  })

  it('a producer is woken when its record fits, though another announced a larger need and gave up', async () => {
    const { segment, ring } = makeRing(65536)
    const other = new MpmcRing(segment, segment.dataOffset, 'test ring') // a second producer
    onTestFinished(() => other.detach())
    const small = 'x'.repeat(64) // 72-byte records
    while (put(ring, small) === MPMC_PUT_OK) {}
    const b = 'b'.repeat(20_000) // a 20,008-byte record: it waits for its record alone
    const c = 'c'.repeat(30_000)
    const putB = ring.put(b, ring.prepare(b), 10_000)
    expect(await other.put(c, other.prepare(c), 30)).toBe(MPMC_PUT_FULL) // announced 30,008, then gave up
    let free = 65536 - ring.count() * 72
    while (free < 20_008) {
      expect(ring.tryGet()).toBe(small)
      free += 72
    }
    const freed = performance.now()
    expect(await putB).toBe(MPMC_PUT_OK)
    expect(performance.now() - freed).toBeLessThan(50)
  })

  for (const need of [0x7fffffff, -1]) {
    it(`producers go on, never hang, when the announced needs are corrupt (${need})`, { timeout: 30_000 }, async () => {
      const { segment, ring } = makeRing(4096, 64)
      const w = segment.dataOffset / 4
      const last = producer(segment, 300)
      await filled(ring, 64)
      await pause(20)
      Atomics.store(segment.i32, w + P_NEED, need)
      Atomics.store(segment.i32, w + P_NEED_ITEMS, need)
      const started = performance.now()
      for (let taken = 0; taken < 300; ) {
        if (ring.tryGet() !== MPMC_EMPTY) taken++
        else await pause(1)
      }
      await last
      expect(performance.now() - started).toBeLessThan(2000)
    })
  }
})

describe('mpmcRingBytes()', () => {
  it('is the header plus the capacity rounded up to 8', () => {
    expect(mpmcRingBytes(100)).toBe(MPMC_RING_HEADER_BYTES + 104)
    expect(() => mpmcRingBytes(10)).toThrow(RangeError)
    expect(() => mpmcRingBytes(2 ** 31)).toThrow(RangeError)
  })
})
