import { Worker } from 'node:worker_threads'
import { prng, spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { encode } from '../src/codec/codec.js'
import { Segment } from '../src/memory/segment.js'
import { initSpscRing, RING_CLOSED, RING_EMPTY, SpscRing, spscRingBytes } from '../src/rings/spsc-ring.js'

const kind = { kind: 'spsc-test', version: 1 }
const echo = new URL('./fixtures/spsc-echo.mjs', import.meta.url)
const sleeper = new URL('./fixtures/spsc-sleeper.mjs', import.meta.url)

function createRings(capacity: number): Segment {
  return Segment.create(kind, 2 * spscRingBytes(capacity), {
    name: uniqueName('spsc'),
    init(seg) {
      initSpscRing(seg.buffer, seg.dataOffset, capacity)
      initSpscRing(seg.buffer, seg.dataOffset + spscRingBytes(capacity), capacity)
    },
  })
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0
  return a === b
}

function message(rand: () => number, i: number, max: number): Uint8Array | string {
  if (i % 3 === 0) return `msg-${i}-${'é'.repeat(Math.floor(rand() * 40))}`
  const bytes = new Uint8Array(Math.floor(rand() * max))
  for (let j = 0; j < bytes.length; j++) bytes[j] = (i * 31 + j) & 0xff
  return bytes
}

describe('SpscRing across processes', () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`echoes 20,000 random messages intact and in order through a child (${mode}, small ring)`, {
      timeout: 60_000,
    }, async () => {
      const seed = Date.now() >>> 0
      console.log(`spsc ${mode} echo seed: ${seed}`)
      const rand = prng(seed)
      const capacity = 4096
      const segment = createRings(capacity)
      try {
        const out = new SpscRing(segment.buffer, segment.dataOffset)
        const back = new SpscRing(segment.buffer, segment.dataOffset + spscRingBytes(capacity))
        const child = spawnChild(echo, [segment.name, String(capacity), mode])
        await child.waitFor('ready')
        const sent: (Uint8Array | string)[] = []
        let received = 0
        const total = 20_000
        // Interleave writing and reading so that both rings fill and wrap.
        while (received < total) {
          while (sent.length < total) {
            const m = message(rand, sent.length, out.maxPayload)
            if (!out.tryWrite(encode(m))) break
            sent.push(m)
          }
          if (sent.length === total && !out.writerClosed) out.closeWriter()
          const value = await back.read({ timeout: 10_000 })
          // Checked by hand: expect().toEqual on byte arrays is slow.
          if (!same(value, sent[received])) expect(value).toEqual(sent[received])
          received++
        }
        expect(await back.read({ timeout: 10_000 })).toBe(RING_CLOSED)
        expect(await child.exited).toBe(0)
        expect(child.stdout()).toContain(`echoed ${total}`)
      } finally {
        segment.close()
      }
    })
  }

  it('a writer blocked on a full ring wakes when check() finds the reader was SIGKILLed', {
    timeout: 30_000,
  }, async () => {
    const capacity = 1024
    const segment = createRings(capacity)
    try {
      const child = spawnChild(sleeper, [segment.name])
      await child.waitFor('slot ')
      const slot = Number(child.stdout().match(/slot (\d+)/)?.[1])
      const out = new SpscRing(segment.buffer, segment.dataOffset, {
        check: () => {
          if (!segment.slotAlive(slot)) out.closeReader()
        },
      })
      const item = encode(new Uint8Array(100))
      while (out.tryWrite(item)) {}
      const blocked = out.write(item)
      setTimeout(() => child.child.kill('SIGKILL'), 50)
      await expect(blocked).resolves.toBe('closed')
      expect(out.writeSync(item)).toBe('closed')
    } finally {
      segment.close()
    }
  })
})

describe('SpscRing: a side woken but not running yet (SIGSTOP) costs one wake syscall, not one per message', () => {
  const consumer = new URL('./fixtures/ring-consumer.mjs', import.meta.url)
  const producer = new URL('./fixtures/spsc-producer.mjs', import.meta.url)
  // Word indexes of the layout table (spsc-ring.ts).
  const READER_WAITERS = 2
  const WRITER_WAITERS = 3
  const READER_WAKE = 18
  const WRITER_WAKE = 34

  function ringSegment(capacity: number): Segment {
    const segment = Segment.create({ kind: 'test-ring', version: 1 }, spscRingBytes(capacity), {
      name: uniqueName('spsc-stop'),
      init: (seg) => initSpscRing(seg.buffer, seg.dataOffset, capacity),
    })
    onTestFinished(() => segment.close())
    return segment
  }

  /** Resolves once the word at `index` (of the ring at the data offset) is 1, and 20 ms more (asleep by then). */
  async function registered(segment: Segment, index: number): Promise<void> {
    const i32 = new Int32Array(segment.buffer, segment.dataOffset, 64)
    while (Atomics.load(i32, index) !== 1) await new Promise((r) => setTimeout(r, 5))
    await new Promise((r) => setTimeout(r, 20))
  }

  it('the producer wakes a stopped consumer once for 1,000 messages', { timeout: 30_000 }, async () => {
    const segment = ringSegment(64 * 1024)
    const i32 = new Int32Array(segment.buffer, segment.dataOffset, 64)
    const ring = new SpscRing(segment.buffer, segment.dataOffset, { host: segment })
    const child = spawnChild(consumer, [segment.name, '1000'])
    await child.waitFor('ATTACHED')
    await registered(segment, READER_WAITERS)
    child.child.kill('SIGSTOP')
    try {
      const before = Atomics.load(i32, READER_WAKE)
      for (let i = 0; i < 1000; i++) expect(ring.tryWrite(encode(i))).toBe(true)
      // The first commit woke it; it stays registered until it runs, and later commits skip the syscall.
      expect(Atomics.load(i32, READER_WAKE) - before).toBe(1)
      expect(Atomics.load(i32, READER_WAITERS)).toBe(1)
    } finally {
      child.child.kill('SIGCONT')
    }
    await child.waitFor('READ ')
    expect(child.stdout()).toContain('READ 1000')
  })

  it('the consumer wakes a stopped producer once while it drains a full ring', { timeout: 30_000 }, async () => {
    const capacity = 4096 // 256 records of one small integer
    const segment = ringSegment(capacity)
    const i32 = new Int32Array(segment.buffer, segment.dataOffset, 64)
    const ring = new SpscRing(segment.buffer, segment.dataOffset, { host: segment })
    const count = 1000
    const child = spawnChild(producer, [segment.name, String(count)])
    await child.waitFor('ATTACHED')
    await registered(segment, WRITER_WAITERS) // the ring is full and the producer asleep for room
    child.child.kill('SIGSTOP')
    let read = 0
    try {
      const before = Atomics.load(i32, WRITER_WAKE)
      for (let value = ring.tryRead(); value !== RING_EMPTY; value = ring.tryRead()) expect(value).toBe(read++)
      expect(read).toBe(capacity / 16)
      expect(Atomics.load(i32, WRITER_WAKE) - before).toBe(1)
      expect(Atomics.load(i32, WRITER_WAITERS)).toBe(1)
    } finally {
      child.child.kill('SIGCONT')
    }
    for (; read < count; read++) expect(ring.readSync(10_000)).toBe(read)
    await child.waitFor('WROTE ')
    expect(child.stdout()).toContain(`WROTE ${count}`)
  })
})

describe('SpscRing: a producer waiting on a full ring', () => {
  const internal = new URL('../dist/internal.js', import.meta.url).href
  /** W_WRITER_WAKE and W_WRITER_NEED (the layout table of spsc-ring.ts): the producer's event word and its announced need. */
  const WRITER_WAKE = 136 / 4
  const WRITER_NEED = 24 / 4

  /** A worker thread that writes `count` 8-byte messages with writeSync, then posts how long the last write took. */
  function producer(sab: SharedArrayBuffer, count: number): Worker {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
       import(workerData.internal).then(({ SpscRing, encode }) => {
         const ring = new SpscRing(workerData.sab, 0)
         const item = encode(new Uint8Array(8))
         let last = 0
         for (let i = 0; i < workerData.count; i++) {
           const start = performance.now()
           if (ring.writeSync(item, 10_000) !== 'ok') throw new Error('write failed')
           last = performance.now() - start
         }
         parentPort.postMessage(last)
       })`,
      { eval: true, workerData: { sab, count, internal } },
    )
    onTestFinished(async () => {
      await w.terminate()
    })
    return w
  }

  it('is woken about once per half ring drained, not once per message', { timeout: 30_000 }, async () => {
    const capacity = 4096 // 256 records of 16 bytes
    const sab = new SharedArrayBuffer(spscRingBytes(capacity))
    initSpscRing(sab, 0, capacity)
    const i32 = new Int32Array(sab)
    const consumer = new SpscRing(sab, 0)
    const count = 20_000
    const done = new Promise((resolve) => producer(sab, count).once('message', resolve))
    // Bursts of 64 reads with pauses between: the producer fills the ring and sleeps in each pause.
    for (let read = 0; read < count; ) {
      for (let k = 0; k < 64 && read < count; k++, read++) expect(consumer.readSync(10_000)).toBeInstanceOf(Uint8Array)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await done
    // One wake per message consumed while the producer slept was about `count` bumps; now one per half
    // ring (about 160), plus one or two per pause that outlasts FULL_RING_SLICE_MS (the producer takes the
    // consumer for stalled, room-wait.ts): on a loaded machine most of the 313 pauses do.
    expect(Atomics.load(i32, WRITER_WAKE)).toBeLessThan(count / 5)
  })

  it('goes on within milliseconds when its consumer takes one message and stops', { timeout: 30_000 }, async () => {
    const capacity = 4096
    const sab = new SharedArrayBuffer(spscRingBytes(capacity))
    initSpscRing(sab, 0, capacity)
    const consumer = new SpscRing(sab, 0)
    const w = producer(sab, 257) // one more than fits
    const last = new Promise<number>((resolve) => w.once('message', resolve))
    while (consumer.usedBytes < capacity) await new Promise((resolve) => setTimeout(resolve, 1))
    await new Promise((resolve) => setTimeout(resolve, 20)) // asleep by now
    const freed = performance.now()
    expect(consumer.tryRead()).toBeInstanceOf(Uint8Array)
    await last
    expect(performance.now() - freed).toBeLessThan(50)
  })

  it('polls no faster than every 100 ms once its consumer stalls (sync and async)', { timeout: 30_000 }, async () => {
    const capacity = 4096
    for (const mode of ['sync', 'async'] as const) {
      const sab = new SharedArrayBuffer(spscRingBytes(capacity))
      initSpscRing(sab, 0, capacity)
      const checks: number[] = [] // ms after the wait began
      let began = 0
      const writer = new SpscRing(sab, 0, { check: () => checks.push(Math.round(performance.now() - began)) })
      const item = encode(new Uint8Array(8))
      while (writer.tryWrite(item)) {}
      // Nobody reads: after a few 2 ms slices the writer sleeps in PEER_CHECK_MS slices, and `check` runs
      // after each (sync), or at each tick of the async wait, which comes every 50 to 100 ms (tick-grid.ts):
      // at most about 16 checks in 600 ms. With 2 ms slices there would be about 300 (sync) or 600 (async).
      began = performance.now()
      const result = mode === 'sync' ? writer.writeSync(item, 600) : await writer.write(item, { timeout: 600 })
      expect(result).toBe('timed-out')
      expect(checks.length, `${mode}: checks at ${checks.join(', ')} ms`).toBeLessThan(40)
    }
  })

  it("after a stall, goes on within milliseconds of its consumer's first read", { timeout: 30_000 }, async () => {
    const capacity = 4096
    const sab = new SharedArrayBuffer(spscRingBytes(capacity))
    initSpscRing(sab, 0, capacity)
    const consumer = new SpscRing(sab, 0)
    const w = producer(sab, 257)
    const last = new Promise<number>((resolve) => w.once('message', resolve))
    while (consumer.usedBytes < capacity) await new Promise((resolve) => setTimeout(resolve, 1))
    await new Promise((resolve) => setTimeout(resolve, 300)) // long enough to be sleeping in long slices
    const freed = performance.now()
    expect(consumer.tryRead()).toBeInstanceOf(Uint8Array)
    await last
    expect(performance.now() - freed).toBeLessThan(50)
  })

  for (const need of [0x7fffffff, -1]) {
    it(`goes on, never hangs, when its announced need is corrupt (${need})`, { timeout: 30_000 }, async () => {
      const capacity = 4096
      const sab = new SharedArrayBuffer(spscRingBytes(capacity))
      initSpscRing(sab, 0, capacity)
      const i32 = new Int32Array(sab)
      const consumer = new SpscRing(sab, 0)
      const w = producer(sab, 300)
      const last = new Promise<number>((resolve) => w.once('message', resolve))
      while (consumer.usedBytes < capacity) await new Promise((resolve) => setTimeout(resolve, 1))
      await new Promise((resolve) => setTimeout(resolve, 20))
      Atomics.store(i32, WRITER_NEED, need)
      const started = performance.now()
      let read = 0
      while (read < 300) {
        if (consumer.tryRead() !== RING_EMPTY) read++
        else await new Promise((resolve) => setTimeout(resolve, 1))
      }
      await last
      expect(performance.now() - started).toBeLessThan(2000)
    })
  }
})
