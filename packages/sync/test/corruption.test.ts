/**
 * Corrupt shared memory: a word out of its layout's range makes the call
 * throw CorruptError within its timeout (never a hang or a spin), and
 * close() still works, also at exit. Each test writes the words through a
 * second mapping of the same segment, as another process would.
 */
import { truncateSync } from 'node:fs'
import { HEADER_BYTES, ownerCode, Segment, type SegmentKind } from '@ipc/core/internal'
import { Lock } from '@ipc/semaphore'
import { expectNoSegment, spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { Barrier } from '../src/barrier.js'
import { Condition } from '../src/condition.js'
import { BrokenBarrierError, ClosedError, CorruptError } from '../src/errors.js'
import { Event } from '../src/event.js'
import {
  B_BROKEN,
  B_COUNT,
  B_ENTRIES,
  B_ENTRY_WORDS,
  B_LOCK,
  B_PARTIES,
  BARRIER_KIND,
  BE_SLOT,
  BE_STATE,
  BE_TID,
  C_ENTRIES,
  C_ENTRY_WORDS,
  C_HIGH,
  C_LOCK_KIND,
  C_LOCK_LEN,
  C_LOCK_NAME,
  CE_SLOT,
  CE_STATE,
  CONDITION_KIND,
  E_FLAG,
  EVENT_KIND,
  FREE,
  PENDING,
} from '../src/layout.js'

const barrierHolder = new URL('./fixtures/barrier-corrupt-exit.mjs', import.meta.url)

/** A second mapping of `name`'s segment: `poke(word, value)` writes a data word. */
function raw(kind: SegmentKind, name: string) {
  const segment = Segment.open(kind, name)
  const base = segment.dataOffset / 4
  return {
    poke: (word: number, value: number) => Atomics.store(segment.i32, base + word, value),
    peek: (word: number) => Atomics.load(segment.i32, base + word),
    close: () => segment.close(),
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `promise`, or a rejection naming `what` after `ms` (a wait that never ends fails the test instead of hanging it). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

describe('a file cut short by its owner (header intact)', () => {
  // Nothing may be read past the end of the data area: CorruptError at open, not a RangeError
  // from a later call (an Event's set() stored its flag, then threw).
  const cases: [string, SegmentKind, (name: string) => { close(): void }, (name: string) => { close(): void }][] = [
    ['Event', EVENT_KIND, (name) => new Event({ name, persistent: true }), (name) => Event.open(name)],
    [
      'Condition',
      CONDITION_KIND,
      // With a lock of the test's: a Condition's own lock would be persistent too, and left behind.
      (name) => {
        const lock = new Lock()
        const condition = new Condition(lock, { name, persistent: true })
        return {
          close: () => {
            condition.close()
            lock.close()
          },
        }
      },
      (name) => Condition.open(name),
    ],
    ['Barrier', BARRIER_KIND, (name) => new Barrier(2, { name, persistent: true }), (name) => Barrier.open(name)],
  ]
  for (const [what, kind, make, open] of cases) {
    it(`${what}: open() throws CorruptError for a data area of 8 bytes`, () => {
      const name = uniqueName('short')
      make(name).close()
      try {
        truncateSync(`/dev/shm/ipc-${name}`, HEADER_BYTES + 8)
        expect(() => open(name)).toThrow(CorruptError)
        expect(() => open(name)).toThrow(/a data area of 8 bytes, too short for the layout/)
      } finally {
        // The name, removed through a mapping that asks for no layout.
        const segment = Segment.open({ kind: kind.kind, version: kind.version, label: kind.label }, name)
        segment.unlink()
        segment.close()
      }
    })
  }
})

describe('Event with corrupt memory', () => {
  it('throws CorruptError from every call, and from a wait already asleep within its timeout', async () => {
    const event = new Event()
    const memory = raw(EVENT_KIND, event.name)
    try {
      const asleep = event.wait({ timeout: 5000 })
      await sleep(20)
      memory.poke(E_FLAG, 7)
      const started = performance.now()
      await expect(asleep).rejects.toBeInstanceOf(CorruptError)
      expect(performance.now() - started).toBeLessThan(2500)
      expect(() => event.isSet()).toThrow(CorruptError)
      expect(() => event.waitSync({ timeout: 1000 })).toThrow(CorruptError)
      await expect(event.wait({ timeout: 1000 })).rejects.toBeInstanceOf(CorruptError)
      expect(() => event.set()).toThrow(CorruptError)
      // set() stored 1: the flag is valid again.
      expect(event.isSet()).toBe(true)
    } finally {
      memory.close()
      event.close()
    }
  })
})

describe('Condition with corrupt memory', () => {
  it('refuses to open a header naming no valid lock', () => {
    const condition = new Condition()
    const memory = raw(CONDITION_KIND, condition.name)
    try {
      memory.poke(C_LOCK_KIND, 7)
      expect(() => Condition.open(condition.name)).toThrow(CorruptError)
      memory.poke(C_LOCK_KIND, 2)
      memory.poke(C_LOCK_LEN, 100_000)
      expect(() => Condition.open(condition.name)).toThrow(CorruptError)
      // One byte that is not UTF-8 (it would decode to U+FFFD: another lock, not this Condition's).
      memory.poke(C_LOCK_LEN, 1)
      memory.poke(C_LOCK_NAME, 0xff)
      expect(() => Condition.open(condition.name)).toThrow(/its lock name is not UTF-8/)
    } finally {
      memory.close()
      condition.close()
    }
  })

  it('throws CorruptError for a bad table bound, entry state or entry slot, also to a waiter asleep', async () => {
    const condition = new Condition()
    const memory = raw(CONDITION_KIND, condition.name)
    try {
      await condition.acquire()
      memory.poke(C_HIGH, 5000)
      await expect(condition.wait({ timeout: 1000 })).rejects.toBeInstanceOf(CorruptError)
      expect(() => condition.notify()).toThrow(CorruptError)
      memory.poke(C_HIGH, 0)
      // A waiter asleep whose entry turns into garbage.
      const asleep = condition.wait({ timeout: 5000 })
      await sleep(20)
      memory.poke(C_ENTRIES + CE_STATE, 9)
      const started = performance.now()
      await expect(asleep).rejects.toBeInstanceOf(CorruptError)
      expect(performance.now() - started).toBeLessThan(2500)
      // An entry naming a slot outside the table.
      memory.poke(C_ENTRIES + CE_STATE, 1)
      memory.poke(C_ENTRIES + CE_SLOT, 500)
      expect(() => condition.notify()).toThrow(CorruptError)
      memory.poke(C_ENTRIES + C_ENTRY_WORDS + CE_STATE, 0)
    } finally {
      memory.close()
      condition.close()
    }
  })

  it('fails a wait without a timeout whose entry a scribbled HIGH put above the bound (no notify would reach it)', async () => {
    const condition = new Condition()
    const memory = raw(CONDITION_KIND, condition.name)
    try {
      await condition.acquire()
      const asleep = condition.wait()
      await sleep(20)
      expect(memory.peek(C_HIGH)).toBe(1)
      memory.poke(C_HIGH, 0)
      // Found at its next look (a slice: RECHECK_MS, 1 s), not left asleep for good.
      await expect(within(asleep, 3000, 'the wait')).rejects.toBeInstanceOf(CorruptError)
      expect(condition.owned).toBe(true)
      condition.release()
    } finally {
      memory.close()
      condition.close()
    }
  })

  it('fails a wait without a timeout whose entry slot turns into garbage, as notify() does', async () => {
    const condition = new Condition()
    const notifier = Condition.open(condition.name)
    const memory = raw(CONDITION_KIND, condition.name)
    try {
      await condition.acquire()
      const asleep = condition.wait()
      await sleep(20)
      expect(memory.peek(C_ENTRIES + CE_STATE)).toBe(1)
      memory.poke(C_ENTRIES + CE_SLOT, 5000)
      await notifier.acquire()
      expect(() => notifier.notify()).toThrow(CorruptError)
      notifier.release()
      const started = performance.now()
      await expect(within(asleep, 2000, 'the wait')).rejects.toBeInstanceOf(CorruptError)
      expect(performance.now() - started).toBeLessThan(500)
      // It took the lock back and freed its entry, as every failed wait does.
      expect(condition.owned).toBe(true)
      expect(memory.peek(C_ENTRIES + CE_STATE)).toBe(0)
      condition.release()
    } finally {
      memory.close()
      notifier.close()
      condition.close()
    }
  })
})

describe('Barrier with corrupt memory', () => {
  it('refuses to open a barrier whose parties are out of range', () => {
    const barrier = new Barrier(3)
    const memory = raw(BARRIER_KIND, barrier.name)
    try {
      memory.poke(B_PARTIES, 0)
      expect(() => Barrier.open(barrier.name)).toThrow(CorruptError)
      memory.poke(B_PARTIES, 5)
      expect(() => Barrier.open(barrier.name)).toThrow(CorruptError)
    } finally {
      memory.close()
      barrier.close()
    }
  })

  it('throws CorruptError for a bad count, broken word, lock word or entry, also to a waiter asleep', async () => {
    const barrier = new Barrier(3)
    const memory = raw(BARRIER_KIND, barrier.name)
    try {
      memory.poke(B_COUNT, 99)
      await expect(barrier.wait({ timeout: 1000 })).rejects.toBeInstanceOf(CorruptError)
      expect(() => barrier.nWaiting).toThrow(CorruptError)
      memory.poke(B_COUNT, 0)
      memory.poke(B_BROKEN, 3)
      expect(() => barrier.broken).toThrow(CorruptError)
      expect(() => barrier.waitSync({ timeout: 1000 })).toThrow(CorruptError)
      memory.poke(B_BROKEN, 0)
      // The lock's owner word names slot 200 (outside the table of 128).
      memory.poke(B_LOCK, (201 << 22) | 1)
      expect(() => barrier.waitSync({ timeout: 1000 })).toThrow(CorruptError)
      memory.poke(B_LOCK, 0)
      const asleep = barrier.wait({ timeout: 5000 })
      await sleep(20)
      expect(memory.peek(B_ENTRIES)).toBe(1)
      memory.poke(B_ENTRIES, 8)
      const started = performance.now()
      await expect(asleep).rejects.toBeInstanceOf(CorruptError)
      expect(performance.now() - started).toBeLessThan(1000)
    } finally {
      memory.close()
      barrier.close()
    }
  })

  for (const [word, value] of [
    ['COUNT', 77],
    ['BROKEN', 2],
  ] as const) {
    it(`fails a wait without a timeout when ${word} turns into ${value} while it sleeps, and breaks the barrier`, async () => {
      const barrier = new Barrier(3)
      const other = Barrier.open(barrier.name)
      const memory = raw(BARRIER_KIND, barrier.name)
      try {
        const asleep = barrier.wait()
        const also = other.wait().catch((error: unknown) => error)
        await sleep(20)
        expect(memory.peek(B_COUNT)).toBe(2)
        memory.poke(word === 'COUNT' ? B_COUNT : B_BROKEN, value)
        const started = performance.now()
        // Its next look (a slice of about 100 ms) reads the word.
        await expect(within(asleep, 2000, 'the wait')).rejects.toBeInstanceOf(CorruptError)
        expect(performance.now() - started).toBeLessThan(1000)
        // The other waiter fails too: it reads the word itself (CorruptError), or the failed wait broke the barrier first.
        const error = await within(also, 2000, 'the other wait')
        expect(error instanceof CorruptError || error instanceof BrokenBarrierError).toBe(true)
        // The failed waits broke the barrier, repairing the words.
        expect(barrier.broken).toBe(true)
        expect(barrier.nWaiting).toBe(0)
        barrier.reset()
        await expect(Promise.all([barrier.wait(), barrier.wait(), other.wait()])).resolves.toEqual([0, 1, 2])
      } finally {
        memory.close()
        other.close()
        barrier.close()
      }
    })
  }

  it("a lock word scribbled with the object's own owner code is CorruptError from every call, and close() does not throw", async () => {
    const barrier = new Barrier(3)
    const other = Barrier.open(barrier.name)
    const memory = raw(BARRIER_KIND, barrier.name)
    const name = barrier.name
    const word = (entry: number, field: number) => memory.peek(B_ENTRIES + entry * B_ENTRY_WORDS + field)
    try {
      const mine = barrier.wait().catch((error: unknown) => error)
      await sleep(20)
      const theirs = other.wait().catch((error: unknown) => error)
      await sleep(20)
      expect([word(0, BE_STATE), word(1, BE_STATE)]).toEqual([PENDING, PENDING])
      // Entry 0 is this object's wait: its slot and thread make the code this object writes into the lock.
      memory.poke(B_LOCK, ownerCode(word(0, BE_SLOT), word(0, BE_TID)))
      // This object holds the lock only inside synchronous calls, so no call of it can be holding it now.
      expect(() => barrier.waitSync({ timeout: 1000 })).toThrow(CorruptError)
      expect(() => barrier.abort()).toThrow(CorruptError)
      expect(() => barrier.reset()).toThrow(CorruptError)
      expect(() => barrier.close()).not.toThrow()
      expect(barrier.closed).toBe(true)
      // Its wait left the barrier without the lock: its entry broken and freed, the barrier broken.
      expect(word(0, BE_STATE)).toBe(FREE)
      expect(memory.peek(B_BROKEN)).toBe(1)
      const error = await within(mine, 2000, 'the closed wait')
      expect(error instanceof ClosedError || error instanceof BrokenBarrierError).toBe(true)
      expect(await within(theirs, 2000, 'the other wait')).toBeInstanceOf(BrokenBarrierError)
    } finally {
      memory.close()
      other.close()
      barrier.close()
    }
    expectNoSegment(name)
  })

  it('close() of a party whose break meets a scribbled entry does not throw, breaks the barrier and frees its entry', async () => {
    const barrier = new Barrier(3)
    const other = Barrier.open(barrier.name)
    const memory = raw(BARRIER_KIND, barrier.name)
    const name = barrier.name
    const stateOf = (entry: number) => B_ENTRIES + entry * B_ENTRY_WORDS + BE_STATE
    try {
      const first = barrier.wait().catch((error: unknown) => error)
      await sleep(20)
      const second = other.wait().catch((error: unknown) => error)
      await sleep(20)
      expect([memory.peek(stateOf(0)), memory.peek(stateOf(1))]).toEqual([PENDING, PENDING])
      memory.poke(stateOf(0), 9)
      // Both waits fail; the break of the second stops at entry 0, leaving its own entry 1 PENDING.
      expect(await within(first, 2000, 'the first wait')).toBeInstanceOf(CorruptError)
      expect(await within(second, 2000, 'the second wait')).toBeInstanceOf(CorruptError)
      expect(memory.peek(stateOf(1))).toBe(PENDING)
      barrier.close()
      memory.poke(stateOf(0), 9)
      expect(() => other.close()).not.toThrow()
      expect(other.closed).toBe(true)
      expect(memory.peek(stateOf(1))).toBe(FREE)
      expect(memory.peek(B_BROKEN)).toBe(1)
    } finally {
      memory.close()
      other.close()
      barrier.close()
    }
    expectNoSegment(name)
  })

  it('a process that exits holding such a party and an Event closes both: exit code 0, nothing left in /dev/shm', {
    timeout: 20_000,
  }, async () => {
    const child = spawnChild(barrierHolder, [String(B_ENTRIES + BE_STATE), String(B_ENTRY_WORDS)])
    const code = await child.exited
    expect(child.stderr()).toBe('')
    expect(code).toBe(0)
    const { barrier, event, states } = JSON.parse(child.stdout()) as {
      barrier: string
      event: string
      states: number[]
    }
    // The state the exit hook met: entry 0 scribbled, entry 1 the open party's PENDING wait.
    expect(states).toEqual([9, PENDING, FREE])
    expectNoSegment(barrier)
    expectNoSegment(event)
  })
})
