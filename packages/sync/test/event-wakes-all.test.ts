/**
 * `Event#set()` wakes every waiter: three processes (sync and async) and a
 * worker thread asleep on one Event all wake, and report `true`.
 */
import { Worker } from 'node:worker_threads'
import { Event } from '@ipc/sync'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const WAITER = new URL('./fixtures/event-waiter.mjs', import.meta.url)
const THREAD = new URL('./fixtures/event-thread.mjs', import.meta.url)

describe('Event#set() across processes and threads', () => {
  it('wakes 3 waiting processes and a waiting worker thread', { timeout: 30_000 }, async () => {
    const event = new Event()
    try {
      const handle = JSON.stringify(event.handle)
      const children = ['sync', 'async', 'sync'].map((mode) => spawnChild(WAITER, [handle, mode]))
      const worker = new Worker(THREAD, { workerData: event.handle })
      const results: unknown[] = []
      const workerDone = new Promise<void>((resolve, reject) => {
        worker.on('message', (message) => {
          if (message !== 'waiting') {
            results.push(message)
            resolve()
          }
        })
        worker.on('error', reject)
      })
      await Promise.all(children.map((child) => child.waitFor('waiting')))
      // Let everyone reach its futex sleep.
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(event.isSet()).toBe(false)
      expect(results).toEqual([])
      const setAt = performance.now()
      event.set()
      await Promise.all(children.map((child) => child.waitFor('woken true')))
      await workerDone
      expect(performance.now() - setAt).toBeLessThan(2000)
      expect(results).toEqual([true])
      expect(await Promise.all(children.map((child) => child.exited))).toEqual([0, 0, 0])
      await worker.terminate()
    } finally {
      event.close()
    }
  })
})
