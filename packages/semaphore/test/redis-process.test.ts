/**
 * A Redis semaphore passed to `Process`: the child closes its copy once its
 * function has returned (and its work is done), so the semaphore leaves the
 * server at the parent's close, not 3 leases after the child's exit; a
 * failing child reports its error before it waits on that close; a child
 * with 'beforeExit' work of its own keeps the semaphore open for it.
 */
import { Process } from '@ipc/core'
import { Semaphore } from '@ipc/semaphore/redis'
import { describeWithRedis } from '@ipc/test-utils'
import { expect, it } from 'vitest'

const fixture = new URL('./fixtures/redis-take-one.mjs', import.meta.url)

/** Runs `exportName` of the fixture in a child of `mode` with `args`, and joins it. */
function runChild(exportName: string, mode: 'process' | 'thread', args: unknown[]): Promise<number | null> {
  const child = new Process(fixture, { args, exportName, mode })
  child.start()
  return child.join()
}

describeWithRedis('Redis Semaphore passed to Process', (server) => {
  it.each(['process', 'thread'] as const)(
    'is closed in a %s whose function returned',
    { timeout: 30_000 },
    async (mode) => {
      // A lease far longer than the test: a copy left open would keep the keys for 3 of them.
      const sem = await new Semaphore(1, { url: server().url, lease: 60_000 }).ready()
      try {
        expect(await runChild('takeOne', mode, [sem])).toBe(0)
        expect(await sem.getValue()).toBe(1)
      } finally {
        await sem.close()
      }
      expect(await server().command('EXISTS', `ipc:{${sem.name}}:meta`)).toBe(':0')
    },
  )

  it.each(['process', 'thread'] as const)(
    'a failing %s reports its error before it closes (server stopped, a later error on the way)',
    {
      timeout: 30_000,
    },
    async (mode) => {
      const sem = await new Semaphore(1, { url: server().url }).ready()
      try {
        await expect(runChild('failWithServerStopped', mode, [sem, server().pid])).rejects.toMatchObject({
          name: 'ProcessError',
          message: expect.stringMatching(/the first error/),
        })
      } finally {
        server().resume()
        await sem.close()
      }
    },
  )

  it.each(['process', 'thread'] as const)(
    "stays open for a %s's own 'beforeExit' work",
    { timeout: 30_000 },
    async (mode) => {
      const sem = await new Semaphore(0, { url: server().url }).ready()
      try {
        expect(await runChild('useAtBeforeExit', mode, [sem])).toBe(0)
        expect(await sem.getValue()).toBe(1)
      } finally {
        await sem.close()
      }
    },
  )
})
