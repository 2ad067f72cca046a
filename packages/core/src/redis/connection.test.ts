import { describeWithRedis, startDelayingProxy } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { ConnectionError } from '../errors.js'
import { defaultRedisUrl, NO_REPLY, RedisConnection, redactUrl } from './connection.js'
import { checkRedisName, redisKey } from './keys.js'
import { defineLibrary } from './library.js'

const LIBRARY = defineLibrary('test', 1, "register('now', function(keys, args) return ipc_now() end)")

describe('redis keys and urls', () => {
  it('puts every key of a primitive in the hash slot of its name', () => {
    expect(redisKey('jobs', 'meta')).toBe('ipc:{jobs}:meta')
    expect(() => checkRedisName('a}b')).toThrow(TypeError)
    expect(() => checkRedisName('')).toThrow(TypeError)
    expect(checkRedisName('ok name')).toBe('ok name')
  })

  it('refuses a name with a lone surrogate: UTF-8 would give two such names the same keys', () => {
    for (const name of ['a\uD800', 'a\uDBFF', '\uDC00b'])
      expect(() => checkRedisName(name)).toThrow(/must be well-formed Unicode \(no lone surrogate\)/)
    expect(checkRedisName('a\uD83D\uDE00')).toBe('a😀')
  })

  it('reads IPC_REDIS_URL, and hides passwords in messages', () => {
    const saved = process.env.IPC_REDIS_URL
    try {
      delete process.env.IPC_REDIS_URL
      expect(defaultRedisUrl()).toBe('redis://127.0.0.1:6379')
      process.env.IPC_REDIS_URL = 'redis://example:6380'
      expect(defaultRedisUrl()).toBe('redis://example:6380')
    } finally {
      if (saved === undefined) delete process.env.IPC_REDIS_URL
      else process.env.IPC_REDIS_URL = saved
    }
    expect(redactUrl('redis://user:secret@host:1/0')).toBe('redis://user:***@host:1/0')
  })
})

describeWithRedis('RedisConnection', (server) => {
  it('is shared by URL, loads a library on first use and again when the server lost it', async () => {
    const connection = RedisConnection.acquire(server().url)
    expect(RedisConnection.acquire(server().url)).toBe(connection)
    connection.release()
    const now = await connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY })
    expect(typeof now).toBe('number')
    expect(Math.abs((now as number) - Date.now())).toBeLessThan(60_000)
    expect(await server().command('FUNCTION', 'FLUSH')).toBe('+OK')
    await expect(connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY })).resolves.toBeTypeOf(
      'number',
    )
    connection.release()
  })

  it('after a FUNCTION FLUSH, reloads once for the burst of calls it refused, in one transaction with them', async () => {
    const connection = RedisConnection.acquire(server().url)
    const forever = { deadline: Number.POSITIVE_INFINITY }
    /** How many FUNCTION LOADs the server ran. */
    const loads = async () =>
      Number(/cmdstat_function\|load:calls=(\d+)/.exec(await server().info('commandstats'))?.[1] ?? 0)
    try {
      await connection.call(LIBRARY, 'now', [], [], forever)
      expect(await server().command('FUNCTION', 'FLUSH')).toBe('+OK')
      const before = await loads()
      // 200 calls made in one tick, all sent before the first refusal comes back.
      const replies = await Promise.all(
        Array.from({ length: 200 }, () => connection.call(LIBRARY, 'now', [], [], forever)),
      )
      for (const reply of replies) expect(reply).toBeTypeOf('number')
      // One load per burst of refusals (a reply may arrive in a few reads), not one per call.
      expect((await loads()) - before).toBeLessThanOrEqual(3)
      // The load and the calls were one transaction: nothing could run between them.
      expect(await server().info('commandstats')).toMatch(/cmdstat_exec:calls=[1-9]/)
    } finally {
      connection.release()
    }
  })

  it('keeps two versions of one library on one server: neither replaces the other', async () => {
    // Two releases of @ipc with different code for the same functions, as an old and a new client.
    const older = defineLibrary('test_versions', 1, "register('which', function(keys, args) return 1 end)")
    const newer = defineLibrary('test_versions', 2, "register('which', function(keys, args) return 2 end)")
    expect(newer.name).toBe('ipc_v2_test_versions')
    expect(newer.functionName('which')).toBe('ipc_v2_test_versions_which')
    const connection = RedisConnection.acquire(server().url)
    const forever = { deadline: Number.POSITIVE_INFINITY }
    try {
      expect(await connection.call(older, 'which', [], [], forever)).toBe(1)
      expect(await connection.call(newer, 'which', [], [], forever)).toBe(2)
      // The newer load left the older library in place (FUNCTION LOAD REPLACE replaces by library name).
      expect(await connection.call(older, 'which', [], [], forever)).toBe(1)
      // Both under their versioned names, as any other client sees them.
      expect(await server().command('FCALL', 'ipc_v1_test_versions_which', '0')).toBe(':1')
      expect(await server().command('FCALL', 'ipc_v2_test_versions_which', '0')).toBe(':2')
    } finally {
      connection.release()
    }
  })

  it('resolves NO_REPLY at the deadline when the server does not answer, and hands the late reply over', async () => {
    const connection = RedisConnection.acquire(server().url)
    await connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY })
    let late: unknown
    server().pause()
    try {
      const reply = await connection.call(LIBRARY, 'now', [], [], {
        deadline: performance.now() + 100,
        late: (value) => {
          late = value
        },
      })
      expect(reply).toBe(NO_REPLY)
    } finally {
      server().resume()
    }
    for (let i = 0; i < 100 && late === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(typeof late).toBe('number')
    connection.release()
  })

  it('rejects with ConnectionError while the server is down, and works again when it is back', async () => {
    const connection = RedisConnection.acquire(server().url)
    await connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY })
    await server().kill()
    await expect(
      connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY }),
    ).rejects.toBeInstanceOf(ConnectionError)
    await server().start()
    let reply: unknown
    for (let i = 0; i < 100 && reply === undefined; i++) {
      reply = await connection
        .call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY })
        .catch(async (error: unknown) => {
          if (!(error instanceof ConnectionError)) throw error
          await new Promise((resolve) => setTimeout(resolve, 50))
          return undefined
        })
    }
    expect(typeof reply).toBe('number')
    connection.release()
  })

  it('runs onReady listeners after a reconnect once both sockets are back, so a call they make goes through', {
    timeout: 20_000,
  }, async () => {
    const proxy = await startDelayingProxy(server().url)
    const connection = RedisConnection.acquire(proxy.url)
    try {
      await connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY })
      // What a listener's call (an object's renewal after a lost wake-up) met, each time it ran.
      const outcomes: string[] = []
      let ran: () => void = () => {}
      const asked = new Promise<void>((resolve) => {
        ran = resolve
      })
      connection.onReady(() => {
        connection.call(LIBRARY, 'now', [], [], { deadline: Number.POSITIVE_INFINITY }).then(
          () => outcomes.push('answered'),
          (error: unknown) => outcomes.push(String(error)),
        )
        ran()
      })
      // Both sockets drop at once; each reconnects on its own.
      proxy.cut()
      await asked
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(outcomes).not.toHaveLength(0)
      expect(outcomes.every((outcome) => outcome === 'answered')).toBe(true)
    } finally {
      connection.release()
    }
  })
})
