import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { BoundedSemaphore } from '../src/bounded-semaphore.js'
import {
  DATA_BYTES,
  HANDOFF,
  HEADER_WORDS,
  headerIndex,
  ONE,
  S_HELD,
  S_JOURNAL,
  S_SLEEP,
  S_TICKET,
  slotIndex,
  W_BOUND,
  W_FLAGS,
  W_MAX_SLOT,
  W_NEXT_TICKET,
  W_STATE,
  W_WAITERS,
} from '../src/layout.js'
import { Semaphore } from '../src/semaphore.js'
import type { SemaphoreBase } from '../src/semaphore-base.js'
import { counterOf } from '../src/semaphore-base.js'
import { closeAfterEach } from './tracked.js'

// Every call runs in a child (the victim), so a call that hangs or blocks its
// thread fails the test at the `waitFor` bound (the hard kill-timer) instead
// of hanging the suite; spawnChild kills the child when the test ends.
const VICTIM = new URL('./fixtures/corrupt-victim.mjs', import.meta.url)

interface Outcome {
  outcome: string
  code?: string
  message?: string
  ms: number
  maxGapMs: number
}

const track = closeAfterEach({ unlink: true })

function words(sem: SemaphoreBase) {
  const counter = counterOf(sem)
  return { i32: counter.i32, base: counter.segment.dataOffset, segment: counter.segment, slot: counter.slot }
}

function line(stdout: string, prefix: string): Outcome {
  const found = stdout.split('\n').find((l) => l.startsWith(`${prefix} `))
  if (found === undefined) throw new Error(`no ${prefix} line in: ${stdout}`)
  return JSON.parse(found.slice(prefix.length + 1)) as Outcome
}

/**
 * Starts a victim attached to `sem`, lets `corrupt` write the shared memory
 * (it gets the victim's slot), runs `call` in the victim, which must report
 * within `boundMs`; then repairs STATE and lets the victim try once more and close.
 */
async function attack(
  sem: SemaphoreBase,
  call: string,
  corrupt: (victimSlot: number) => void,
  boundMs: number,
): Promise<{ result: Outcome; again: Outcome }> {
  const victim = spawnChild(VICTIM, [JSON.stringify(sem.handle), call])
  await victim.waitFor('ATTACHED', 10_000)
  const { i32, base, segment } = words(sem)
  let victimSlot = -1
  for (let s = 0; s < 128; s++) if (segment.slotOwner(s)?.pid === victim.child.pid) victimSlot = s
  expect(victimSlot).not.toBe(-1)
  const healthy = Atomics.load(i32, headerIndex(base, W_STATE))
  corrupt(victimSlot)
  victim.child.send('go')
  await victim.waitFor('RESULT', boundMs)
  const result = line(victim.stdout(), 'RESULT')
  Atomics.store(i32, headerIndex(base, W_STATE), healthy)
  victim.child.send('again')
  await victim.waitFor('CLOSED', 5_000)
  expect(await victim.exited).toBe(0)
  return { result, again: line(victim.stdout(), 'AGAIN') }
}

function setState(sem: SemaphoreBase, value: number): void {
  const { i32, base } = words(sem)
  Atomics.store(i32, headerIndex(base, W_STATE), value)
}

const CALLS = [
  'tryAcquire',
  'release',
  'acquireSync',
  'acquireSync0',
  'acquire0',
  'acquire500',
  'acquireForever',
  'withPermit',
]
const ASYNC_CALLS = new Set(['acquire0', 'acquire500', 'acquireForever', 'withPermit'])

describe('a corrupt tag in STATE', () => {
  // Tags that no object can hold: each call throws CorruptError at once (a
  // free slot's tag after the 50 ms liveness check), and the object stays
  // unusable even after the memory is repaired; close() works.
  const impossible: [string, (sem: SemaphoreBase, victimSlot: number) => number][] = [
    ['tag 200 (above the 128 slots)', () => ONE | 200],
    ["the victim's own slot", (_sem, victimSlot) => ONE | (victimSlot + 1)],
    ['the slot of no attached object', () => ONE | 100],
    ['tag 129 with HANDOFF', () => HANDOFF | 129],
  ]
  for (const [what, stateOf] of impossible) {
    for (const call of CALLS) {
      it(`${what}: ${call} throws CorruptError within 1 s; later calls too; close works`, {
        timeout: 20_000,
      }, async () => {
        const sem = track(new Semaphore(1))
        const { result, again } = await attack(
          sem,
          call,
          (victimSlot) => setState(sem, stateOf(sem, victimSlot)),
          3_000,
        )
        expect(result.outcome, JSON.stringify(result)).toBe('CorruptError')
        expect(result.code).toBe('IPC_CORRUPT')
        expect(result.ms).toBeLessThan(1_000)
        if (ASYNC_CALLS.has(call)) expect(result.maxGapMs).toBeLessThan(250)
        expect(again.outcome).toBe('CorruptError')
        expect(again.message).toBe(result.message)
      })
    }
  }
})

describe('STATE tagged by a live other object that never untags', () => {
  // The parent (another process, alive) is the tag's owner: no CorruptError,
  // but no call waits past its timeout, nor past 2 s without one; async calls
  // keep the event loop running. After the repair the object works.
  const expected: Record<string, [string, number, number]> = {
    // call: outcome, at least ms, at most ms
    tryAcquire: ['TimeoutError', 1_900, 4_000],
    release: ['TimeoutError', 1_900, 4_000],
    acquireSync: ['false', 450, 2_000],
    // As acquire({ timeout: 0 }): one look, not the 2 s a stuck object gets (it waited them before).
    acquireSync0: ['false', 0, 500],
    acquire0: ['false', 0, 500],
    acquire500: ['false', 450, 2_000],
    acquireForever: ['TimeoutError', 1_900, 4_000],
    withPermit: ['TimeoutError', 450, 2_000],
  }
  for (const call of CALLS) {
    const [outcome, least, most] = expected[call] as [string, number, number]
    it(`${call}: ${outcome} after ${least} ms at most ${most} ms; works once untagged`, {
      timeout: 20_000,
    }, async () => {
      const sem = track(new Semaphore(1))
      const parentSlot = words(sem).slot
      const { result, again } = await attack(sem, call, () => setState(sem, ONE | (parentSlot + 1)), most + 3_000)
      expect(result.outcome, JSON.stringify(result)).toBe(outcome)
      expect(result.ms).toBeGreaterThanOrEqual(least)
      expect(result.ms).toBeLessThan(most)
      if (ASYNC_CALLS.has(call)) expect(result.maxGapMs).toBeLessThan(250)
      expect(again.outcome).toBe('true')
    })
  }
})

describe('a count above BOUND', () => {
  it('BoundedSemaphore#release() throws CorruptError; later calls too; close works', { timeout: 20_000 }, async () => {
    const sem = track(new BoundedSemaphore(2))
    const { result, again } = await attack(sem, 'release', () => setState(sem, 7 * ONE), 3_000)
    expect(result.outcome, JSON.stringify(result)).toBe('CorruptError')
    expect(result.message).toContain('count 7')
    expect(again.outcome).toBe('CorruptError')
  })
})

describe('a corrupt layout at attach', () => {
  // Semaphore.from / BoundedSemaphore.from refuse the segment with CorruptError.
  const cases: [string, () => SemaphoreBase, (i32: Int32Array, base: number) => void][] = [
    ['BOUND -1', () => new BoundedSemaphore(1), (i32, base) => Atomics.store(i32, headerIndex(base, W_BOUND), -1)],
    [
      'BOUND above the largest value',
      () => new BoundedSemaphore(1),
      (i32, base) => Atomics.store(i32, headerIndex(base, W_BOUND), 2 ** 24),
    ],
    ['unknown FLAGS bits', () => new Semaphore(1), (i32, base) => Atomics.store(i32, headerIndex(base, W_FLAGS), 6)],
    ['MAX_SLOT 1000', () => new Semaphore(1), (i32, base) => Atomics.store(i32, headerIndex(base, W_MAX_SLOT), 1000)],
    ['MAX_SLOT -1', () => new Semaphore(1), (i32, base) => Atomics.store(i32, headerIndex(base, W_MAX_SLOT), -1)],
    [
      'a reserved header word',
      () => new Semaphore(1),
      (i32, base) => Atomics.store(i32, headerIndex(base, HEADER_WORDS - 1), 1),
    ],
    ['tag 200', () => new Semaphore(1), (i32, base) => Atomics.store(i32, headerIndex(base, W_STATE), ONE | 200)],
    [
      'count above BOUND',
      () => new BoundedSemaphore(2),
      (i32, base) => Atomics.store(i32, headerIndex(base, W_STATE), 3 * ONE),
    ],
    ['a slot HELD -5', () => new Semaphore(1), (i32, base) => Atomics.store(i32, slotIndex(base, 5, S_HELD), -5)],
    ['a slot SLEEP 7', () => new Semaphore(1), (i32, base) => Atomics.store(i32, slotIndex(base, 9, S_SLEEP), 7)],
  ]
  for (const [what, create, corrupt] of cases) {
    it(`${what}: from() throws CorruptError`, { timeout: 20_000 }, async () => {
      const sem = track(create())
      const { i32, base } = words(sem)
      const data = base / 4
      const saved = i32.slice(data, data + DATA_BYTES / 4)
      corrupt(i32, base)
      const victim = spawnChild(VICTIM, [JSON.stringify(sem.handle), 'attach'])
      try {
        await victim.waitFor('CLOSED', 5_000)
      } finally {
        i32.set(saved, data)
      }
      const result = line(victim.stdout(), 'RESULT')
      expect(result.outcome, JSON.stringify(result)).toBe('CorruptError')
      expect(result.ms).toBeLessThan(1_000)
      expect(await victim.exited).toBe(0)
    })
  }
})

describe('corrupt words of a dead holder, read when it is reaped', () => {
  const HOLD = new URL('./fixtures/hold.mjs', import.meta.url)

  async function deadHolder(sem: SemaphoreBase): Promise<{ slot: number; pid: number }> {
    const holder = spawnChild(HOLD, [JSON.stringify(sem.handle), '1'])
    await holder.waitFor('holding')
    const { segment } = words(sem)
    let slot = -1
    for (let s = 0; s < 128; s++) if (segment.slotOwner(s)?.pid === holder.child.pid) slot = s
    expect(slot).not.toBe(-1)
    return { slot, pid: holder.child.pid as number }
  }

  for (const call of ['acquireSync', 'acquire500']) {
    it(`HELD -5: the reap inside ${call} throws CorruptError`, { timeout: 20_000 }, async () => {
      const sem = track(new Semaphore(1))
      const holder = await deadHolder(sem)
      const { result } = await attack(
        sem,
        call,
        () => {
          const { i32, base } = words(sem)
          Atomics.store(i32, slotIndex(base, holder.slot, S_HELD), -5)
          process.kill(holder.pid, 'SIGKILL')
        },
        3_000,
      )
      expect(result.outcome, JSON.stringify(result)).toBe('CorruptError')
      expect(result.message).toContain('HELD -5')
      if (ASYNC_CALLS.has(call)) expect(result.maxGapMs).toBeLessThan(250)
    })

    it(`JOURNAL -1 under the dead holder's tag: ${call} throws CorruptError`, { timeout: 20_000 }, async () => {
      const sem = track(new Semaphore(1))
      const holder = await deadHolder(sem)
      const { result } = await attack(
        sem,
        call,
        () => {
          const { i32, base } = words(sem)
          Atomics.store(i32, slotIndex(base, holder.slot, S_JOURNAL), -1)
          Atomics.store(i32, headerIndex(base, W_STATE), holder.slot + 1)
          process.kill(holder.pid, 'SIGKILL')
        },
        3_000,
      )
      expect(result.outcome, JSON.stringify(result)).toBe('CorruptError')
      expect(result.message).toContain('JOURNAL -1')
      if (ASYNC_CALLS.has(call)) expect(result.maxGapMs).toBeLessThan(250)
    })
  }
})

describe('a dead waiter whose reap meets a corrupt JOURNAL', () => {
  it('still leaves the line: its TICKET and its count in WAITERS go with the slot', { timeout: 20_000 }, async () => {
    // The reap throws at the journal; the slot is freed anyway, so a ticket left behind would
    // count a waiter that never comes (releases would hand permits off to nobody).
    const HOLD = new URL('./fixtures/hold.mjs', import.meta.url)
    const sem = track(new Semaphore(1))
    const holder = spawnChild(HOLD, [JSON.stringify(sem.handle), '1'])
    await holder.waitFor('holding')
    const { i32, base, segment } = words(sem)
    let slot = -1
    for (let s = 0; s < 128; s++) if (segment.slotOwner(s)?.pid === holder.child.pid) slot = s
    expect(slot).not.toBe(-1)
    const { result } = await attack(
      sem,
      'acquireSync',
      () => {
        // The dead holder was in the line too (as a waiter of a second permit would be).
        const ticket = (Atomics.add(i32, headerIndex(base, W_NEXT_TICKET), 1) + 1) | 0
        Atomics.store(i32, slotIndex(base, slot, S_TICKET), ticket)
        Atomics.add(i32, headerIndex(base, W_WAITERS), 1)
        Atomics.store(i32, slotIndex(base, slot, S_JOURNAL), -1)
        Atomics.store(i32, headerIndex(base, W_STATE), slot + 1)
        process.kill(holder.child.pid as number, 'SIGKILL')
      },
      3_000,
    )
    expect(result.outcome, JSON.stringify(result)).toBe('CorruptError')
    expect(result.message).toContain('JOURNAL -1')
    expect(Atomics.load(i32, slotIndex(base, slot, S_TICKET))).toBe(0)
    expect(Atomics.load(i32, headerIndex(base, W_WAITERS))).toBe(0)
  })
})

describe('a TICKET in a slot no object holds, under HANDOFF', () => {
  // Under HANDOFF only the oldest waiter may take; a leftover ticket older
  // than every real one would keep them all waiting. Two mechanisms race,
  // both about PEER_CHECK_MS: the waiter skips a ticket that kept a free
  // permit reserved HANDOFF_GRACE_MS (and takes it), or the periodic reap
  // finds the ticket in a free slot (CorruptError). Either way: no hang.
  for (const call of ['acquireSync', 'acquireForever']) {
    it(`${call} takes the permit or throws CorruptError instead of waiting for a waiter that never comes`, {
      timeout: 20_000,
    }, async () => {
      const sem = track(new Semaphore(1))
      const { result } = await attack(
        sem,
        call,
        () => {
          const { i32, base } = words(sem)
          const next = Atomics.load(i32, headerIndex(base, W_NEXT_TICKET))
          Atomics.store(i32, slotIndex(base, 60, S_TICKET), (next - 1000) | 0 || 1)
          Atomics.store(i32, headerIndex(base, W_MAX_SLOT), 61) // so that scans reach slot 60
          Atomics.store(i32, headerIndex(base, W_STATE), ONE | HANDOFF)
        },
        3_000,
      )
      expect(['true', 'CorruptError'], JSON.stringify(result)).toContain(result.outcome)
      if (result.outcome === 'CorruptError') expect(result.message).toContain('TICKET')
      expect(result.ms).toBeLessThan(1_000)
      if (ASYNC_CALLS.has(call)) expect(result.maxGapMs).toBeLessThan(250)
    })
  }
})
