import { Pool } from '@ipc/pool'
import { Queue } from '@ipc/queue'
import { describe, expect, it } from 'vitest'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

describe.each(['process', 'thread'] as const)('primitives as task arguments (%s mode)', (mode) => {
  it('a Queue passed to run arrives attached', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    const queue = new Queue<string>()
    try {
      expect(await pool.run('putTo', [queue, 'hello'])).toBe(queue.name)
      expect(await pool.run('putTo', [queue, 'again'])).toBe(queue.name)
      expect(queue.getSync({ timeout: 1000 })).toBe('hello')
      expect(queue.getSync({ timeout: 1000 })).toBe('again')
    } finally {
      queue.close()
    }
  })
})
