/**
 * @ipc/queue/redis against a server that does not behave: one that stops
 * answering (SIGSTOP) while a new queue attaches, or (a fake server) after
 * it attached, a co-tenant who replaces a key with another type or pushes
 * hostile v8 items, and a client that may only PUBLISH and forges wake-ups.
 */
import { createConnection } from 'node:net'
import { shortenRedisLimits } from '@ipc/core/redis'
import {
  array,
  bulk,
  collidingIntegers,
  describeWithRedis,
  elapsed,
  expectEachUnanswered,
  type HostileHandler,
  jsonArrayOf,
  packedIndexKeyObjects,
  startHostileRedis,
  uniqueName,
  v8EmptySets,
  v8SetOf,
} from '@ipc/test-utils'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { ConnectionError, CorruptError, Empty, Full, JoinableQueue, Queue, TimeoutError } from '../src/redis/index.js'

/** How late a timeout may end on a loaded machine. */
const SLACK = 800

/** Sends RESP commands on one raw socket (the attacker's client), resolves with everything read within 200 ms. */
function raw(port: number, ...commands: string[][]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    socket.on('error', reject)
    socket.on('data', (data) => {
      reply += data
    })
    socket.on('connect', () => {
      for (const args of commands)
        socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
      setTimeout(() => {
        socket.destroy()
        resolve(reply)
      }, 200)
    })
  })
}

describeWithRedis('@ipc/queue/redis against an untrusted server', (server) => {
  it('ends get, getMany, put and join by their timeouts while the server stops answering the attach (SIGSTOP)', async () => {
    // Connected and the library loaded (another queue attached); then the server stops.
    const warm = await Queue.open(uniqueName(), { url: server().url, create: {} })
    server().pause()
    // Resumed after 1.5 s whatever happens (a call that waited for the attach ends only after that).
    const resumed = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => server().resume())
    const queue = new Queue({ url: server().url, maxsize: 1 })
    const tasks = new JoinableQueue({ url: server().url })
    const [get, getMany, put, join] = await Promise.all([
      elapsed(queue.get({ timeout: 200 })),
      elapsed(queue.getMany({ timeout: 200 })),
      elapsed(queue.put('x', { timeout: 200 })),
      elapsed(tasks.join({ timeout: 200 })),
    ])
    await resumed
    expect(get.outcome).toBeInstanceOf(Empty)
    expect(getMany.outcome).toBeInstanceOf(Empty)
    expect(put.outcome).toBeInstanceOf(Full)
    expect((put.outcome as Full).item).toBe('x')
    expect(join.outcome).toBe(false)
    for (const { ms } of [get, getMany, put, join]) expect(ms).toBeLessThan(200 + SLACK)
    await queue.ready()
    // The put that timed out while attaching put nothing.
    expect(await queue.qsize()).toBe(0)
    await Promise.all([queue.close(), tasks.close(), warm.close()])
  })

  it('reports a key replaced by another type (WRONGTYPE) as CorruptError', async () => {
    const name = uniqueName()
    const queue = await Queue.open<string>(name, { url: server().url, create: {} })
    await queue.put('a')
    expect(await server().command('DEL', `ipc:{${name}}:items`)).toBe(':1')
    expect(await server().command('SET', `ipc:{${name}}:items`, 'garbage')).toBe('+OK')
    await expect(queue.get({ timeout: 200 })).rejects.toBeInstanceOf(CorruptError)
    await expect(queue.put('b', { timeout: 200 })).rejects.toBeInstanceOf(CorruptError)
    await queue.close().catch(() => {})
  })

  it('drops v8 items a co-tenant pushes to stall the consumer (colliding ints) or fill its heap (empty Sets) within get({ timeout: 500 }), and goes on', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('hostile')
    const queue = await Queue.open<unknown>(name, { url: server().url, create: {} })
    const item = (payload: Buffer) => `5${payload.toString('base64')}`
    // 195 KB that v8.deserialize spends about a second on; 6 MB that would take ~340 MB of heap.
    expect(await server().command('RPUSH', `ipc:{${name}}:items`, item(v8SetOf(collidingIntegers(32_768))))).toBe(':1')
    expect(await server().command('RPUSH', `ipc:{${name}}:items`, item(v8EmptySets(2_000_000)))).toBe(':2')
    await queue.put(new Set([1, 2, 3]))
    for (const why of [/more than 4096 numbers/, /more than 16 bytes of heap per byte/]) {
      const { ms, outcome } = await elapsed(queue.get({ timeout: 500 }))
      expect(outcome).toBeInstanceOf(CorruptError)
      expect((outcome as CorruptError).message).toMatch(why)
      expect(ms).toBeLessThan(500)
    }
    expect(await queue.get({ timeout: 500 })).toEqual(new Set([1, 2, 3]))
    await queue.close()
  })

  it('drops packed and JSON items a co-tenant pushes to fill its heap (380 KB packed: 624 MB once revived; 3 MB of JSON: 64 MB), heap unchanged, and goes on', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('hostile')
    const queue = await Queue.open<unknown>(name, { url: server().url, create: {} })
    const packed = `8${packedIndexKeyObjects(20_000, [1023, 2574]).toString('base64')}`
    const json = `6${jsonArrayOf(1_000_000, '{}').toString('latin1')}`
    expect(await server().command('RPUSH', `ipc:{${name}}:items`, packed)).toBe(':1')
    expect(await server().command('RPUSH', `ipc:{${name}}:items`, json)).toBe(':2')
    await queue.put([
      { 1: 'a', 2: 'b' },
      { id: 1, name: 'x', values: [1, 2, 3] },
    ])
    const before = process.memoryUsage().heapUsed
    for (const why of [/its packed value is refused/, /its JSON value is refused/]) {
      const { outcome } = await elapsed(queue.get({ timeout: 2000 }))
      expect(outcome).toBeInstanceOf(CorruptError)
      expect((outcome as CorruptError).message).toMatch(why)
    }
    // The replies themselves (about 4 MB of strings) may still be on the heap; a revived value would be 624 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 2 ** 20)
    expect(await queue.get({ timeout: 500 })).toEqual([
      { 1: 'a', 2: 'b' },
      { id: 1, name: 'x', values: [1, 2, 3] },
    ])
    await queue.close()
  })

  it('fails a get with CorruptError, heap unchanged, when a client that can read the waiter ids publishes a wake-up made to fill its heap', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('hostile')
    const queue = await Queue.open<unknown>(name, { url: server().url, create: {} })
    const waiting = elapsed(queue.get({ timeout: 5000 }))
    await new Promise((resolve) => setTimeout(resolve, 100))
    // "<clientId>/<object>/<call>", as HKEYS of the waiters hash shows it to anyone who may read the keys.
    const waiter = /[^\s/]+\/[^\s/]+\/\d+/.exec(await raw(server().port, ['HKEYS', `ipc:{${name}}:waiters`]))?.[0]
    expect(waiter).toBeDefined()
    const channel = `ipc:wake:${(waiter as string).split('/')[0]}`
    // 3 MB of empty objects: about 64 MB of heap if JSON.parse built it.
    const bomb = `${waiter} ["i",${'{},'.repeat(999_999)}{}]`
    const before = process.memoryUsage().heapUsed
    await raw(server().port, ['PUBLISH', channel, bomb])
    const { outcome } = await waiting
    expect(outcome).toBeInstanceOf(CorruptError)
    expect((outcome as CorruptError).message).toMatch(/unexpected wake-up/)
    // The message itself (3 MB of text, twice) may still be on the heap; the value would be 64 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 2 ** 20)
    await queue.close()
  })

  it('loses no item when a client that can read the waiter ids publishes a wake-up the server never sends', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('forged')
    // The default lease (10 s): the cancel must not wait for a renewal, every lease / 3.
    const queue = await Queue.open<string>(name, { url: server().url, create: {} })
    const producer = await Queue.open<string>(name, { url: server().url })
    const waiting = elapsed(queue.get({ timeout: 5000 }))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const waiter = /[^\s/]+\/[^\s/]+\/\d+/.exec(await raw(server().port, ['HKEYS', `ipc:{${name}}:waiters`]))?.[0]
    expect(waiter).toBeDefined()
    await raw(server().port, ['PUBLISH', `ipc:wake:${(waiter as string).split('/')[0]}`, `${waiter} ["z"]`])
    const { outcome } = await waiting
    expect(outcome).toBeInstanceOf(CorruptError)
    // The forged call is still a waiter on the server: this put is handed to it. It must come
    // back (the call is cancelled) rather than be acknowledged by the next call and dropped.
    await producer.put('real')
    expect(await queue.get({ timeout: 1000 })).toBe('real')
    expect(await queue.qsize()).toBe(0)
    await producer.close()
    await queue.close()
  })

  it('does not take a wake-up forged by a client that may PUBLISH and guesses waiter ids', async () => {
    const queue = new Queue<string>({ url: server().url })
    await queue.ready()
    const waiting = elapsed(queue.get({ timeout: 600 }))
    await new Promise((resolve) => setTimeout(resolve, 100))
    // The attacker sees the wake-up channel (PUBSUB CHANNELS), so the client id, and tries the
    // object numbers and call numbers a process counts up from 1.
    const channels = await raw(server().port, ['PUBSUB', 'CHANNELS', 'ipc:wake:*'])
    const channel = /ipc:wake:[A-Za-z0-9_-]+/.exec(channels)?.[0]
    expect(channel).toBeDefined()
    const clientId = (channel as string).slice('ipc:wake:'.length)
    const forged: string[][] = []
    for (let object = 1; object <= 40; object++)
      for (let call = 1; call <= 5; call++)
        forged.push(['PUBLISH', channel as string, `${clientId}/q${object}/${call} ["i","\\"forged\\""]`])
    await raw(server().port, ...forged)
    const { outcome } = await waiting
    expect(outcome).toBeInstanceOf(Empty)
    await queue.close()
  })
})

describe('@ipc/queue/redis against a server that answers the attach and then nothing', () => {
  /** The least time a call that does not wait is given (the reply limit, 5 s, shortened here: the lease, 1000, is shorter). */
  const LIMIT = 2000
  // Restored after the last test: beforeAll runs the function it returns then.
  beforeAll(() => shortenRedisLimits(LIMIT))
  /** Answers the handshake and `create`; `fcall` answers the other calls (undefined: nothing, ever). */
  const silentAfterCreate = (fcall: HostileHandler = () => undefined) =>
    startHostileRedis((command, standard, socket) => {
      if (command[0] !== 'FCALL') return standard
      if ((command[1] ?? '').endsWith('_create')) return array(bulk('created'), ':0\r\n', ':0\r\n')
      return fcall(command, undefined, socket)
    })

  it('rejects the calls that do not wait with ConnectionError within the limit; those with a timeout end by it; close() and unlink() end', {
    timeout: 30_000,
  }, async () => {
    const hostile = await silentAfterCreate()
    const queue = await new JoinableQueue<string>({ url: hostile.url, lease: 1000 }).ready()
    const unbounded = {
      getNowait: elapsed(queue.getNowait()),
      'get({ timeout: 0 })': elapsed(queue.get({ timeout: 0 })),
      putNowait: elapsed(queue.putNowait('x')),
      qsize: elapsed(queue.qsize()),
      shutdown: elapsed(queue.shutdown()),
      taskDone: elapsed(queue.taskDone()),
      'join({ timeout: 0 })': elapsed(queue.join({ timeout: 0 })),
    }
    const get = await elapsed(queue.get({ timeout: 500 }))
    expect(get.outcome).toBeInstanceOf(Empty)
    expect(get.ms).toBeLessThan(500 + SLACK)
    const join = await elapsed(queue.join({ timeout: 500 }))
    expect(join.outcome).toBe(false)
    expect(join.ms).toBeLessThan(500 + SLACK)
    // Its cancel is never answered either: whether the item went in is unknown after 1 s more.
    const put = await elapsed(queue.put('y', { timeout: 500 }))
    expect(put.outcome).toBeInstanceOf(TimeoutError)
    expect(put.ms).toBeLessThan(1500 + SLACK)
    await expectEachUnanswered(unbounded, LIMIT, ConnectionError)
    const [closed, unlinked] = await Promise.all([elapsed(queue.close()), elapsed(queue.unlink())])
    for (const { ms, outcome } of [closed, unlinked]) {
      expect(outcome).toBeInstanceOf(ConnectionError)
      expect(ms).toBeLessThan(LIMIT + 2000)
    }
    expect(queue.closed).toBe(true)
  })

  it('ends a timed getMany whose first item cannot be decoded with CorruptError at once, though the server never answers the unget of the rest', async () => {
    const hostile = await silentAfterCreate((command) =>
      (command[1] ?? '').endsWith('_get') ? array(bulk('items'), array(bulk('~bad'), bulk('0good'))) : undefined,
    )
    const queue = await new Queue<string>({ url: hostile.url, lease: 1000 }).ready()
    const { ms, outcome } = await elapsed(queue.getMany({ max: 2, timeout: 500 }))
    expect(outcome).toBeInstanceOf(CorruptError)
    expect(ms).toBeLessThan(500)
    // The unget was sent, with the item after the bad one.
    await vi.waitFor(() =>
      expect(hostile.commands.find((command) => (command[1] ?? '').endsWith('_unget'))?.at(-1)).toBe('0good'),
    )
    hostile.close()
    await queue.close().catch(() => {})
  })

  it('ends a getMany handed a bad item and then a non-string (a map) with CorruptError, and still sends back the string item after them', async () => {
    const hostile = await silentAfterCreate((command) =>
      (command[1] ?? '').endsWith('_get')
        ? array(bulk('items'), array(bulk('~bad'), '%1\r\n+toString\r\n:1\r\n', bulk('0good')))
        : undefined,
    )
    const queue = await new Queue<string>({ url: hostile.url, lease: 1000 }).ready()
    // Before, sending the map back ran String() on it: a TypeError with no code rejected the get.
    const { outcome } = await elapsed(queue.getMany({ max: 3, timeout: 500 }))
    expect(outcome).toBeInstanceOf(CorruptError)
    // The string item after them went back (before, building the unget threw: nothing was sent).
    await vi.waitFor(() =>
      expect(hostile.commands.find((command) => (command[1] ?? '').endsWith('_unget'))?.at(-1)).toBe('0good'),
    )
    hostile.close()
    await queue.close().catch(() => {})
  })
})

describe('@ipc/queue/redis against a server that sends a flag other than 0 or 1', () => {
  it('reports CorruptError for a create reply whose persistent flag is 7, and for a state whose shutdown flag is 7', async () => {
    let flag = ':7\r\n'
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] !== 'FCALL') return standard
      const fn = command[1] ?? ''
      if (fn.endsWith('_create')) return array(bulk('created'), flag, ':0\r\n')
      // [ok, size, shutdown, unfinished, maxsize]
      if (fn.endsWith('_state')) return array(bulk('ok'), ':5\r\n', ':7\r\n', ':0\r\n', ':5\r\n')
      return array(bulk('ok'))
    })
    const bad = new Queue({ url: hostile.url })
    await expect(bad.ready()).rejects.toBeInstanceOf(CorruptError)
    await bad.close().catch(() => {})
    flag = ':0\r\n'
    const queue = await new Queue({ url: hostile.url }).ready()
    expect(queue.persistent).toBe(false)
    await expect(queue.qsize()).rejects.toBeInstanceOf(CorruptError)
    // With the flag read as "not shut down", an empty putMany resolved.
    await expect(queue.putMany([])).rejects.toBeInstanceOf(CorruptError)
    await queue.close().catch(() => {})
  })
})
