/**
 * Barrier across processes: 3 processes × 50 generations get the indexes
 * 0, 1, 2 once each in every generation; a party SIGKILLed while it waits
 * breaks the barrier for the others within about a second; reset() and
 * abort() from another process break the waiters.
 */
import { Worker } from 'node:worker_threads'
import { Barrier, BrokenBarrierError } from '@ipc/sync'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const PARTY = new URL('./fixtures/barrier-party.mjs', import.meta.url)
const THREAD = new URL('./fixtures/barrier-thread.mjs', import.meta.url)
const LOCK_HOLDER = new URL('./fixtures/barrier-lock-holder.mjs', import.meta.url)

type Report = { indexes: number[]; error?: string; at?: number }

function report(stdout: string): Report {
  const line = stdout.split('\n').find((l) => l.startsWith('{'))
  if (line === undefined) throw new Error(`no report in ${stdout}`)
  return JSON.parse(line) as Report
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A child party waits alone at `barrier`, then is SIGKILLed there. */
async function killLoneWaiter(barrier: Barrier): Promise<void> {
  const child = spawnChild(PARTY, [JSON.stringify(barrier.handle), '1', 'async'])
  await child.waitFor('ready')
  child.child.send('go')
  while (barrier.nWaiting < 1) await sleep(5)
  child.child.kill('SIGKILL')
  expect(await child.exited).toBe(-9)
}

describe('Barrier across processes', () => {
  it('gives 3 processes distinct indexes in each of 50 generations', { timeout: 60_000 }, async () => {
    const GENERATIONS = 50
    const barrier = new Barrier(3)
    try {
      const handle = JSON.stringify(barrier.handle)
      const children = ['sync', 'async', 'sync'].map((mode) => spawnChild(PARTY, [handle, String(GENERATIONS), mode]))
      await Promise.all(children.map((child) => child.waitFor('ready')))
      for (const child of children) child.child.send('go')
      await Promise.all(children.map((child) => child.waitFor('}', 50_000)))
      const reports = children.map((child) => report(child.stdout()))
      for (const r of reports) expect(r.error).toBeUndefined()
      for (let g = 0; g < GENERATIONS; g++)
        expect(reports.map((r) => r.indexes[g]).sort(), `generation ${g}`).toEqual([0, 1, 2])
      expect(barrier.broken).toBe(false)
      expect(barrier.nWaiting).toBe(0)
    } finally {
      barrier.close()
    }
  })

  it('breaks for every waiter within about a second when a waiting party is SIGKILLed', {
    timeout: 30_000,
  }, async () => {
    const barrier = new Barrier(4)
    try {
      const handle = JSON.stringify(barrier.handle)
      const children = ['sync', 'async', 'sync'].map((mode) => spawnChild(PARTY, [handle, '1', mode]))
      await Promise.all(children.map((child) => child.waitFor('ready')))
      for (const child of children) child.child.send('go')
      while (barrier.nWaiting < 3) await sleep(5)
      const victim = children[2] as (typeof children)[number]
      victim.child.kill('SIGKILL')
      const killedAt = performance.now()
      expect(await victim.exited).toBe(-9)
      await Promise.all(children.slice(0, 2).map((child) => child.waitFor('}', 5000)))
      expect(performance.now() - killedAt).toBeLessThan(1000)
      for (const child of children.slice(0, 2)) expect(report(child.stdout()).error).toBe('BrokenBarrierError')
      expect(barrier.broken).toBe(true)
      await expect(barrier.wait()).rejects.toBeInstanceOf(BrokenBarrierError)
      // reset() mends it: a fresh generation works.
      barrier.reset()
      expect(barrier.broken).toBe(false)
    } finally {
      barrier.close()
    }
  })

  it('a lone waiter SIGKILLed: a later arrival throws BrokenBarrierError, also the one that would release', {
    timeout: 30_000,
  }, async () => {
    // parties 2: B's arrival is the last of the generation, which used to release it with the dead party.
    for (const [parties, call] of [
      [2, 'wait'],
      [2, 'waitSync'],
      [3, 'wait'],
    ] as const) {
      const barrier = new Barrier(parties)
      try {
        await killLoneWaiter(barrier)
        // Each object looks for dead parties at most every 100 ms (PEER_CHECK_MS); the nWaiting loop just looked.
        await sleep(150)
        const started = performance.now()
        const outcome = await (call === 'wait'
          ? barrier.wait()
          : Promise.resolve().then(() => barrier.waitSync())
        ).catch((error: unknown) => error)
        expect(outcome, `parties ${parties}, ${call}`).toBeInstanceOf(BrokenBarrierError)
        expect(performance.now() - started).toBeLessThan(1000)
        expect(barrier.broken).toBe(true)
        await expect(barrier.wait()).rejects.toBeInstanceOf(BrokenBarrierError)
        barrier.reset()
        expect(barrier.broken).toBe(false)
      } finally {
        barrier.close()
      }
    }
  })

  it('a lone waiter SIGKILLed: nWaiting and broken show the break without anyone waiting', {
    timeout: 30_000,
  }, async () => {
    const barrier = new Barrier(2)
    try {
      await killLoneWaiter(barrier)
      // The getters look for dead parties at most every 100 ms (PEER_CHECK_MS).
      await sleep(300)
      expect(barrier.nWaiting).toBe(0)
      expect(barrier.broken).toBe(true)
    } finally {
      barrier.close()
    }
  })

  it('breaks for the others when a waiting worker thread is terminated', { timeout: 30_000 }, async () => {
    const barrier = new Barrier(3)
    try {
      const worker = new Worker(THREAD, { workerData: barrier.handle })
      await new Promise((resolve) => worker.once('message', resolve))
      const mine = barrier.wait({ timeout: 10_000 }).catch((error: unknown) => error)
      while (barrier.nWaiting < 2) await sleep(5)
      const terminatedAt = performance.now()
      await worker.terminate()
      expect(await mine).toBeInstanceOf(BrokenBarrierError)
      expect(performance.now() - terminatedAt).toBeLessThan(1000)
    } finally {
      barrier.close()
    }
  })

  it("breaks when a party is SIGKILLed holding the barrier's internal lock (mid-arrival)", {
    timeout: 30_000,
  }, async () => {
    const barrier = new Barrier(3, { name: uniqueName() })
    try {
      const waiting = barrier.wait({ timeout: 10_000 }).catch((error: unknown) => error)
      while (barrier.nWaiting < 1) await sleep(5)
      const holder = spawnChild(LOCK_HOLDER, [barrier.name])
      await holder.waitFor('holding')
      holder.child.kill('SIGKILL')
      const killedAt = performance.now()
      expect(await holder.exited).toBe(-9)
      // The waiter's next slice takes the dead holder's lock over and breaks the barrier.
      expect(await waiting).toBeInstanceOf(BrokenBarrierError)
      expect(performance.now() - killedAt).toBeLessThan(1000)
      expect(barrier.broken).toBe(true)
      barrier.reset()
      await expect(Promise.all([barrier.wait(), barrier.wait(), barrier.wait()])).resolves.toEqual([0, 1, 2])
    } finally {
      barrier.close()
    }
  })

  it('a holder of the internal lock SIGKILLed while nobody waits does not break the next generation', {
    timeout: 30_000,
  }, async () => {
    const barrier = new Barrier(2, { name: uniqueName() })
    try {
      const holder = spawnChild(LOCK_HOLDER, [barrier.name])
      await holder.waitFor('holding')
      holder.child.kill('SIGKILL')
      expect(await holder.exited).toBe(-9)
      await expect(Promise.all([barrier.wait({ timeout: 5000 }), barrier.wait({ timeout: 5000 })])).resolves.toEqual([
        0, 1,
      ])
      expect(barrier.broken).toBe(false)
    } finally {
      barrier.close()
    }
  })

  it('breaks the waiting processes on abort() and on reset() from another process', { timeout: 30_000 }, async () => {
    for (const action of ['abort', 'reset'] as const) {
      const barrier = new Barrier(3)
      try {
        const handle = JSON.stringify(barrier.handle)
        const children = ['sync', 'async'].map((mode) => spawnChild(PARTY, [handle, '1', mode]))
        await Promise.all(children.map((child) => child.waitFor('ready')))
        for (const child of children) child.child.send('go')
        while (barrier.nWaiting < 2) await sleep(5)
        barrier[action]()
        await Promise.all(children.map((child) => child.waitFor('}', 5000)))
        for (const child of children) expect(report(child.stdout()).error).toBe('BrokenBarrierError')
        expect(barrier.broken).toBe(action === 'abort')
      } finally {
        barrier.close()
      }
    }
  })

  it('a timeout in one process breaks the barrier for the others', { timeout: 30_000 }, async () => {
    const barrier = new Barrier(3)
    try {
      const child = spawnChild(PARTY, [JSON.stringify(barrier.handle), '1', 'sync'])
      await child.waitFor('ready')
      child.child.send('go')
      while (barrier.nWaiting < 1) await sleep(5)
      await expect(barrier.wait({ timeout: 50 })).rejects.toBeInstanceOf(BrokenBarrierError)
      await child.waitFor('}', 5000)
      expect(report(child.stdout()).error).toBe('BrokenBarrierError')
    } finally {
      barrier.close()
    }
  })
})
