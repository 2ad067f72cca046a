import { prng } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { encode } from '../codec/codec.js'
import { CorruptError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { initSpscRing, RING_CLOSED, RING_EMPTY, SPSC_HEADER_BYTES, SpscRing, spscRingBytes } from './spsc-ring.js'

function makeRing(capacity: number, offset = 0): SpscRing {
  const sab = new SharedArrayBuffer(offset + spscRingBytes(capacity))
  initSpscRing(sab, offset, capacity)
  return new SpscRing(sab, offset)
}

/** Two objects on one ring: a producer and a consumer, as two processes would have. */
function makePair(capacity: number): { producer: SpscRing; consumer: SpscRing } {
  const sab = new SharedArrayBuffer(spscRingBytes(capacity))
  initSpscRing(sab, 0, capacity)
  return { producer: new SpscRing(sab, 0), consumer: new SpscRing(sab, 0) }
}

describe('SpscRing', () => {
  it('rejects capacities that are not powers of two from 64 to 2^30', () => {
    expect(() => spscRingBytes(100)).toThrow(RangeError)
    expect(() => spscRingBytes(32)).toThrow(/power of two from 64 to 2\^30 bytes, received 32/)
    expect(spscRingBytes(1024)).toBe(SPSC_HEADER_BYTES + 1024)
  })

  it('refuses to attach where no ring was initialised', () => {
    const sab = new SharedArrayBuffer(spscRingBytes(64))
    expect(() => new SpscRing(sab, 0)).toThrow(/no ring is initialised at offset 0/)
    expect(() => new SpscRing(sab, 0)).toThrow(CorruptError)
    expect(() => new SpscRing(sab, 4)).toThrow(/multiple of 8/)
  })

  it('returns values in the order written, with every codec tag', () => {
    const ring = makeRing(4096, 64)
    const values = [
      'latin1',
      'ütf-8 ✓',
      new Uint8Array([1, 2, 3]),
      Buffer.from('buf'),
      { a: [1, 2], m: new Map([[1, 2]]) },
    ]
    for (const v of values) expect(ring.tryWrite(encode(v))).toBe(true)
    for (const v of values) expect(ring.tryRead()).toEqual(v)
    expect(ring.tryRead()).toBe(RING_EMPTY)
  })

  it('wraps around with random sizes and keeps every byte (seeded)', () => {
    const seed = Date.now() >>> 0
    console.log(`SpscRing wrap-around seed: ${seed}`)
    const rand = prng(seed)
    const { producer, consumer } = makePair(1024)
    let sent = 0
    let received = 0
    const pending: Uint8Array[] = []
    while (received < 5000) {
      // Write until full, then read a random number of records.
      for (;;) {
        const size = Math.floor(rand() * (producer.maxPayload + 1))
        const bytes = new Uint8Array(size)
        for (let i = 0; i < size; i++) bytes[i] = (sent + i) & 0xff
        if (!producer.tryWrite(encode(bytes))) break
        pending.push(bytes)
        sent++
      }
      const n = 1 + Math.floor(rand() * pending.length)
      for (let i = 0; i < n; i++) {
        const got = consumer.tryRead()
        expect(got).toEqual(pending.shift())
        received++
      }
    }
    while (pending.length > 0) expect(consumer.tryRead()).toEqual(pending.shift())
    expect(consumer.tryRead()).toBe(RING_EMPTY)
    expect(consumer.usedBytes).toBe(0)
  })

  it('applies back-pressure: tryWrite returns false when full and succeeds after a read', () => {
    const { producer, consumer } = makePair(256)
    const item = encode(new Uint8Array(50))
    let written = 0
    while (producer.tryWrite(item)) written++
    expect(written).toBe(4) // 4 × (8 + 56) = 256 bytes
    expect(producer.hasRoomFor(50)).toBe(false)
    consumer.tryRead()
    expect(producer.tryWrite(item)).toBe(true)
  })

  it('throws RangeError for a payload over maxPayload and writes nothing', () => {
    const ring = makeRing(256)
    expect(ring.maxPayload).toBe(120)
    expect(() => ring.tryWrite(encode(new Uint8Array(121)))).toThrow(RangeError)
    expect(ring.isEmpty).toBe(true)
    expect(ring.tryWrite(encode(new Uint8Array(120)))).toBe(true)
  })

  it('keeps a peeked record until consume()', () => {
    const ring = makeRing(256)
    ring.tryWrite(encode('abc'), 0x1234_5601)
    expect(ring.peek()).toBe(3)
    expect(ring.meta).toBe(0x1234_5601)
    expect(ring.peek()).toBe(3)
    ring.consume()
    expect(ring.peek()).toBe(-1)
  })

  it('readSync returns RING_EMPTY at the timeout and RING_CLOSED after the writer closed', () => {
    const { producer, consumer } = makePair(256)
    expect(consumer.readSync(5)).toBe(RING_EMPTY)
    producer.tryWrite(encode('last'))
    producer.closeWriter()
    expect(consumer.readSync()).toBe('last')
    expect(consumer.readSync()).toBe(RING_CLOSED)
  })

  it('writeSync returns timed-out on a full ring and closed after the reader closed', () => {
    const { producer, consumer } = makePair(64)
    const item = encode(new Uint8Array(24))
    expect(producer.writeSync(item)).toBe('ok')
    expect(producer.writeSync(item)).toBe('ok')
    expect(producer.writeSync(item, 5)).toBe('timed-out')
    consumer.closeReader()
    expect(producer.writeSync(item)).toBe('closed')
    expect(producer.tryWrite(item)).toBe(false)
  })

  it('read() resolves when a value is written later, without blocking the event loop', async () => {
    const { producer, consumer } = makePair(256)
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    setTimeout(() => producer.tryWrite(encode('later')), 40)
    await expect(consumer.read()).resolves.toBe('later')
    clearInterval(timer)
    expect(ticks).toBeGreaterThan(0)
  })

  it('read() rejects with signal.reason on abort and consumes nothing', async () => {
    const { producer, consumer } = makePair(256)
    const controller = new AbortController()
    const pending = consumer.read({ signal: controller.signal })
    setTimeout(() => controller.abort(), 10)
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    producer.tryWrite(encode('kept'))
    expect(consumer.tryRead()).toBe('kept')
    await expect(consumer.read({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('write() waits for room, and an aborted write leaves the ring unchanged', async () => {
    const { producer, consumer } = makePair(64)
    const item = encode(new Uint8Array(24))
    await producer.write(item)
    await producer.write(item)
    const controller = new AbortController()
    const blocked = producer.write(encode(new Uint8Array([9])), { signal: controller.signal })
    setTimeout(() => controller.abort(), 10)
    await expect(blocked).rejects.toMatchObject({ name: 'AbortError' })
    expect(consumer.usedBytes).toBe(64)
    const late = producer.write(encode('x'))
    setTimeout(() => consumer.tryRead(), 10)
    await expect(late).resolves.toBe('ok')
    consumer.tryRead()
    expect(consumer.tryRead()).toBe('x')
  })

  it('write() resolves closed when the reader closes while it waits', async () => {
    const { producer, consumer } = makePair(64)
    await producer.write(encode(new Uint8Array(24)))
    await producer.write(encode(new Uint8Array(24)))
    const blocked = producer.write(encode('y'))
    setTimeout(() => consumer.closeReader(), 10)
    await expect(blocked).resolves.toBe('closed')
  })

  it('runs check() after each bounded sleep', async () => {
    const sab = new SharedArrayBuffer(spscRingBytes(64))
    initSpscRing(sab, 0, 64)
    let checks = 0
    const consumer = new SpscRing(sab, 0, {
      check: () => {
        if (++checks === 3) new SpscRing(sab, 0).closeWriter()
      },
    })
    await expect(consumer.read()).resolves.toBe(RING_CLOSED)
    expect(checks).toBe(3)
  })

  it('lives in a Segment data area: two rings, one per direction', () => {
    const kind = { kind: 'spsc-test', version: 1 }
    const capacity = 1024
    const segment = Segment.create(kind, 2 * spscRingBytes(capacity), {
      init(seg) {
        initSpscRing(seg.buffer, seg.dataOffset, capacity)
        initSpscRing(seg.buffer, seg.dataOffset + spscRingBytes(capacity), capacity)
      },
    })
    try {
      const other = Segment.open(kind, segment.name)
      try {
        const aToB = new SpscRing(segment.buffer, segment.dataOffset)
        const bToA = new SpscRing(segment.buffer, segment.dataOffset + spscRingBytes(capacity))
        const bIn = new SpscRing(other.buffer, other.dataOffset)
        const bOut = new SpscRing(other.buffer, other.dataOffset + spscRingBytes(capacity))
        aToB.tryWrite(encode('ping'))
        expect(bIn.tryRead()).toBe('ping')
        bOut.tryWrite(encode('pong'))
        expect(bToA.tryRead()).toBe('pong')
        expect(aToB.tryRead()).toBe(RING_EMPTY)
      } finally {
        other.close()
      }
    } finally {
      segment.close()
    }
  })
})
