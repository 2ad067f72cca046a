/**
 * shutdown() seen from other processes: blocked calls wake with ShutDown,
 * consumers drain what is left, and immediate shutdown drops it.
 */
import { JoinableQueue, Queue } from '@ipc/queue'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const blocked = new URL('./fixtures/blocked.mjs', import.meta.url)

describe('Queue#shutdown() across processes', () => {
  it.each(['get-sync', 'get-async'])(
    'wakes a %s blocked in another process with ShutDown',
    { timeout: 20_000 },
    async (what) => {
      const queue = new Queue({ name: uniqueName('shutdown') })
      onTestFinished(() => queue.close())
      const child = spawnChild(blocked, [JSON.stringify(queue.handle), what])
      await child.waitFor('waiting')
      await new Promise((r) => setTimeout(r, 50))
      queue.shutdown()
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toContain('shutdown item=undefined')
    },
  )

  it.each(['put-sync', 'put-async'])(
    'rejects a %s waiting for room in another process, handing back its item',
    {
      timeout: 20_000,
    },
    async (what) => {
      const queue = new Queue<string>({ name: uniqueName('shutdown'), maxsize: 1 })
      onTestFinished(() => queue.close())
      queue.putSync('first')
      const child = spawnChild(blocked, [JSON.stringify(queue.handle), what])
      await child.waitFor('waiting')
      await new Promise((r) => setTimeout(r, 50))
      expect(queue.qsize()).toBe(1)
      queue.shutdown()
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toContain('shutdown item=blocked-item')
      expect(queue.getSync()).toBe('first')
      expect(() => queue.getSync()).toThrow('it was shut down and is empty')
    },
  )

  it('lets another process drain what is left after a plain shutdown', { timeout: 20_000 }, async () => {
    const queue = new Queue<string>({ name: uniqueName('shutdown') })
    onTestFinished(() => queue.close())
    queue.putSync('left-over')
    queue.shutdown()
    const child = spawnChild(blocked, [JSON.stringify(queue.handle), 'get-async'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('got left-over')
  })

  it('drops what is left with immediate, so another process gets ShutDown at once', { timeout: 20_000 }, async () => {
    const queue = new Queue<string>({ name: uniqueName('shutdown') })
    onTestFinished(() => queue.close())
    for (let i = 0; i < 10; i++) queue.putSync(`item-${i}`)
    queue.shutdown({ immediate: true })
    const child = spawnChild(blocked, [JSON.stringify(queue.handle), 'get-sync'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('shutdown item=undefined')
    expect(queue.qsize()).toBe(0)
  })

  it('releases a join waiting in another process when immediate drops the unfinished items', {
    timeout: 20_000,
  }, async () => {
    const queue = new JoinableQueue<string>({ name: uniqueName('shutdown') })
    onTestFinished(() => queue.close())
    for (let i = 0; i < 10; i++) queue.putSync(`item-${i}`)
    const child = spawnChild(blocked, [JSON.stringify(queue.handle), 'join-async'])
    await child.waitFor('waiting')
    await new Promise((r) => setTimeout(r, 50))
    queue.shutdown({ immediate: true })
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('joined true')
  })
})
