/**
 * Corrupt words in the two rings: every read path throws CorruptError at
 * once (or within its timeout), never hangs or spins, and the ring refuses
 * all later work while close still works. Words are scribbled on the way
 * another process could: through a second attachment of the same memory.
 */
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { encode, TAG_JSON_LATIN1, TAG_LATIN1 } from '../src/codec/codec.js'
import { CorruptError, DataCloneError, IncompatibleError } from '../src/errors.js'
import { Segment } from '../src/memory/segment.js'
import { threadId } from '../src/ownership/liveness.js'
import { ownerCode } from '../src/ownership/owner-word.js'
import {
  MPMC_EMPTY,
  MPMC_RING_HEADER_BYTES,
  MPMC_RING_VERSION,
  MpmcRing,
  mpmcRingBytes,
} from '../src/rings/mpmc-ring.js'
import { initSpscRing, SPSC_HEADER_BYTES, SpscRing, spscRingBytes } from '../src/rings/spsc-ring.js'

// Word indexes from the layout tables (white-box tests only).
const SPSC_CAPACITY = 1
const SPSC_WRITER_CLOSED = 4
const SPSC_ATOMIC_PUBLISH = 7
const SPSC_HEAD = 16
const SPSC_TAIL = 32
const P_LOCK = 0
const TAIL = 1
const TAIL_COUNT = 2
const C_LOCK = 16
const HEAD = 17
const VERSION_WORD = 33
const CAPACITY = 34
const C_WAITERS = 37

/** A ring in a SharedArrayBuffer with a producer object and a consumer object. */
function spscPair(capacity = 1024): { sab: SharedArrayBuffer; producer: SpscRing; consumer: SpscRing } {
  const sab = new SharedArrayBuffer(spscRingBytes(capacity))
  initSpscRing(sab, 0, capacity)
  return { sab, producer: new SpscRing(sab, 0), consumer: new SpscRing(sab, 0) }
}

/** Publishes a record header of `length` and `meta` (any values) at the producer's head. */
function publish(producer: SpscRing, length: number, meta: number): void {
  producer.reserve(0)
  producer.commit(length, meta)
}

/** Counts event-loop ticks until the returned function is called. */
function ticker(): () => number {
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  onTestFinished(() => clearInterval(timer))
  return () => {
    clearInterval(timer)
    return ticks
  }
}

describe('SpscRing with corrupt words', () => {
  const records: [string, (producer: SpscRing, capacity: number) => void][] = [
    ['a negative record length', (p) => publish(p, -5, TAG_LATIN1)],
    ['a record length beyond the capacity', (p, capacity) => publish(p, capacity * 4, TAG_LATIN1)],
    ['a record length beyond what was published', (p) => publish(p, 200, TAG_LATIN1)],
    ['a padding word at offset 0', (p) => publish(p, -1, 0)],
  ]
  for (const [what, scribble] of records) {
    it(`throws CorruptError for ${what} from tryRead, readSync and read, then refuses everything`, async () => {
      const { producer, consumer } = spscPair()
      scribble(producer, 1024)
      expect(() => consumer.tryRead()).toThrow(CorruptError)
      const started = performance.now()
      expect(() => consumer.readSync(5000)).toThrow(CorruptError)
      await expect(consumer.read({ timeout: 5000 })).rejects.toThrow(CorruptError)
      expect(performance.now() - started).toBeLessThan(1000)
      expect(() => consumer.waitReadableSync(10)).toThrow(CorruptError)
      expect(() => consumer.reserve(8)).toThrow(CorruptError)
      // The flags still work: the producer learns the reader is gone.
      consumer.closeReader()
      expect(producer.readerClosed).toBe(true)
    })
  }

  it('a padding record whose skip passes head throws CorruptError', () => {
    const { producer, consumer } = spscPair(1024)
    // Move both sides to offset 512, then publish padding there with nothing after it.
    expect(producer.tryWrite(encode(new Uint8Array(504)))).toBe(true)
    expect(consumer.peek()).toBe(504)
    consumer.consume()
    publish(producer, -1, 0)
    expect(() => consumer.peek()).toThrow(/padding at offset 512 with 8 bytes published/)
  })

  it('a waiting read() wakes on the corrupt record and rejects while the event loop keeps ticking', async () => {
    const { producer, consumer } = spscPair()
    const stop = ticker()
    const started = performance.now()
    const pending = consumer.read({ timeout: 10_000 })
    setTimeout(() => publish(producer, -7, TAG_LATIN1), 100)
    await expect(pending).rejects.toThrow(CorruptError)
    const elapsed = performance.now() - started
    const ticks = stop()
    expect(elapsed).toBeLessThan(2000)
    expect(ticks).toBeGreaterThanOrEqual(5)
  })

  it('head and tail more than a capacity apart throw on attach and in the producer', () => {
    const { sab, producer } = spscPair(1024)
    const i32 = new Int32Array(sab)
    i32[SPSC_HEAD] = 4096
    expect(() => new SpscRing(sab, 0)).toThrow(/head 4096 and tail 0 must be multiples of 8 at most 1024 bytes apart/)
    expect(() => producer.reserve(8)).toThrow(CorruptError)
  })

  it('a flag word that is not 0 or 1 (a closed flag, atomicPublish) throws on attach', () => {
    for (const word of [SPSC_WRITER_CLOSED, SPSC_ATOMIC_PUBLISH]) {
      const { sab } = spscPair(1024)
      new Int32Array(sab)[word] = 2
      expect(() => new SpscRing(sab, 0)).toThrow(/a flag word holds 2, not 0 or 1/)
    }
  })

  it('a misaligned tail throws on attach and in a waiting writer', async () => {
    const { sab, producer } = spscPair(1024)
    new Int32Array(sab)[SPSC_TAIL] = 3
    expect(() => new SpscRing(sab, 0)).toThrow(CorruptError)
    expect(() => producer.waitWritableSync(8, 100)).toThrow(CorruptError)
  })

  it('a capacity word out of range or beyond the buffer throws CorruptError on attach', () => {
    const { sab } = spscPair(1024)
    const i32 = new Int32Array(sab)
    for (const capacity of [-64, 0, 100, 2 ** 31 - 1, 4096]) {
      i32[SPSC_CAPACITY] = capacity
      expect(() => new SpscRing(sab, 0), `capacity ${capacity}`).toThrow(CorruptError)
    }
    expect(SPSC_HEADER_BYTES).toBe(192)
  })

  it('shares one fault between the rings of one owner', () => {
    const a = spscPair()
    const b = spscPair()
    const fault = { error: undefined }
    const reader = new SpscRing(a.sab, 0, { fault, label: 'pipe "x"' })
    const writer = new SpscRing(b.sab, 0, { fault, label: 'pipe "x"' })
    publish(a.producer, -3, TAG_LATIN1)
    expect(() => reader.peek()).toThrow(/Cannot use pipe "x": its shared memory is corrupt/)
    expect(() => writer.reserve(8)).toThrow(CorruptError)
  })
})

const KIND = { kind: 'mpmc-corrupt-test', version: 1, label: 'test ring' }

function makeRing(capacity = 256, maxItems = 0): { segment: Segment; ring: MpmcRing; i32: Int32Array } {
  const segment = Segment.create(KIND, mpmcRingBytes(capacity), {
    name: uniqueName('mpmc-corrupt'),
    init: (s) => MpmcRing.init(s, s.dataOffset, { capacity, maxItems }),
  })
  const ring = new MpmcRing(segment, segment.dataOffset, 'queue')
  onTestFinished(() => {
    ring.detach()
    segment.close()
  })
  return { segment, ring, i32: new Int32Array(segment.buffer, segment.dataOffset) }
}

/** A second attachment, as another process would have. */
function attach(segment: Segment): MpmcRing {
  const other = Segment.open(KIND, segment.name)
  const ring = new MpmcRing(other, other.dataOffset, 'queue')
  onTestFinished(() => {
    ring.detach()
    other.close()
  })
  return ring
}

/** Attaching throws `error`; the attempt's segment is closed again. */
function expectAttachThrows(segment: Segment, error: typeof CorruptError | typeof IncompatibleError): void {
  const other = Segment.open(KIND, segment.name)
  try {
    expect(() => new MpmcRing(other, other.dataOffset, 'queue')).toThrow(error)
  } finally {
    other.close()
  }
}

describe('MpmcRing with corrupt words', () => {
  const messages: [string, (data: Int32Array) => void][] = [
    ['a negative size', (d) => (d[0] = -1)],
    ['a size beyond what was published', (d) => (d[0] = 4096)],
    ['an unknown tag', (d) => (d[1] = 99)],
  ]
  for (const [what, scribble] of messages) {
    it(`throws CorruptError for ${what} from tryGet, getSync and get; this attachment refuses everything after`, async () => {
      const { segment, ring } = makeRing()
      expect(ring.tryPut('hello', undefined)).toBe(0)
      scribble(new Int32Array(segment.buffer, segment.dataOffset + MPMC_RING_HEADER_BYTES))
      expect(() => ring.tryGet()).toThrow(CorruptError)
      const started = performance.now()
      expect(() => ring.getSync(5000)).toThrow(CorruptError)
      expect(() => ring.get(5000)).toThrow(CorruptError)
      expect(() => ring.tryPut('more', undefined)).toThrow(CorruptError)
      expect(() => ring.count()).toThrow(CorruptError)
      expect(performance.now() - started).toBeLessThan(1000)
      // Another attachment meets the same record and throws too: the ring is not silently wrong.
      expect(() => attach(segment).tryGet()).toThrow(CorruptError)
    })
  }

  it('a waiting get() rejects with CorruptError when a corrupt message is published, event loop ticking', async () => {
    const { segment, ring } = makeRing()
    const producer = attach(segment)
    const stop = ticker()
    const started = performance.now()
    const pending = ring.get(10_000)
    expect(pending).toBeInstanceOf(Promise)
    setTimeout(() => {
      producer.tryPut('soon', undefined)
      new Int32Array(segment.buffer, segment.dataOffset + MPMC_RING_HEADER_BYTES)[0] = -8
    }, 100)
    await expect(pending).rejects.toThrow(CorruptError)
    expect(performance.now() - started).toBeLessThan(3000)
    expect(stop()).toBeGreaterThanOrEqual(5)
  })

  it('a payload the codec cannot revive throws CorruptError and is dropped, so others go on', () => {
    const { segment, ring } = makeRing()
    const other = attach(segment)
    ring.tryPut('{"a":1}', undefined)
    ring.tryPut('next', undefined)
    // Make the first message JSON text that does not parse: tag JSON, payload '{"a":1}' minus its end.
    const data = new Int32Array(segment.buffer, segment.dataOffset + MPMC_RING_HEADER_BYTES)
    data[1] = TAG_JSON_LATIN1
    data[0] = 6
    expect(() => ring.tryGet()).toThrow(CorruptError)
    expect(() => ring.tryGet()).toThrow(CorruptError)
    expect(other.tryGet()).toBe('next')
    expect(other.tryGet()).toBe(MPMC_EMPTY)
  })

  it('a value nested too deep to revive throws DataCloneError and is dropped; the ring is not faulted', async () => {
    // v8.serialize writes it; v8.deserialize stops near 1,900 levels: sound bytes, not corruption.
    let deep = {}
    for (let i = 0; i < 3000; i++) deep = { inner: deep }
    const { segment, ring } = makeRing(64 * 1024)
    const other = attach(segment)
    let unrevivable = 0
    ring.onUnrevivable = () => unrevivable++
    ring.tryPut(deep, undefined)
    ring.tryPut('next', undefined)
    expect(() => ring.tryGet()).toThrow(DataCloneError)
    expect(unrevivable).toBe(1)
    expect(ring.tryGet()).toBe('next')
    // In a batch it is left for the next call, which takes it first and throws.
    for (const value of ['a', deep, 'b']) ring.tryPut(value, undefined)
    expect(ring.tryGetMany(10)).toEqual(['a'])
    expect(() => ring.tryGetMany(10)).toThrow(
      /^Cannot revive the item taken from the queue "[^"]+", which was dropped: it is nested deeper than the stack/,
    )
    expect(unrevivable).toBe(2)
    expect(ring.tryGetMany(10)).toEqual(['b'])
    // A get that waited for it, and a sync one.
    const waiting = ring.get(5000)
    other.tryPut(deep, undefined)
    await expect(waiting).rejects.toThrow(DataCloneError)
    other.tryPut(deep, undefined)
    other.tryPut('c', undefined)
    expect(() => ring.getSync(5000)).toThrow(DataCloneError)
    expect(ring.getSync(5000)).toBe('c')
    expect(unrevivable).toBe(4)
    expect(other.tryGet()).toBe(MPMC_EMPTY)
  })

  it('refuses to attach when capacity, positions, counts or states are out of range', () => {
    const cases: [string, (i32: Int32Array) => void][] = [
      ['capacity not a multiple of 8', (w) => (w[CAPACITY] = 260)],
      ['capacity beyond the segment', (w) => (w[CAPACITY] = 1 << 20)],
      ['capacity negative', (w) => (w[CAPACITY] = -256)],
      ['a misaligned HEAD', (w) => (w[HEAD] = 4)],
      ['HEAD beyond 2·capacity', (w) => (w[HEAD] = 4096)],
      ['TAIL more than capacity ahead of HEAD', (w) => (w[TAIL] = 264)],
      ['more messages counted than bytes hold', (w) => (w[TAIL_COUNT] = 1000)],
      ['a lock word naming slot 200', (w) => (w[P_LOCK] = 200)],
      ['a lock word with bit 31 set', (w) => (w[C_LOCK] = -5)],
    ]
    for (const [what, scribble] of cases) {
      const { segment, i32 } = makeRing(256)
      scribble(i32)
      expect(() => expectAttachThrows(segment, CorruptError), what).not.toThrow()
    }
  })

  it('another layout version is IncompatibleError, not CorruptError', () => {
    const { segment, i32 } = makeRing()
    i32[VERSION_WORD] = MPMC_RING_VERSION + 1
    expectAttachThrows(segment, IncompatibleError)
  })

  it('a lock word naming no slot, or this attachment itself, throws instead of waiting', () => {
    const { ring, i32 } = makeRing()
    i32[C_LOCK] = 0x200 // slot field (bits 22-29) 0: nobody, yet not FREE or ABANDONED
    const started = performance.now()
    expect(() => ring.tryGet()).toThrow(/a lock word is 512/)
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('a lock word naming this attachment itself (it never waits for itself) throws', () => {
    const { segment, ring, i32 } = makeRing()
    i32[C_LOCK] = ownerCode(segment.slot, threadId())
    const started = performance.now()
    expect(() => ring.tryGet()).toThrow(CorruptError)
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('a lock word naming another live attachment is waited for up to the deadline only, taking nothing', () => {
    const { segment, ring, i32 } = makeRing()
    ring.tryPut('kept', undefined)
    const other = Segment.open(KIND, segment.name)
    const otherRing = new MpmcRing(other, other.dataOffset, 'queue')
    onTestFinished(() => {
      otherRing.detach()
      other.close()
    })
    i32[C_LOCK] = ownerCode(other.slot, threadId())
    // Indistinguishable from a stopped holder: not corrupt, and no call waits past its deadline
    // (test/mpmc-lock.test.ts covers the async calls and the event loop).
    let started = performance.now()
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
    expect(performance.now() - started).toBeLessThan(50)
    started = performance.now()
    expect(ring.getSync(30)).toBe(MPMC_EMPTY)
    expect(performance.now() - started).toBeGreaterThanOrEqual(25)
    expect(performance.now() - started).toBeLessThan(1000)
    i32[C_LOCK] = 0
    expect(ring.tryGet()).toBe('kept')
  })

  it('a consumer asleep with infinite timeout still gets an item when WAITERS was zeroed (bounded sleeps)', async () => {
    const { segment, ring, i32 } = makeRing()
    const producer = attach(segment)
    const pending = ring.get(Number.POSITIVE_INFINITY) as Promise<unknown>
    await new Promise((r) => setTimeout(r, 100))
    // The sleeper counted itself in; a scribbler zeroes the count so no put wakes it.
    Atomics.store(i32, C_WAITERS, 0)
    producer.tryPut('late', undefined)
    const started = performance.now()
    expect(await pending).toBe('late')
    expect(performance.now() - started).toBeLessThan(2500)
  })
})
