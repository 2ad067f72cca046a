/**
 * A queue passed to `Process` arrives attached in the child, in a child
 * process and in a worker thread, without the child importing @ipc/queue.
 */
import { Process } from '@ipc/core'
import { JoinableQueue, Queue } from '@ipc/queue'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const work = new URL('./fixtures/process-work.mjs', import.meta.url)

describe('Queue passed to Process', () => {
  it.each(['process', 'thread'] as const)('is revived attached in a %s', { timeout: 30_000 }, async (mode) => {
    const queue = new Queue<string>({ name: uniqueName('process') })
    onTestFinished(() => queue.close())
    const child = new Process(work, { args: [queue, 100], exportName: 'produce', mode })
    child.start()
    expect(await child.join()).toBe(0)
    expect(queue.qsize()).toBe(100)
    for (let i = 0; i < 100; i++) expect(queue.getSync()).toBe(`item-${i}`)
  })

  it('works with two queues, a JoinableQueue joined by the parent', { timeout: 30_000 }, async () => {
    const tasks = new JoinableQueue<string>({ name: uniqueName('tasks') })
    const results = new Queue<string>({ name: uniqueName('results') })
    onTestFinished(() => {
      tasks.close()
      results.close()
    })
    const child = new Process(work, { args: [tasks, results], exportName: 'consume' })
    child.start()
    for (const word of ['a', 'b', 'c']) await tasks.put(word)
    expect(await tasks.join({ timeout: 20_000 })).toBe(true)
    expect([results.getSync(), results.getSync(), results.getSync()]).toEqual(['A', 'B', 'C'])
    await tasks.put('stop')
    expect(await child.join()).toBe(0)
    expect(await tasks.join({ timeout: 5_000 })).toBe(true)
  })
})
