import { hasRedisServer, NO_REDIS_NOTE, type RedisServer, startRedisServer } from '@ipc/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConnectionError } from '../errors.js'
import { defaultRedisUrl, NO_REPLY, RedisConnection, redactUrl } from './connection.js'
import { checkRedisName, redisKey } from './keys.js'
import { defineLibrary } from './library.js'

const LIBRARY = defineLibrary(
  'ipc_test_1',
  "redis.register_function('ipc_test_now', function(keys, args) return ipc_now() end)",
)

describe('redis keys and urls', () => {
  it('puts every key of a primitive in the hash slot of its name', () => {
    expect(redisKey('jobs', 'meta')).toBe('ipc:{jobs}:meta')
    expect(() => checkRedisName('a}b')).toThrow(TypeError)
    expect(() => checkRedisName('')).toThrow(TypeError)
    expect(checkRedisName('ok name')).toBe('ok name')
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

describe.skipIf(!hasRedisServer())(`RedisConnection${hasRedisServer() ? '' : ` (skipped: ${NO_REDIS_NOTE})`}`, () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('is shared by URL, loads a library on first use and again when the server lost it', async () => {
    const connection = RedisConnection.acquire(server.url)
    expect(RedisConnection.acquire(server.url)).toBe(connection)
    connection.release()
    const now = await connection.call(LIBRARY, 'ipc_test_now', [], [], { deadline: Number.POSITIVE_INFINITY })
    expect(typeof now).toBe('number')
    expect(Math.abs((now as number) - Date.now())).toBeLessThan(60_000)
    expect(await server.command('FUNCTION', 'FLUSH')).toBe('+OK')
    await expect(
      connection.call(LIBRARY, 'ipc_test_now', [], [], { deadline: Number.POSITIVE_INFINITY }),
    ).resolves.toBeTypeOf('number')
    connection.release()
  })

  it('resolves NO_REPLY at the deadline when the server does not answer, and hands the late reply over', async () => {
    const connection = RedisConnection.acquire(server.url)
    await connection.call(LIBRARY, 'ipc_test_now', [], [], { deadline: Number.POSITIVE_INFINITY })
    let late: unknown
    server.pause()
    try {
      const reply = await connection.call(LIBRARY, 'ipc_test_now', [], [], {
        deadline: performance.now() + 100,
        late: (value) => {
          late = value
        },
      })
      expect(reply).toBe(NO_REPLY)
    } finally {
      server.resume()
    }
    for (let i = 0; i < 100 && late === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(typeof late).toBe('number')
    connection.release()
  })

  it('rejects with ConnectionError while the server is down, and works again when it is back', async () => {
    const connection = RedisConnection.acquire(server.url)
    await connection.call(LIBRARY, 'ipc_test_now', [], [], { deadline: Number.POSITIVE_INFINITY })
    await server.kill()
    await expect(
      connection.call(LIBRARY, 'ipc_test_now', [], [], { deadline: Number.POSITIVE_INFINITY }),
    ).rejects.toBeInstanceOf(ConnectionError)
    await server.start()
    let reply: unknown
    for (let i = 0; i < 100 && reply === undefined; i++) {
      reply = await connection
        .call(LIBRARY, 'ipc_test_now', [], [], { deadline: Number.POSITIVE_INFINITY })
        .catch(async (error: unknown) => {
          if (!(error instanceof ConnectionError)) throw error
          await new Promise((resolve) => setTimeout(resolve, 50))
          return undefined
        })
    }
    expect(typeof reply).toBe('number')
    connection.release()
  })
})
