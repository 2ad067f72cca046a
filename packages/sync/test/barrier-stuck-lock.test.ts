/**
 * Barrier with its internal lock kept by a live process that does not
 * release it (a stopped process, or a lock word scribbled to name a live
 * object): a call with a timeout ends by its timeout with BrokenBarrierError
 * and breaks the barrier, a wait asleep gives up without blocking its event
 * loop, and abort()/reset() throw TimeoutError after the 2 s stuck-holder
 * bound. The calls under test run in children, so a hang fails the test
 * instead of freezing the runner.
 */
import { HEADER_BYTES, ownerCode, RobustLock, Segment, SLOT_COUNT, threadId } from '@ipc/core/internal'
import { Barrier, BrokenBarrierError } from '@ipc/sync'
import { rewriteOwnerWord, spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { B_LOCK, BARRIER_KIND } from '../src/layout.js'

const CALL = new URL('./fixtures/barrier-call.mjs', import.meta.url)
const LOCK_HOLDER = new URL('./fixtures/barrier-lock-holder.mjs', import.meta.url)

type Outcome = { result?: number; error?: string; message?: string; ms: number; maxGap: number }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts `call` of the barrier in a child; `run()` sends 'go' and resolves with its outcome (within `ms`). */
async function childCall(barrier: Barrier, call: string, timeout: string) {
  const child = spawnChild(CALL, [JSON.stringify(barrier.handle), call, timeout])
  await child.waitFor('ready')
  return {
    go: () => child.child.send('go'),
    async outcome(ms: number): Promise<Outcome> {
      await child.waitFor('}', ms)
      const line = child
        .stdout()
        .split('\n')
        .find((l) => l.startsWith('{'))
      return JSON.parse(line as string) as Outcome
    },
  }
}

/** A SIGSTOPped process that holds the barrier's internal lock (a party stopped mid-arrival). */
async function stoppedHolder(barrier: Barrier) {
  const holder = spawnChild(LOCK_HOLDER, [barrier.name])
  await holder.waitFor('holding')
  holder.child.kill('SIGSTOP')
  return holder
}

describe('Barrier whose internal lock a live process keeps', () => {
  it('wait() and waitSync() with a timeout throw BrokenBarrierError by their timeout, and break it', {
    timeout: 20_000,
  }, async () => {
    const barrier = new Barrier(3)
    try {
      const holder = await stoppedHolder(barrier)
      const calls = await Promise.all([childCall(barrier, 'wait', '300'), childCall(barrier, 'waitSync', '300')])
      for (const call of calls) call.go()
      for (const call of calls) {
        const outcome = await call.outcome(3000)
        expect(outcome.error).toBe('BrokenBarrierError')
        expect(outcome.ms).toBeGreaterThanOrEqual(290)
        expect(outcome.ms).toBeLessThan(1000)
      }
      expect(barrier.broken).toBe(true)
      // Broken for this process too; its call with a timeout is not stuck behind the lock either.
      await expect(barrier.wait({ timeout: 100 })).rejects.toBeInstanceOf(BrokenBarrierError)
      holder.child.kill('SIGKILL')
      expect(await holder.exited).toBe(-9)
      barrier.reset()
      await expect(Promise.all([barrier.wait(), barrier.wait(), barrier.wait()])).resolves.toEqual([0, 1, 2])
    } finally {
      barrier.close()
    }
  })

  it('a wait asleep gives up at its timeout without blocking its event loop, and the other waiters break', {
    timeout: 20_000,
  }, async () => {
    const barrier = new Barrier(3)
    // This process takes the lock through a second attachment: a live owner that never releases it.
    const segment = Segment.open(BARRIER_KIND, barrier.name)
    const lock = new RobustLock(segment, segment.dataOffset + B_LOCK * 4)
    try {
      const call = await childCall(barrier, 'wait', '400')
      call.go()
      const mine = barrier.wait().catch((error: unknown) => error)
      while (barrier.nWaiting < 2) await sleep(5)
      expect(lock.acquireSync({ timeout: 1000 })).toBe(true)
      const outcome = await call.outcome(3000)
      expect(outcome.error).toBe('BrokenBarrierError')
      expect(outcome.ms).toBeLessThan(1000)
      // Its heartbeat kept going: the give-up never blocked the loop waiting for the lock.
      expect(outcome.maxGap).toBeLessThan(200)
      // The wait with no timeout learns of the break made without the lock.
      expect(await mine).toBeInstanceOf(BrokenBarrierError)
      expect(barrier.broken).toBe(true)
      expect(barrier.nWaiting).toBe(0)
    } finally {
      if (lock.held) lock.release()
      segment.close()
      barrier.close()
    }
  })

  it('abort() and reset() throw TimeoutError after the 2 s bound', { timeout: 20_000 }, async () => {
    const barrier = new Barrier(2)
    try {
      const holder = await stoppedHolder(barrier)
      const calls = await Promise.all([childCall(barrier, 'abort', '-'), childCall(barrier, 'reset', '-')])
      for (const call of calls) call.go()
      for (const call of calls) {
        const outcome = await call.outcome(6000)
        expect(outcome.error).toBe('TimeoutError')
        expect(outcome.ms).toBeGreaterThanOrEqual(1990)
        expect(outcome.ms).toBeLessThan(3500)
      }
      expect(barrier.broken).toBe(false)
      holder.child.kill('SIGKILL')
      expect(await holder.exited).toBe(-9)
      barrier.abort()
      expect(barrier.broken).toBe(true)
    } finally {
      barrier.close()
    }
  })
})

describe('Barrier whose lock holder died, its slot freed and claimed again', () => {
  it("does not let the slot's next attacher, with the dead holder's thread id, pass for the holder", {
    timeout: 20_000,
  }, async () => {
    const barrier = new Barrier(2)
    const others: Barrier[] = []
    try {
      const holder = spawnChild(LOCK_HOLDER, [barrier.name])
      await holder.waitFor('holding')
      holder.child.kill('SIGKILL')
      expect(await holder.exited).toBe(-9)
      // White box: give the dead holder's owner word this thread's id, as a reused pid (or the same
      // pid in another PID namespace) would.
      const lockAt = HEADER_BYTES + B_LOCK * 4
      expect(rewriteOwnerWord(barrier.name, lockAt, (slot) => ownerCode(slot, threadId()))).toBeGreaterThan(0)
      // Fill the other slots: the next open takes the dead holder's slot over and frees it.
      for (let i = 2; i < SLOT_COUNT; i++) others.push(Barrier.open(barrier.name))
      const heir = Barrier.open(barrier.name)
      others.push(heir)
      // The dead hold was abandoned when its slot was freed. Before, the heir's lock word named the
      // heir itself, which the barrier reads as corrupt memory: every call threw CorruptError.
      heir.abort()
      expect(barrier.broken).toBe(true)
      heir.reset()
      expect(barrier.broken).toBe(false)
    } finally {
      for (const other of others) other.close()
      barrier.close()
    }
  })
})
