/**
 * Condition across processes: notify(1) wakes exactly one of three waiting
 * processes, notifyAll() the rest; a tight producer/consumer loop between
 * two processes loses no wake-up in 2000 rounds; a SIGKILLed waiter is
 * skipped, so a notify(1) still reaches a live one, also when it was killed
 * after the notify marked it.
 */
import { Segment } from '@ipc/core/internal'
import { Condition, ValueError } from '@ipc/sync'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const WAITER = new URL('./fixtures/condition-waiter.mjs', import.meta.url)
const PING_PONG = new URL('./fixtures/ping-pong.mjs', import.meta.url)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Two waiting processes: the victim (sync) waits first, the survivor (async) second. */
async function victimAndSurvivor(condition: Condition) {
  const handle = JSON.stringify(condition.handle)
  const victim = spawnChild(WAITER, [handle, 'sync'])
  await victim.waitFor('waiting')
  await condition.withLock(() => undefined)
  const survivor = spawnChild(WAITER, [handle, 'async'])
  await survivor.waitFor('waiting')
  await condition.withLock(() => undefined)
  return { victim, survivor }
}

describe('Condition#notify() across processes', () => {
  it('notify(1) wakes exactly one of 3 waiting processes; notifyAll() wakes the others', {
    timeout: 60_000,
  }, async () => {
    const condition = new Condition()
    try {
      const handle = JSON.stringify(condition.handle)
      const children = ['sync', 'async', 'sync'].map((mode) => spawnChild(WAITER, [handle, mode]))
      // Each prints 'waiting' holding the lock; a notify under the lock comes after its entry exists.
      await Promise.all(children.map((child) => child.waitFor('waiting')))
      await condition.withLock(() => undefined)
      await sleep(200)
      await condition.withLock(() => condition.notify(1))
      await sleep(500)
      const notified = () => children.filter((child) => child.stdout().includes('notified true owned true'))
      expect(notified()).toHaveLength(1)
      await condition.withLock(() => condition.notifyAll())
      await Promise.all(children.map((child) => child.waitFor('notified true owned true')))
      // Each held its RLock twice when it waited: once released, it still holds it.
      await Promise.all(children.map((child) => child.waitFor('depth true')))
      for (const child of children) child.child.send('exit')
      expect(await Promise.all(children.map((child) => child.exited))).toEqual([0, 0, 0])
    } finally {
      condition.close()
    }
  })

  it('skips a SIGKILLed waiter: notify(1) goes to a live one', { timeout: 60_000 }, async () => {
    const condition = new Condition()
    try {
      const { victim, survivor } = await victimAndSurvivor(condition)
      victim.child.kill('SIGKILL')
      expect(await victim.exited).toBe(-9)
      // The victim waited longest; a notify(1) must not be spent on it.
      await condition.withLock(() => condition.notify(1))
      await survivor.waitFor('notified true owned true')
      survivor.child.send('exit')
      expect(await survivor.exited).toBe(0)
    } finally {
      condition.close()
    }
  })

  it('passes on a notification whose waiter was SIGKILLed before it took it: a live waiter gets it', {
    timeout: 60_000,
  }, async () => {
    const condition = new Condition()
    try {
      const { victim, survivor } = await victimAndSurvivor(condition)
      // notify(1) marks the victim (alive then, the oldest); it dies before the lock is released,
      // so it never takes the notification back. Before, the survivor slept on to its timeout (20 s).
      await condition.acquire()
      condition.notify(1)
      victim.child.kill('SIGKILL')
      expect(await victim.exited).toBe(-9)
      condition.release()
      // Passed on at the survivor's next slice end (1 s).
      await survivor.waitFor('notified true owned true', 5000)
      survivor.child.send('exit')
      expect(await survivor.exited).toBe(0)
    } finally {
      condition.close()
    }
  })

  it('loses no wake-up in 2000 rounds of a producer/consumer loop between two processes', {
    timeout: 120_000,
  }, async () => {
    const ROUNDS = 2000
    const condition = new Condition()
    const board = Segment.create({ kind: 'sync-test-board', version: 1 }, 64)
    const turn = board.dataOffset / 4
    try {
      const child = spawnChild(PING_PONG, [JSON.stringify(condition.handle), board.name, String(ROUNDS)])
      for (let i = 0; i < ROUNDS; i++) {
        await condition.withLock(async () => {
          const mine = await condition.waitFor(() => Atomics.load(board.i32, turn) === 0, { timeout: 10_000 })
          if (!mine) throw new Error(`round ${i}: no turn within 10 s (a lost wake-up); ${child.stderr()}`)
          Atomics.store(board.i32, turn, 1)
          condition.notify()
        })
      }
      await child.waitFor('done', 30_000)
      expect(await child.exited, child.stderr()).toBe(0)
      expect(Atomics.load(board.i32, turn)).toBe(0)
    } finally {
      condition.close()
      board.close()
    }
  })

  it('throws ValueError when a process waits or notifies without the lock', () => {
    const condition = new Condition()
    try {
      expect(() => condition.waitSync({ timeout: 10 })).toThrow(ValueError)
      expect(() => condition.notifyAll()).toThrow(ValueError)
    } finally {
      condition.close()
    }
  })
})
