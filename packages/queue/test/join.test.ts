/**
 * JoinableQueue across processes, and Python's traps: a child that exits
 * right after `put` loses nothing and does not deadlock `join`.
 */
import { JoinableQueue, Queue } from '@ipc/queue'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { makeItem } from './fixtures/items.mjs'
import { makeTally, reportOf } from './tally.js'

const producer = new URL('./fixtures/producer.mjs', import.meta.url)
const consumer = new URL('./fixtures/consumer.mjs', import.meta.url)
const blocked = new URL('./fixtures/blocked.mjs', import.meta.url)

describe('JoinableQueue#join() across processes', () => {
  it('returns once consumers in 3 processes marked every item done', { timeout: 30_000 }, async () => {
    const count = 3_000
    const queue = new JoinableQueue({ name: uniqueName('join'), maxsize: 100 })
    onTestFinished(() => queue.close())
    const handle = JSON.stringify(queue.handle)
    const tally = makeTally(1, count)
    const consumers = ['sync', 'async', 'iterate'].map((mode) =>
      spawnChild(consumer, [handle, tally.name, '1', String(count), mode, 'taskDone']),
    )
    for (let seq = 0; seq < count; seq++) await queue.put(makeItem(0, seq))
    expect(await queue.join({ timeout: 20_000 })).toBe(true)
    // join returned only after every item was taken and done.
    expect(tally.counts.every((n) => n === 1)).toBe(true)
    queue.shutdown()
    expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0, 0])
    expect(consumers.reduce((sum, c) => sum + reportOf(c.stdout()).got, 0)).toBe(count)
  })

  it('wakes joinSync and join waiting in other processes when the last task is done', { timeout: 20_000 }, async () => {
    const queue = new JoinableQueue<string>({ name: uniqueName('join') })
    onTestFinished(() => queue.close())
    queue.putSync('a')
    queue.putSync('b')
    const joiners = ['join-sync', 'join-async'].map((what) => spawnChild(blocked, [JSON.stringify(queue.handle), what]))
    await Promise.all(joiners.map((j) => j.waitFor('waiting')))
    queue.getSync()
    queue.taskDone()
    await new Promise((r) => setTimeout(r, 50))
    expect(joiners.map((j) => j.stdout())).toEqual(['waiting\n', 'waiting\n'])
    queue.getSync()
    queue.taskDone()
    expect(await Promise.all(joiners.map((j) => j.exited))).toEqual([0, 0])
    for (const j of joiners) expect(j.stdout()).toContain('joined true')
  })

  it.each(['sync', 'put-no-await'])(
    'keeps every item of children that exit right after put (%s), and join returns',
    {
      timeout: 30_000,
    },
    async (mode) => {
      const count = 1_000
      const queue = new JoinableQueue<unknown>({ name: uniqueName('exit-at-once') })
      onTestFinished(() => queue.close())
      const handle = JSON.stringify(queue.handle)
      const children = [0, 1, 2].map((id) =>
        spawnChild(producer, [handle, String(id), String(count), mode, 'exit-at-once']),
      )
      expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
      expect(queue.qsize()).toBe(3 * count)
      expect(await queue.join({ timeout: 0 })).toBe(false)
      for (let i = 0; i < 3 * count; i++) {
        queue.getNowait()
        queue.taskDone()
      }
      expect(await queue.join({ timeout: 5_000 })).toBe(true)
    },
  )

  it('counts qsize() from every process', { timeout: 20_000 }, async () => {
    const queue = new Queue({ name: uniqueName('qsize') })
    onTestFinished(() => queue.close())
    const child = spawnChild(producer, [JSON.stringify(queue.handle), '0', '250', 'sync'])
    expect(await child.exited).toBe(0)
    expect(queue.qsize()).toBe(250)
    expect(queue.empty()).toBe(false)
  })
})
