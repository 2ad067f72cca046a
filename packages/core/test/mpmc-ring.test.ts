/**
 * MpmcRing between real processes: exactly-once delivery and per-producer
 * order under 4 producers × 4 consumers, and recovery from a participant
 * SIGKILLed while it held a lock in the middle of a commit.
 */
import {
  MPMC_EMPTY,
  MPMC_PUT_FULL,
  MPMC_PUT_OK,
  MpmcRing,
  mpmcRingBytes,
  PEER_CHECK_MS,
  Segment,
} from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const KIND = { kind: 'mpmc-xproc', version: 1 }
const producer = new URL('./fixtures/mpmc-producer.mjs', import.meta.url)
const consumer = new URL('./fixtures/mpmc-consumer.mjs', import.meta.url)
const holder = new URL('./fixtures/mpmc-holder.mjs', import.meta.url)
const sleeper = new URL('./fixtures/mpmc-sleeper.mjs', import.meta.url)
const P_LOCK = 0
const C_LOCK = 16
const C_WAITERS = 37
const C_EVENT = 38

function makeRing(capacity: number, maxItems = 0): { segment: Segment; ring: MpmcRing } {
  const box: { ring?: MpmcRing } = {}
  const segment = Segment.create(KIND, mpmcRingBytes(capacity), {
    name: uniqueName('mpmc'),
    init: (s) => MpmcRing.init(s, s.dataOffset, { capacity, maxItems }),
    onReap: (slot) => box.ring?.reclaimSlot(slot),
  })
  const ring = new MpmcRing(segment, segment.dataOffset)
  box.ring = ring
  onTestFinished(() => {
    ring.detach()
    segment.close()
  })
  return { segment, ring }
}

function put(ring: MpmcRing, value: unknown): number {
  return ring.tryPut(value, ring.prepare(value))
}

describe('MpmcRing across processes', () => {
  it('delivers 4 producers × 20,000 items to 4 consumers exactly once, each producer in order', {
    timeout: 60_000,
  }, async () => {
    const producers = 4
    const count = 20_000
    // A small ring: producers wait for room and the payloads wrap often.
    const { segment, ring } = makeRing(16 * 1024)
    const tallySegment = Segment.create({ kind: 'mpmc-tally', version: 1 }, producers * count * 4, {
      name: uniqueName('tally'),
    })
    onTestFinished(() => tallySegment.close())
    const tally = new Int32Array(tallySegment.buffer, tallySegment.dataOffset, producers * count)
    const consumers = [0, 1, 2, 3].map((i) =>
      spawnChild(consumer, [
        segment.name,
        tallySegment.name,
        String(producers),
        String(count),
        i % 2 ? 'async' : 'sync',
      ]),
    )
    const children = [0, 1, 2, 3].map((id) =>
      spawnChild(producer, [segment.name, String(id), String(count), id % 2 ? 'sync' : 'async']),
    )
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0])
    ring.shutdown(false)
    expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0, 0, 0])
    const reports = consumers.map((c) => JSON.parse(c.stdout()) as { got: number; outOfOrder: number })
    expect(reports.map((r) => r.outOfOrder)).toEqual([0, 0, 0, 0])
    expect(reports.reduce((sum, r) => sum + r.got, 0)).toBe(producers * count)
    const wrong = tally.findIndex((n) => n !== 1)
    expect(wrong, `item ${wrong} was delivered ${tally[wrong]} times`).toBe(-1)
    expect(ring.count()).toBe(0)
  })

  it.each([
    ['producer-uncommitted', ['a', 'b'], 2],
    ['producer-committed', ['a', 'HHHHHHHHHHHHHHHH', 'b'], 3],
  ])(
    'recovers from a producer SIGKILLed holding the lock (%s)',
    { timeout: 30_000 },
    async (stage, expected, count) => {
      const { segment, ring } = makeRing(4096)
      expect(put(ring, 'a')).toBe(MPMC_PUT_OK)
      const child = spawnChild(holder, [segment.name, stage])
      await child.waitFor('holding')
      child.child.kill('SIGKILL')
      await child.exited
      // The next producer takes the lock over, fixes the count, and goes on.
      expect(put(ring, 'b')).toBe(MPMC_PUT_OK)
      expect(ring.count()).toBe(count)
      for (const value of expected) expect(ring.tryGet()).toBe(value)
      expect(ring.tryGet()).toBe(MPMC_EMPTY)
      expect(ring.count()).toBe(0)
    },
  )

  it.each([
    ['consumer-uncommitted', ['a', 'b']],
    ['consumer-committed', ['b']],
  ])('recovers from a consumer SIGKILLed holding the lock (%s)', { timeout: 30_000 }, async (stage, expected) => {
    const { segment, ring } = makeRing(4096)
    put(ring, 'a')
    put(ring, 'b')
    const child = spawnChild(holder, [segment.name, stage])
    await child.waitFor('holding')
    child.child.kill('SIGKILL')
    await child.exited
    // Killed before moving HEAD: 'a' goes to the next consumer. After: 'a' is lost, and only 'a'.
    for (const value of expected) expect(ring.tryGet()).toBe(value)
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
    expect(ring.count()).toBe(0)
    expect(put(ring, 'c')).toBe(MPMC_PUT_OK)
    expect(ring.tryGet()).toBe('c')
  })

  it.each([
    // stage, count while the holder lives (its commit in progress), count once it is dead
    ['producer-uncommitted', 2, 1],
    ['producer-committed', 1, 2],
    ['consumer-uncommitted', 2, 2],
    ['consumer-committed', 2, 1],
  ])(
    'count() is exact after a holder dies mid-commit (%s), with no put or get after it',
    { timeout: 30_000 },
    async (stage, whileAlive, afterDeath) => {
      const { segment, ring } = makeRing(4096)
      put(ring, 'a')
      if (stage.startsWith('consumer')) put(ring, 'b')
      const child = spawnChild(holder, [segment.name, stage])
      await child.waitFor('holding')
      // A live holder keeps its lock: count() sees the commit half-done.
      const lock = stage.startsWith('producer') ? P_LOCK : C_LOCK
      const held = Atomics.load(segment.i32, segment.dataOffset / 4 + lock)
      expect(ring.count()).toBe(whileAlive)
      expect(Atomics.load(segment.i32, segment.dataOffset / 4 + lock)).toBe(held)
      child.child.kill('SIGKILL')
      await child.exited
      // Dead: count() takes the lock over (the takeover repairs the count) and releases it.
      expect(ring.count()).toBe(afterDeath)
      expect(Atomics.load(segment.i32, segment.dataOffset / 4 + lock)).toBe(0)
    },
  )

  it('putCount() is exact after a producer dies mid-commit, with no put after it (JoinableQueue.join counts on it)', {
    timeout: 30_000,
  }, async () => {
    const { segment, ring } = makeRing(4096)
    put(ring, 'a')
    const child = spawnChild(holder, [segment.name, 'producer-uncommitted'])
    await child.waitFor('holding')
    expect(ring.putCount()).toBe(2)
    child.child.kill('SIGKILL')
    await child.exited
    expect(ring.putCount()).toBe(1)
  })

  it('a put at maxItems settles a consumer killed between its HEAD store and its count: the room it made is found', {
    timeout: 30_000,
  }, async () => {
    const { segment, ring } = makeRing(4096, 2)
    put(ring, 'a')
    put(ring, 'b')
    expect(put(ring, 'full')).toBe(MPMC_PUT_FULL)
    // The consumer took 'a' (HEAD moved past it) and died before HEAD_COUNT: the ring looks full.
    const child = spawnChild(holder, [segment.name, 'consumer-committed'])
    await child.waitFor('holding')
    expect(put(ring, 'c')).toBe(MPMC_PUT_FULL) // its get is in progress: no room yet
    child.child.kill('SIGKILL')
    await child.exited
    expect(put(ring, 'c')).toBe(MPMC_PUT_OK)
    expect(ring.tryGet()).toBe('b')
    expect(ring.tryGet()).toBe('c')
  })

  it('wakes a consumer once, not per put, while it is woken but cannot run yet (SIGSTOP)', {
    timeout: 30_000,
  }, async () => {
    const { segment, ring } = makeRing(64 * 1024)
    const w = segment.dataOffset / 4
    const child = spawnChild(sleeper, [segment.name, 'sync'])
    await child.waitFor('sleeping')
    while (Atomics.load(segment.i32, w + C_WAITERS) === 0) await new Promise((r) => setTimeout(r, 5))
    await new Promise((r) => setTimeout(r, 20)) // asleep by now
    child.child.kill('SIGSTOP')
    try {
      const before = Atomics.load(segment.i32, w + C_EVENT)
      const started = performance.now()
      for (let i = 0; i < 1000; i++) expect(put(ring, i)).toBe(MPMC_PUT_OK)
      const took = performance.now() - started
      // The first put wakes it; it stays registered until it runs, and later puts skip the syscall.
      // A producer that has skipped for PEER_CHECK_MS wakes every sleeper once more (a safety net),
      // so a loop slowed by a loaded machine may add one wake per PEER_CHECK_MS it took.
      const wakes = Atomics.load(segment.i32, w + C_EVENT) - before
      expect(wakes).toBeGreaterThanOrEqual(1)
      expect(wakes).toBeLessThanOrEqual(1 + Math.floor(took / PEER_CHECK_MS))
      expect(Atomics.load(segment.i32, w + C_WAITERS)).toBe(1)
    } finally {
      child.child.kill('SIGCONT')
    }
    // Once it runs it takes the first item and exits; the rest are all there, in order.
    await child.exited
    for (let i = 1; i < 1000; i++) expect(ring.tryGet()).toBe(i)
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
  })

  it('reclaims the lock and sleeper counts of a dead process through reap', { timeout: 30_000 }, async () => {
    const { segment, ring } = makeRing(4096)
    put(ring, 'a')
    const child = spawnChild(holder, [segment.name, 'consumer-uncommitted'])
    await child.waitFor('holding')
    child.child.kill('SIGKILL')
    await child.exited
    // reap() frees the dead slot; the onReap hook releases its lock first.
    ring.sweep()
    expect(Atomics.load(segment.i32, segment.dataOffset / 4 + 16)).toBe(0)
    expect(ring.tryGet()).toBe('a')
  })

  it.each(['sync', 'async'])(
    'forgets a consumer SIGKILLed while asleep (%s): producers stop waking it',
    {
      timeout: 30_000,
    },
    async (mode) => {
      const { segment, ring } = makeRing(4096)
      const waiters = segment.dataOffset / 4 + C_WAITERS
      const child = spawnChild(sleeper, [segment.name, mode])
      await child.waitFor('sleeping')
      while (Atomics.load(segment.i32, waiters) === 0) await new Promise((r) => setTimeout(r, 5))
      child.child.kill('SIGKILL')
      await child.exited
      expect(Atomics.load(segment.i32, waiters)).toBe(1)
      // The first put wakes nobody; later ones skip the wake (the sleep epoch
      // says it was woken). After skipping for a while (a few hundred puts,
      // PEER_CHECK_MS) the producer looks for dead sleepers and drops their share.
      for (let i = 0; i < 5000 && Atomics.load(segment.i32, waiters) > 0; i++) {
        expect(put(ring, i)).toBe(MPMC_PUT_OK)
        expect(ring.tryGet()).toBe(i)
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1))
      }
      expect(Atomics.load(segment.i32, waiters)).toBe(0)
    },
  )
})
