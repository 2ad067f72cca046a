/**
 * @ipc/semaphore/redis against a server that stops answering: while a new
 * semaphore attaches (SIGSTOP), acquire ends by its timeout and leaves no
 * permit held once the attach lands after all; after it attached (a fake
 * server), every call ends within its limit or its timeout; a release depth
 * outside what the library keeps, a garbled list of orphan grants in a
 * renewal's reply, or a claim told to wait longer than any hand-over (the
 * server running other code under the library's name), is refused as corrupt.
 */

import { shortenRedisLimits } from '@ipc/core/redis'
import {
  array,
  bulk,
  describeWithRedis,
  elapsed,
  expectEachUnanswered,
  startHostileRedis,
  uniqueName,
} from '@ipc/test-utils'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { ConnectionError, CorruptError, Lock, RLock, Semaphore } from '../src/redis/index.js'
import { HANDOFF_MS, SEMAPHORE_LIBRARY } from '../src/redis/library.js'

/** How late a timeout may end on a loaded machine. */
const SLACK = 800

describeWithRedis('@ipc/semaphore/redis against an untrusted server', (server) => {
  it('resolves acquire({ timeout }) false while the server stops answering the attach, and holds no permit after it lands', async () => {
    const name = uniqueName()
    // Connected and the library loaded (another semaphore attached); then the server stops.
    const other = await Semaphore.open(name, { url: server().url, create: { value: 1 } })
    server().pause()
    // Resumed after 1.5 s whatever happens: an acquire that waited for the attach then takes the permit.
    const resumed = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => server().resume())
    const semaphore = Semaphore.open(name, { url: server().url })
    const fresh = new Semaphore(1, { url: server().url })
    const lock = new Lock({ url: server().url })
    const results = await Promise.all([
      elapsed(fresh.acquire({ timeout: 200 })),
      elapsed(lock.acquire({ timeout: 200 })),
    ])
    await resumed
    for (const { ms, outcome } of results) {
      expect(outcome).toBe(false)
      expect(ms).toBeLessThan(200 + SLACK)
    }
    await Promise.all([fresh.ready(), lock.ready()])
    // Nothing was granted to the calls that gave up: the permits are free.
    expect(await fresh.acquire({ timeout: 0 })).toBe(true)
    expect(await lock.acquire({ timeout: 0 })).toBe(true)
    expect(await (await semaphore).acquire({ timeout: 0 })).toBe(true)
    expect(await other.acquire({ timeout: 0 })).toBe(false)
    await Promise.all([fresh.close(), lock.close(), (await semaphore).close(), other.close()])
  })

  it('serves a waiter whose wait would start in the future (a server clock stepped back, or a window another program wrote), without claiming every millisecond', {
    timeout: 15_000,
  }, async () => {
    const name = uniqueName()
    const holder = await Semaphore.open(name, { url: server().url, create: { value: 1 } })
    const waiter = await Semaphore.open(name, { url: server().url })
    const overflows: string[] = []
    const onWarning = (warning: Error) => overflows.push(warning.name)
    process.on('warning', onWarning)
    try {
      expect(await holder.acquire()).toBe(true)
      const waiting = elapsed(waiter.acquire({ timeout: 3000 }))
      await vi.waitFor(async () => expect(await server().command('LLEN', `ipc:{${name}}:queue`)).toBe(':1'))
      // When the last waiter served gave its permit back (server ms): 35 days ahead.
      expect(await server().command('HSET', `ipc:{${name}}:meta`, 'window', String(Date.now() + 3e9))).toMatch(
        /^:[01]$/,
      )
      const fcalls = async () => Number(/cmdstat_fcall:calls=(\d+)/.exec(await server().info('commandstats'))?.[1])
      const before = await fcalls()
      // A holder that releases and acquires again at once: before, the head counted young for 35
      // days, this acquire barged, and the waiter's claims were told to wait 3e9 ms (a 1 ms timer):
      // about a thousand FCALLs a second until its timeout, which it reached without the permit.
      await holder.release()
      expect(await holder.acquire({ timeout: 0 })).toBe(false)
      expect((await waiting).outcome).toBe(true)
      expect((await fcalls()) - before).toBeLessThan(50)
      expect(overflows).toEqual([])
      await waiter.release()
    } finally {
      process.off('warning', onWarning)
      await Promise.all([holder.close(), waiter.close()])
    }
  })

  it('fails the acquire with CorruptError when a claim is told to wait longer than any hand-over (a server running other code)', {
    timeout: 15_000,
  }, async () => {
    const name = uniqueName()
    const holder = await Semaphore.open(name, { url: server().url, create: { value: 1 } })
    const waiter = await Semaphore.open(name, { url: server().url })
    // Both attached (the library is loaded); now the server runs a copy whose young head lasts 60 s.
    const slow = SEMAPHORE_LIBRARY.code.replace(`local HANDOFF_MS = ${HANDOFF_MS}\n`, 'local HANDOFF_MS = 60000\n')
    expect(slow).not.toBe(SEMAPHORE_LIBRARY.code)
    expect(await server().command('FUNCTION', 'LOAD', 'REPLACE', slow)).toBe(`$${SEMAPHORE_LIBRARY.name.length}`)
    try {
      expect(await holder.acquire()).toBe(true)
      const waiting = elapsed(waiter.acquire({ timeout: 5000 }).catch((error: unknown) => error))
      await vi.waitFor(async () => expect(await server().command('LLEN', `ipc:{${name}}:queue`)).toBe(':1'))
      // The release finds the head young and nudges it; the acquire sent with it (one write, run
      // before the nudged claim can arrive) takes the permit back, so the claim is told to wait
      // about 60,000 ms. Before, the waiter armed that timer and timed out without the permit.
      const [, barged] = await Promise.all([holder.release(), holder.acquire({ timeout: 0 })])
      expect(barged).toBe(true)
      const { ms, outcome } = await waiting
      expect(outcome).toBeInstanceOf(CorruptError)
      expect((outcome as Error).message).toMatch(/claim/)
      expect(ms).toBeLessThan(2000)
    } finally {
      await server().command('FUNCTION', 'LOAD', 'REPLACE', SEMAPHORE_LIBRARY.code)
      await Promise.all([holder.close(), waiter.close()])
    }
  })
})

describe('@ipc/semaphore/redis against a server that answers the attach and then nothing', () => {
  /** The least time a call that does not wait is given (the reply limit, 5 s, shortened here: the lease, 1000, is shorter). */
  const LIMIT = 2000
  // Restored after the last test: beforeAll runs the function it returns then.
  beforeAll(() => shortenRedisLimits(LIMIT))

  it('rejects the calls that do not wait with ConnectionError within the limit; acquire({ timeout }) resolves false by it; close() ends', {
    timeout: 30_000,
  }, async () => {
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      return (command[1] ?? '').endsWith('_create') ? array(bulk('created'), ':0\r\n') : undefined
    })
    const sem = await new Semaphore(1, { url: hostile.url, lease: 1000 }).ready()
    const lock = await new Lock({ url: hostile.url, lease: 1000 }).ready()
    const unbounded = {
      tryAcquire: elapsed(sem.tryAcquire()),
      'acquire({ timeout: 0 })': elapsed(sem.acquire({ timeout: 0 })),
      getValue: elapsed(sem.getValue()),
      release: elapsed(sem.release()),
      'Lock.tryAcquire': elapsed(lock.tryAcquire()),
      'Lock.locked': elapsed(lock.locked()),
    }
    const acquire = await elapsed(sem.acquire({ timeout: 500 }))
    expect(acquire.outcome).toBe(false)
    expect(acquire.ms).toBeLessThan(500 + SLACK)
    await expectEachUnanswered(unbounded, LIMIT, ConnectionError)
    const closed = await Promise.all([elapsed(sem.close()), elapsed(lock.close())])
    for (const { ms, outcome } of closed) {
      expect(outcome).toBeInstanceOf(ConnectionError)
      expect(ms).toBeLessThan(LIMIT + 2000)
    }
  })
})

describe('@ipc/semaphore/redis against a server that sends a release depth the library never keeps', () => {
  /** A server that creates, grants token 1, answers every release with `depth` (a RESP number), and closes. */
  const releaseReplying = (depth: string) =>
    startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      const fn = command[1] ?? ''
      if (fn.endsWith('_create')) return array(bulk('created'), ':0\r\n')
      if (fn.endsWith('_acquire')) return array(bulk('granted'), ':1\r\n')
      if (fn.endsWith('_release')) return array(bulk('ok'), `${depth}\r\n`, ':0\r\n')
      if (fn.endsWith('_close')) return array(bulk('ok'))
      return undefined
    })

  it.each([
    [':1', 'a level left: an RLock counts its levels in the client'],
    [':-1', 'negative'],
    [':8388608', 'above the largest count'],
    [',1.5', 'not an integer'],
  ])('rejects the RLock release with CorruptError on a depth of %s (%s), and the RLock stays held', async (depth) => {
    const hostile = await releaseReplying(depth)
    const lock = await new RLock({ url: hostile.url }).ready()
    expect(await lock.acquire({ timeout: 0 })).toBe(true)
    await expect(lock.release()).rejects.toThrow(CorruptError)
    expect(lock.owned).toBe(true)
    await lock.close()
  })

  it('rejects a Lock or Semaphore release with CorruptError on any depth but 0', async () => {
    const hostile = await releaseReplying(':5')
    const lock = await new Lock({ url: hostile.url }).ready()
    const sem = await new Semaphore(1, { url: hostile.url }).ready()
    expect(await lock.acquire({ timeout: 0 })).toBe(true)
    expect(await sem.acquire({ timeout: 0 })).toBe(true)
    await expect(lock.release()).rejects.toThrow(CorruptError)
    await expect(sem.release()).rejects.toThrow(CorruptError)
    expect(lock.owned).toBe(true)
    await Promise.all([lock.close(), sem.close()])
  })
})

describe('@ipc/semaphore/redis against a server that garbles the orphans a renewal names', () => {
  /**
   * A server that creates, refuses every acquire (OOM: a lost call, so the object's renewals ask
   * for orphans), and answers a renewal that asks with `orphans` as the list (one that does not
   * ask gets an empty one).
   */
  const orphansReplying = (orphans: string) =>
    startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      const fn = command[1] ?? ''
      if (fn.endsWith('_create')) return array(bulk('created'), ':0\r\n')
      if (fn.endsWith('_acquire')) return '-OOM command not allowed when used memory > maxmemory\r\n'
      if (fn.endsWith('_renew'))
        // FCALL, name, 6 and the 6 keys, then kind, object, idle, lease, the orphans flag.
        return array(array(), array(), array(), ':-1\r\n', ':1\r\n', command[13] === '1' ? orphans : array())
      if (fn.endsWith('_close')) return array(bulk('ok'))
      return undefined
    })

  it.each([
    ['an odd count', array(':1\r\n')],
    ['a token that is no number', array(bulk('x'), bulk(''))],
    ['token 0', array(':0\r\n', bulk(''))],
    ['a waiter that is no string', array(':1\r\n', ':2\r\n')],
    ['more than 1,000', array(...Array.from({ length: 2002 }, (_, i) => (i % 2 === 0 ? `:${i + 1}\r\n` : bulk(''))))],
  ])('makes the object unusable with CorruptError on a list with %s, within a few renewals', async (_, orphans) => {
    const hostile = await orphansReplying(orphans)
    const sem = await new Semaphore(1, { url: hostile.url, lease: 300 }).ready()
    await expect(sem.tryAcquire()).rejects.toThrow(ConnectionError)
    // Renewals every 100 ms: the next one asks, and its garbled list is refused.
    const { ms } = await elapsed(
      vi.waitFor(() => expect(sem.tryAcquire()).rejects.toThrow(CorruptError), { timeout: 3000, interval: 50 }),
    )
    expect(ms).toBeLessThan(3000)
    await sem.close()
  })
})

describe('@ipc/semaphore/redis against a server that sends a flag other than 0 or 1', () => {
  it('reports CorruptError for a create reply whose persistent flag is 7', async () => {
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      return (command[1] ?? '').endsWith('_create') ? array(bulk('created'), ':7\r\n') : array(bulk('ok'))
    })
    const sem = new Semaphore(1, { url: hostile.url })
    await expect(sem.ready()).rejects.toBeInstanceOf(CorruptError)
    await sem.close().catch(() => {})
  })
})
