/**
 * @ipc/shared/redis against an untrusted server: a co-tenant who rewrites
 * the meta hash's lock name, and a server that stops answering right after
 * a value's create (its lock's attach never lands) or after its lock's.
 */

import { shortenRedisLimits } from '@ipc/core/redis'
import { array, bulk, describeWithRedis, startHostileRedis, uniqueName } from '@ipc/test-utils'
import { beforeAll, describe, expect, it } from 'vitest'
import { ConnectionError, CorruptError, SharedValue } from '../src/redis/index.js'

describeWithRedis('@ipc/shared/redis against an untrusted server', (server) => {
  it('rejects open() with CorruptError when the lock name in the meta hash breaks the name rules', async () => {
    const name = uniqueName()
    const value = await new SharedValue('int32', 5, { url: server().url, name }).ready()
    for (const bad of ['bad{name}', 'x'.repeat(300), '\u0000']) {
      expect(await server().command('HSET', `ipc:{${name}}:meta`, 'lock', bad)).toMatch(/^:/)
      await expect(SharedValue.open(name, 'int32', { url: server().url })).rejects.toBeInstanceOf(CorruptError)
    }
    await value.close().catch(() => {})
  })
})

describe('@ipc/shared/redis against a hostile server', () => {
  /** The reply limit of the value's lock (5 s), shortened here. */
  const LIMIT = 2000
  // Restored after the last test: beforeAll runs the function it returns then.
  beforeAll(() => shortenRedisLimits(LIMIT))

  it('bounds get() by the lease when the server stops answering after the value’s create', async () => {
    let silent = false
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      // The lock (a semaphore library function) is never answered, nor anything after it.
      if ((command[1] ?? '').includes('semaphore')) silent = true
      if (silent) return undefined
      if ((command[1] ?? '').endsWith('_create'))
        return array(bulk('created'), bulk('int32'), ':1\r\n', bulk('lockname'), ':0\r\n')
      return array(bulk('ok'), bulk('5'))
    })
    const value = new SharedValue('int32', 0, { url: hostile.url, lease: 500 })
    const start = performance.now()
    await expect(value.get()).rejects.toBeInstanceOf(ConnectionError)
    expect(performance.now() - start).toBeLessThan(500 + 1000)
    await value.close().catch(() => {})
  })

  it('ends close() of a value and its lock within a lease and the lock’s limit when the server stops answering after both attached', {
    timeout: 20_000,
  }, async () => {
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      const fn = command[1] ?? ''
      if (!fn.endsWith('_create')) return undefined
      if (fn.includes('semaphore')) return array(bulk('created'), ':0\r\n')
      return array(bulk('created'), bulk('int32'), ':1\r\n', bulk('lockname'), ':0\r\n')
    })
    const value = await new SharedValue('int32', 0, { url: hostile.url, lease: 500 }).ready()
    const start = performance.now()
    await expect(value.get()).rejects.toBeInstanceOf(ConnectionError)
    await value.close().catch(() => {})
    expect(value.closed).toBe(true)
    // A lease for the value's close, the reply limit for its lock's.
    expect(performance.now() - start).toBeLessThan(500 + 500 + LIMIT + 2000)
  })
})

describe('@ipc/shared/redis against a server that sends a flag other than 0 or 1', () => {
  it('reports CorruptError for a create reply whose persistent flag is 7', async () => {
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      if (!(command[1] ?? '').endsWith('_create')) return array(bulk('ok'))
      // [status, type, length, lock name, persistent]
      return array(bulk('created'), bulk('int32'), ':1\r\n', bulk(''), ':7\r\n')
    })
    const value = new SharedValue('int32', 0, { url: hostile.url, lock: false })
    await expect(value.ready()).rejects.toBeInstanceOf(CorruptError)
    await value.close().catch(() => {})
  })
})
