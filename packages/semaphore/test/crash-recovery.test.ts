import { type SpawnedChild, spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { Lock } from '../src/lock.js'
import { Semaphore } from '../src/semaphore.js'
import { counterOf } from '../src/semaphore-base.js'
import { createBoard, MAX_INSIDE, OPS, prng, STOP, VIOLATIONS } from './board.js'

const WORKER = new URL('./fixtures/crash-worker.mjs', import.meta.url)
const HOLD = new URL('./fixtures/hold.mjs', import.meta.url)

describe('crash recovery', () => {
  it('gives back the permits of holders killed at random moments: 50 rounds, survivors always finish', {
    timeout: 90_000,
  }, async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31)
    console.log(`crash-recovery seed: ${seed} (rerun with SEED=${seed})`)
    const random = prng(seed)
    const N = 2
    const LIVE = 4
    const ROUNDS = 50
    const modes = ['sync', 'async', 'mixed']
    const sem = new Semaphore(N)
    const board = createBoard()
    let next = 0
    const all: SpawnedChild[] = []
    const start = () => {
      const index = next++
      const mode = modes[index % modes.length] as string
      const child = spawnChild(WORKER, [
        JSON.stringify(sem.handle),
        board.name,
        String(index),
        mode,
        String(N),
        String(Math.floor(random() * 2 ** 31)),
      ])
      all.push(child)
      return { index, child }
    }
    try {
      let live: { index: number; child: SpawnedChild }[] = []
      for (let i = 0; i < LIVE; i++) live.push(start())
      await Promise.all(live.map((w) => w.child.waitFor('ready', 30_000)))
      let killedOps = 0
      for (let round = 0; round < ROUNDS; round++) {
        await new Promise((r) => setTimeout(r, 20 + random() * 120))
        const victim = live[Math.floor(random() * live.length)] as (typeof live)[number]
        victim.child.child.kill('SIGKILL')
        expect(await victim.child.exited, victim.child.stderr()).toBe(-9)
        killedOps += board.get(OPS + victim.index)
        live = live.filter((w) => w !== victim)
        live.push(start())
      }
      // The survivors (and the replacements) keep getting permits and finish.
      await Promise.all(live.map((w) => w.child.waitFor('ready', 30_000)))
      await new Promise((r) => setTimeout(r, 300))
      board.set(STOP, 1)
      const codes = await Promise.all(live.map((w) => w.child.exited))
      expect(codes, live.map((w) => w.child.stderr()).join('\n')).toEqual(new Array(LIVE).fill(0))
      let survivorOps = 0
      for (const w of live) survivorOps += board.get(OPS + w.index)
      expect(survivorOps + killedOps).toBeGreaterThan(ROUNDS)
      expect(board.get(VIOLATIONS), all.map((c) => c.stderr()).join('')).toBe(0)
      expect(board.get(MAX_INSIDE)).toBeLessThanOrEqual(N)
      // Exactly N permits exist again: the dead holders' came back once each
      // (waiting reaps them), and none was made up.
      for (let i = 0; i < N; i++) expect(await sem.acquire({ timeout: 5000 })).toBe(true)
      expect(sem.tryAcquire()).toBe(false)
      expect(await sem.acquire({ timeout: 300 })).toBe(false)
      sem.release(N)
      expect(sem.value).toBe(N)
    } finally {
      // Children first: the last object to close removes the segment.
      for (const child of all) if (child.child.exitCode === null) child.child.kill('SIGKILL')
      await Promise.all(all.map((child) => child.exited))
      sem.close()
      board.close()
    }
  })

  it('releases a Lock whose holder is SIGKILLed, to a waiter already asleep', { timeout: 30_000 }, async () => {
    const lock = new Lock()
    try {
      const child = spawnChild(HOLD, [JSON.stringify(lock.handle), '1'])
      await child.waitFor('holding')
      expect(lock.locked).toBe(true)
      const waiting = lock.acquire({ timeout: 10_000 })
      await new Promise((r) => setTimeout(r, 50))
      child.child.kill('SIGKILL')
      await expect(waiting).resolves.toBe(true)
      expect(lock.owned).toBe(true)
      lock.release()
    } finally {
      lock.close()
    }
  })

  it('wakes a thread blocked in acquireSync when the holder dies', { timeout: 30_000 }, async () => {
    const sem = new Semaphore(1)
    try {
      // The child kills itself: this thread is blocked and runs no timers.
      const child = spawnChild(HOLD, [JSON.stringify(sem.handle), '1', 'die:300'])
      await child.waitFor('holding')
      expect(sem.value).toBe(0)
      expect(sem.acquireSync({ timeout: 10_000 })).toBe(true)
      expect(await child.exited).toBe(-9)
      sem.release()
      expect(sem.value).toBe(1)
    } finally {
      sem.close()
    }
  })

  it('with reclaim: false, keeps the permits a dead acquirer consumed (event counting)', {
    timeout: 30_000,
  }, async () => {
    const sem = new Semaphore(2, { reclaim: false })
    try {
      const child = spawnChild(HOLD, [JSON.stringify(sem.handle), '1'])
      await child.waitFor('holding')
      child.child.kill('SIGKILL')
      await child.exited
      expect(sem.tryAcquire()).toBe(true)
      // Waiting reaps the dead slot, which gives nothing back.
      expect(await sem.acquire({ timeout: 500 })).toBe(false)
      expect(sem.value).toBe(0)
    } finally {
      sem.close()
    }
  })

  it('gives back the permits of a process that exits without releasing', { timeout: 30_000 }, async () => {
    const sem = new Semaphore(3)
    try {
      const child = spawnChild(HOLD, [JSON.stringify(sem.handle), '2', 'exit'])
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toContain('holding')
      // No reaping needed: its exit hook gave them back.
      expect(sem.value).toBe(3)
    } finally {
      sem.close()
    }
  })
  it("gives back a dead holder's permit when a new object takes over its slot in a full table", {
    timeout: 30_000,
  }, async () => {
    const sem = new Semaphore(1)
    const others: Semaphore[] = []
    try {
      const child = spawnChild(HOLD, [JSON.stringify(sem.handle), '1'])
      await child.waitFor('holding')
      // Fill the rest of the 128-slot table from this process.
      for (let i = 0; i < 126; i++) others.push(Semaphore.from(sem.handle))
      child.child.kill('SIGKILL')
      expect(await child.exited).toBe(-9)
      // Nobody has reaped the dead holder yet: its permit is still taken
      // (the raw count: reading `sem.value` at 0 would look for dead holders).
      expect(counterOf(sem).value).toBe(0)
      // The only slot to take is the dead one; taking it over reaps it first.
      const late = Semaphore.from(sem.handle)
      others.push(late)
      expect(sem.value).toBe(1)
      expect(late.tryAcquire()).toBe(true)
      expect(sem.tryAcquire()).toBe(false)
      late.release()
      expect(sem.value).toBe(1)
    } finally {
      for (const other of others) other.close()
      sem.close()
    }
  })
})
