import { inspect } from 'node:util'
import { TRANSFER } from '@ipc/core/internal'
import { RedisConnection, redisKey } from '@ipc/core/redis'
import { hasRedisServer, NO_REDIS_NOTE, type RedisServer, sleep, startRedisServer, uniqueName } from '@ipc/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BoundedSemaphore, ClosedError, ConnectionError, Lock, RLock, Semaphore } from './index.js'
import { KEY_PARTS, SEMAPHORE_LIBRARY } from './library.js'

describe('Redis classes without a server', () => {
  it('reject a bad url or lease before connecting', () => {
    expect(() => new Semaphore(1, { url: 'http://x' })).toThrow(TypeError)
    expect(() => new Semaphore(1, { lease: 5 })).toThrow(RangeError)
    expect(() => new Semaphore(1, { name: 'a{b}' })).toThrow(TypeError)
    expect(() => new BoundedSemaphore(0)).toThrow(RangeError)
  })

  it('refuse an option name they do not know, naming the one meant', async () => {
    expect(() => new Semaphore(1, { leaseMs: 5000 } as never)).toThrow(/Unknown option "leaseMs"/)
    expect(() => new Lock({ URL: 'redis://127.0.0.1:1' } as never)).toThrow(/Did you mean "url"/)
    await expect(Semaphore.open('s', { url: 'redis://127.0.0.1:1', create: { vaule: 2 } } as never)).rejects.toThrow(
      /Unknown option "vaule" in the "create" option\. Did you mean "value"\?/,
    )
  })

  it('reject calls with ConnectionError when nothing listens at the url', async () => {
    const sem = new Semaphore(1, { url: 'redis://127.0.0.1:1' })
    const error = await sem.acquire({ timeout: 5000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    expect(error).toMatchObject({ code: 'IPC_CONNECTION' })
    expect(String((error as Error).message)).toMatch(/^Cannot reach Redis at redis:\/\/127\.0\.0\.1:1/)
    await sem.close()
  })
})

describe.skipIf(!hasRedisServer())(`Redis classes${hasRedisServer() ? '' : ` (skipped: ${NO_REDIS_NOTE})`}`, () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("waits for a timeout above setTimeout's limit (2 ** 31 - 1 ms) instead of giving up after 1 ms", async () => {
    const sem = await new Semaphore(0, { url: server.url }).ready()
    let settled: unknown = 'pending'
    const pending = sem.acquire({ timeout: 2 ** 31 + 5 }).then((token) => {
      settled = token
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(settled).toBe('pending')
    await sem.release()
    await pending
    expect(settled).toBe(true)
    await sem.release()
    await sem.close()
  })

  it('rejects ready() with ExistsError when the name is taken, and leaves the first one working', async () => {
    const name = uniqueName()
    const first = await new Semaphore(2, { name, url: server.url }).ready()
    const second = new Semaphore(1, { name, url: server.url })
    await expect(second.ready()).rejects.toMatchObject({ name: 'ExistsError' })
    await expect(second.acquire()).rejects.toMatchObject({ name: 'ExistsError' })
    await second.close()
    expect(await first.getValue()).toBe(2)
    await first.close()
  })

  it('open() throws NotFoundError for a missing name and IncompatibleError for another kind', async () => {
    await expect(Semaphore.open(uniqueName(), { url: server.url })).rejects.toMatchObject({ name: 'NotFoundError' })
    const lock = await Lock.open(uniqueName(), { url: server.url, create: true })
    await expect(Semaphore.open(lock.name, { url: server.url })).rejects.toMatchObject({ name: 'IncompatibleError' })
    await expect(BoundedSemaphore.open(lock.name, { url: server.url })).rejects.toMatchObject({
      name: 'IncompatibleError',
    })
    await lock.close()
  })

  it('open(name, { create }) creates once: of racing objects exactly one creates', async () => {
    const name = uniqueName()
    const all = await Promise.all(
      Array.from({ length: 5 }, () => Semaphore.open(name, { url: server.url, create: { value: 3 } })),
    )
    expect(all.filter((sem) => sem.created)).toHaveLength(1)
    expect(await all[0]?.getValue()).toBe(3)
    for (const sem of all) await sem.close()
  })

  it('attaches by handle, describes itself for Process, and removes the keys at the last close', async () => {
    const sem = await new Semaphore(1, { url: server.url, lease: 2000 }).ready()
    expect(sem.handle).toEqual({ kind: 'semaphore', name: sem.name, url: server.url, lease: 2000 })
    const other = await Semaphore.from(JSON.parse(JSON.stringify(sem.handle)))
    expect(await other.tryAcquire()).toBe(true)
    expect(await sem.getValue()).toBe(0)
    const descriptor = sem[TRANSFER]()
    expect(descriptor.export).toBe('Semaphore')
    expect(descriptor.module).toMatch(/redis/)
    expect(inspect(other, { breakLength: Number.POSITIVE_INFINITY })).toBe(
      `Semaphore (Redis) { name: '${sem.name}', url: '${server.url}', held: 1, waiting: 0 }`,
    )
    await other.close()
    expect(await sem.getValue()).toBe(1)
    await sem.close()
    expect(await server.command('EXISTS', `ipc:{${sem.name}}:meta`)).toBe(':0')
    await expect(sem.acquire()).rejects.toMatchObject({ name: 'ClosedError' })
  })

  it('marks a handle taken before the create landed, and from() of such a handle waits for its creator', async () => {
    const name = uniqueName()
    const url = server.url
    // A handle a creator hands out at once (Process.start right after the constructor).
    const early = new Semaphore(2, { name, url })
    expect(early.handle).toEqual({ kind: 'semaphore', name, url, lease: 10_000, creating: true })
    await early.ready()
    expect(early.handle).not.toHaveProperty('creating')
    await early.close()

    // The opener reaches the server first: it waits until the creator's create lands.
    const opening = Semaphore.from({ kind: 'semaphore', name, url, lease: 10_000, creating: true })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const creator = await new Semaphore(3, { name, url }).ready()
    const opened = await opening
    expect(opened.created).toBe(false)
    expect(await opened.getValue()).toBe(3)
    await opened.close()
    await creator.close()

    // Without the mark a missing name fails at once; with it, after the wait (5 s).
    let started = Date.now()
    await expect(Semaphore.from({ kind: 'semaphore', name: uniqueName(), url, lease: 10_000 })).rejects.toMatchObject({
      name: 'NotFoundError',
    })
    expect(Date.now() - started).toBeLessThan(1000)
    started = Date.now()
    await expect(
      Semaphore.from({ kind: 'semaphore', name: uniqueName(), url, lease: 10_000, creating: true }),
    ).rejects.toMatchObject({ name: 'NotFoundError' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900)
  }, 15_000)

  it('from() of a handle whose creator is still creating survives a reconnect during its wait (no renewal before the attach)', async () => {
    const name = uniqueName()
    const url = server.url
    const warm = await new Semaphore(1, { name: uniqueName(), url }).ready()
    const connection = RedisConnection.acquire(url)
    let readies = 0
    const stopCounting = connection.onReady(() => readies++)
    const closing: { close(): Promise<void> }[] = [warm]
    try {
      const opening = Semaphore.from({ kind: 'semaphore', name, url, lease: 10_000, creating: true })
      await new Promise((resolve) => setTimeout(resolve, 100))
      // The wake-up socket reconnects (its 'ready' asks every object to renew) while the name is still missing.
      expect(await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub')).toMatch(/^:[1-9]/)
      for (let i = 0; i < 200 && readies === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(readies).toBeGreaterThan(0)
      const creator = await new Semaphore(2, { name, url }).ready()
      closing.push(creator)
      const opened = await opening
      closing.push(opened)
      expect(await opened.getValue()).toBe(2)
      await opened.acquire()
      expect(await creator.getValue()).toBe(1)
      await opened.release()
    } finally {
      stopCounting()
      connection.release()
      await Promise.all(closing.map((object) => object.close()))
    }
  })

  it('rejects a pending acquire with ConnectionError when its renewal fails on a server that stays up (OOM), and works again after', async () => {
    const name = uniqueName()
    const url = server.url
    const holder = await new Semaphore(1, { name, url, lease: 1500 }).ready()
    const waiter = await Semaphore.open(name, { url, lease: 1500 })
    try {
      await holder.acquire()
      let outcome: unknown = 'pending'
      waiter.acquire().then(
        () => {
          outcome = 'granted'
        },
        (error: unknown) => {
          outcome = error
        },
      )
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(outcome).toBe('pending')
      // Every function call is refused now (noeviction): the waiter's next renewal (every 500 ms) fails.
      expect(await server.command('CONFIG', 'SET', 'maxmemory', '1')).toBe('+OK')
      try {
        for (let i = 0; i < 300 && outcome === 'pending'; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      } finally {
        expect(await server.command('CONFIG', 'SET', 'maxmemory', '0')).toBe('+OK')
      }
      expect(outcome).toBeInstanceOf(ConnectionError)
      await holder.release().catch(() => {}) // its lease may have lapsed meanwhile
      expect(await waiter.acquire({ timeout: 5000 })).toBe(true)
      await waiter.release()
    } finally {
      await Promise.all([waiter.close(), holder.close()])
    }
  })

  it('keeps a persistent semaphore after the last close, until unlink()', async () => {
    const name = uniqueName()
    const sem = await new Semaphore(4, { name, url: server.url, persistent: true }).ready()
    await sem.close()
    const again = await Semaphore.open(name, { url: server.url })
    expect(again.persistent).toBe(true)
    expect(await again.getValue()).toBe(4)
    await again.unlink()
    await expect(again.getValue()).rejects.toMatchObject({ name: 'NotFoundError' })
    await again.close()
    await expect(Semaphore.open(name, { url: server.url })).rejects.toMatchObject({ name: 'NotFoundError' })
  })

  it('gives back the permit of an acquire that close() cut short (its grant comes after the close is sent)', async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    // Another URL of the same server: its own connection, so sem's close is its connection's last user.
    const other = await Semaphore.open(sem.name, { url: `${server.url}/0` })
    const acquiring = sem.acquire() // sent at once; granted on the server before the close runs
    const refused = expect(acquiring).rejects.toMatchObject({ name: 'ClosedError' })
    await sem.close()
    await refused
    expect(await other.getValue()).toBe(1)
    expect(await other.tryAcquire()).toBe(true)
    await other.close()
  })

  /**
   * Holder and waiter objects of one semaphore on one connection (so the server runs their calls
   * in the order they are made); the holder holds its permit, the waiter's acquire is queued and
   * past its 2 ms (a release hands it the permit instead of only nudging it). Returns (in an
   * object: a promise would be awaited) the check that the waiter's acquire rejects with ClosedError.
   */
  async function queuedBehindHolder(
    holder: Semaphore | BoundedSemaphore | Lock | RLock,
    waiter: Semaphore | BoundedSemaphore | Lock | RLock,
  ): Promise<{ refused: Promise<unknown> }> {
    await holder.acquire()
    const refused = expect(waiter.acquire()).rejects.toMatchObject({ name: 'ClosedError' })
    const queue = redisKey(holder.name, 'queue')
    for (let i = 0; i < 100 && (await server.command('LLEN', queue)) !== ':1'; i++) await sleep(10)
    expect(await server.command('LLEN', queue)).toBe(':1')
    await sleep(20)
    return { refused }
  }

  /** The meta hash's `token` field: the last grant's token. */
  async function lastToken(name: string): Promise<string | undefined> {
    return (await server.bulk('HGET', redisKey(name, 'meta'), 'token')).split('\r\n')[1]
  }

  it('gives back, reclaim or not, a grant a release handed to a waiter whose wake-up had not come when close() began', async () => {
    const url = server.url
    type Kind = Semaphore | BoundedSemaphore | Lock | RLock
    const kinds: ((name: string) => [Kind, Promise<Kind>])[] = [
      (name) => [new Semaphore(1, { name, url, reclaim: false }), Semaphore.open(name, { url })],
      (name) => [new BoundedSemaphore(1, { name, url, reclaim: false }), BoundedSemaphore.open(name, { url })],
      (name) => [new Lock({ name, url }), Lock.open(name, { url })],
      (name) => [new RLock({ name, url }), RLock.open(name, { url })],
    ]
    for (const make of kinds) {
      const name = uniqueName()
      const [made, opening] = make(name)
      const holder = await made.ready()
      const waiter = await opening
      try {
        const { refused } = await queuedBehindHolder(holder, waiter)
        // The release's grant (token 2) and its wake-up come before the close on the server; the
        // closing object hears that wake-up only after it began closing.
        await Promise.all([holder.release(), waiter.close(), refused])
        expect(await lastToken(name)).toBe('2')
        expect(await holder.tryAcquire()).toBe(true)
        await holder.release()
      } finally {
        await waiter.close()
        await holder.close()
      }
    }
  })

  it("keeps a Semaphore's value at its largest (8388607) when a close gives back a grant on top of it", async () => {
    const holder = await new Semaphore(1, { url: server.url }).ready()
    const [waiter, filler] = await Promise.all([
      Semaphore.open(holder.name, { url: server.url }),
      Semaphore.open(holder.name, { url: server.url }),
    ])
    try {
      const { refused } = await queuedBehindHolder(holder, waiter)
      // The grant goes to the waiter, another object (holding nothing, so all of n counts) fills
      // the count to the largest, then the close gives the grant back: one more would be a count
      // the server calls corrupt.
      await Promise.all([holder.release(), filler.release(8388607), waiter.close(), refused])
      expect(await lastToken(holder.name)).toBe('2')
      expect(await holder.getValue()).toBe(8388607)
      expect(await holder.tryAcquire()).toBe(true)
    } finally {
      await Promise.all([waiter.close(), filler.close()])
      await holder.close()
    }
  })

  it('unlink() of a stale object leaves alone another kind that took the name since', async () => {
    const name = uniqueName()
    const stale = await new Semaphore(2, { name, url: server.url, persistent: true }).ready()
    await stale.unlink()
    const bounded = await new BoundedSemaphore(3, { name, url: server.url }).ready()
    await stale.unlink()
    expect(await bounded.getValue()).toBe(3)
    await stale.close()
    await bounded.close()
  })

  it('rejects the release itself when the server refuses it (it waits for the reply)', async () => {
    const sem = await new Semaphore(8388607, { url: server.url }).ready()
    const other = await Semaphore.open(sem.name, { url: server.url })
    expect(await sem.acquire()).toBe(true)
    await other.release()
    // Giving back its own permit now would make 8388608: the server refuses, and release() says so.
    await expect(sem.release()).rejects.toThrow(
      `Cannot release semaphore "${sem.name}" by 1: its value would exceed 8388607`,
    )
    expect(await sem.getValue()).toBe(8388607)
    await other.close()
    await sem.close()
  })

  it('throws CorruptError when the state on the server breaks its rules, and close() still works', async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    expect(await server.command('HSET', `ipc:{${sem.name}}:meta`, 'free', 'many')).toBe(':0')
    await expect(sem.acquire()).rejects.toMatchObject({ name: 'CorruptError', code: 'IPC_CORRUPT' })
    await expect(sem.getValue()).rejects.toMatchObject({ name: 'CorruptError' })
    await sem.close()
    await sem.unlink()
  })

  it('rejects an acquire with CorruptError (no unhandled rejection, no second holder) for a token or count out of range', async () => {
    const outcomes: Record<string, unknown> = {}
    for (const [field, value] of [
      ['token', '1e20'],
      ['token', '9007199254740993'],
      ['free', '0.5'],
    ] as const) {
      const sem = await new Semaphore(1, { url: server.url }).ready()
      const holder = await Semaphore.open(sem.name, { url: server.url })
      if (field === 'free') expect(await holder.acquire()).toBe(true)
      await server.command('HSET', `ipc:{${sem.name}}:meta`, field, value)
      outcomes[`${field} ${value}`] = await sem.acquire({ timeout: 500 }).then(
        (result) => result,
        (error: Error) => error.name,
      )
      await holder.close()
      await sem.close()
      await sem.unlink()
    }
    expect(outcomes).toEqual({
      'token 1e20': 'CorruptError',
      'token 9007199254740993': 'CorruptError',
      'free 0.5': 'CorruptError',
    })
  })

  it('grants, renews and gives back a token of 15 digits and more (written with every digit, not as 1e+14)', async () => {
    const sem = await new Semaphore(1, { url: server.url, reclaim: false }).ready()
    await server.command('HSET', `ipc:{${sem.name}}:meta`, 'token', '99999999999999')
    const permit = await sem.permit()
    expect(permit.token).toBe(100_000_000_000_000)
    const members = await server.bulk(
      'EVAL',
      "return table.concat(redis.call('ZRANGE', KEYS[1], 0, -1), ' ')",
      '1',
      `ipc:{${sem.name}}:holders`,
    )
    expect(members).toContain('100000000000000|')
    expect(members).not.toContain('e+')
    await permit.release()
    // Given back as live: with reclaim off, a token counted as lapsed would have lost the permit.
    expect(await sem.getValue()).toBe(1)
    const next = await sem.permit({ timeout: 500 })
    expect(next.token).toBe(100_000_000_000_001)
    await next.release()
    await sem.close()
  })

  it('drops a waiter id another program pushed into the queue, instead of failing half-way through a release', async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    const other = await Semaphore.open(sem.name, { url: server.url })
    expect(await sem.acquire()).toBe(true)
    // A live-looking entry that has waited long: the release would hand it the permit. The other
    // program also counts them in `queued` (uncounted entries are never read: a call reads the
    // queue only when the count says someone is in it).
    for (const id of ['garbage', 'no|bar/x/y', '/x/y']) {
      await server.command('RPUSH', `ipc:{${sem.name}}:queue`, id)
      await server.command('HSET', `ipc:{${sem.name}}:waiters`, id, '9999999999999|1000|0')
    }
    await server.command('HSET', `ipc:{${sem.name}}:meta`, 'queued', '3')
    await sem.release()
    expect(await other.acquire({ timeout: 1000 })).toBe(true)
    expect(await server.command('LLEN', `ipc:{${sem.name}}:queue`)).toBe(':0')
    await other.close()
    await sem.close()
  })

  it("gives back only its own grants: a forged wake-up naming another object's token frees nothing", async () => {
    const holder = await new Semaphore(1, { url: server.url }).ready()
    const victim = await Semaphore.open(holder.name, { url: server.url })
    const third = await Semaphore.open(holder.name, { url: server.url })
    expect(await holder.acquire()).toBe(true) // token 1
    // A wake-up for a waiter the victim does not know: it gives the token back, as for a grant
    // that came after its acquire gave up. The server must not take token 1 from its holder.
    const objectId = (victim as unknown as { objectId: string }).objectId
    const clientId = objectId.slice(0, objectId.indexOf('/'))
    await server.command('PUBLISH', `ipc:wake:${clientId}`, `${objectId}/999 1`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await third.acquire({ timeout: 300 })).toBe(false)
    expect(await holder.getValue()).toBe(0)
    await holder.release()
    expect(await third.acquire({ timeout: 1000 })).toBe(true)
    await third.close()
    await victim.close()
    await holder.close()
  })

  it('refuses a semaphore whose keys have another layout (an earlier release) with IncompatibleError, and close() still works', async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    expect(await server.command('HSET', `ipc:{${sem.name}}:meta`, 'version', '1')).toBe(':0')
    await expect(sem.acquire()).rejects.toMatchObject({ name: 'IncompatibleError', code: 'IPC_INCOMPATIBLE' })
    await expect(Semaphore.open(sem.name, { url: server.url })).rejects.toMatchObject({ name: 'IncompatibleError' })
    await sem.close()
    await sem.unlink()
  })

  it('gives every key of a non-persistent semaphore a TTL of 3 leases, so one whose processes all died goes away', async () => {
    const sem = await new Semaphore(1, { url: server.url, lease: 1000 }).ready()
    const other = await Semaphore.open(sem.name, { url: server.url, lease: 1000 })
    expect(await sem.acquire()).toBe(true)
    const waiting = other.acquire()
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const part of ['meta', 'holders', 'queue', 'waiters', 'objects']) {
      const ttl = Number((await server.command('PTTL', `ipc:{${sem.name}}:${part}`)).slice(1))
      expect(ttl, part).toBeGreaterThan(0)
      expect(ttl, part).toBeLessThanOrEqual(3000)
    }
    await sem.release()
    expect(await waiting).toBe(true)
    // Every holder gone, then a new one: the holders key was never emptied (its `keep` member), so
    // it still has its TTL though the acquire sets none.
    await other.release()
    expect(await sem.acquire()).toBe(true)
    const ttl = Number((await server.command('PTTL', `ipc:{${sem.name}}:holders`)).slice(1))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(3000)
    await other.close()
    await sem.close()
  })

  /** The library's own calls on semaphore `name`, as object `x/1` (whose wake-ups nobody reads); release the connection. */
  function libraryCalls(name: string) {
    const connection = RedisConnection.acquire(server.url)
    const keys = KEY_PARTS.map((part) => redisKey(name, part))
    const call = (fn: string, args: (string | number)[]) =>
      connection.call(SEMAPHORE_LIBRARY, fn, keys, ['semaphore', 'x/1', 30_000, ...args], {
        deadline: Number.POSITIVE_INFINITY,
      }) as Promise<unknown[]>
    // "<queued> <length of the queue>", read in one atomic step.
    const counts = async () =>
      (
        await server.bulk(
          'EVAL',
          "return redis.call('HGET', KEYS[1], 'queued') .. ' ' .. redis.call('LLEN', KEYS[2])",
          '2',
          keys[0] as string,
          keys[2] as string,
        )
      ).split('\r\n')[1]
    return { connection, keys, call, counts }
  }

  it("starts a served waiter's 2 ms of barging when it gives back the permit it was served, not when it was served", async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    const { connection, keys, call } = libraryCalls(sem.name)
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    try {
      expect(await call('acquire', ['x/1/a', 10_000, 'wait'])).toEqual(['granted', 1])
      expect(await call('acquire', ['x/1/b', 10_000, 'wait'])).toEqual(['queued'])
      await pause(5)
      // b has waited 2 ms: the release hands it the permit (token 2; the wake-up goes to a client that is not there).
      expect(await call('release', [1, 1])).toEqual(['ok', 0, 0])
      expect(await call('cancel', ['x/1/b'])).toEqual(['granted', 2])
      expect(await call('acquire', ['x/1/c', 10_000, 'wait'])).toEqual(['queued'])
      // b's first hold (its wake-up included) lasts longer than 2 ms: c has waited that long, but
      // b's window starts when b gives token 2 back, so b may take the permit again at once.
      await pause(5)
      // Made in one tick, so they reach the server together: b's acquire comes within its 2 ms
      // however loaded the machine is.
      const [released, again] = await Promise.all([
        call('release', [1, 2]),
        call('acquire', ['x/1/b2', 10_000, 'wait']),
      ])
      expect(released).toEqual(['ok', 0, 0])
      expect(again).toEqual(['granted', 3])
      expect(await server.command('HGET', keys[0] as string, 'nudged')).toBe('$5')
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it('enters an RLock again in the client only: re-entries and the releases above the last level work on a stopped server (SIGSTOP)', async () => {
    const lock = await new RLock({ url: server.url }).ready()
    const other = await RLock.open(lock.name, { url: server.url })
    try {
      await lock.withLock(async () => {
        server.pause()
        try {
          // A server call would end at the timeout (acquire) or the reply limit, 5 s (tryAcquire).
          const started = performance.now()
          expect(await lock.acquire({ timeout: 2000 })).toBe(true)
          expect(await lock.tryAcquire()).toBe(true)
          expect(await lock.withLock(() => lock.level)).toBe(4)
          expect(lock.level).toBe(3)
          await lock.release()
          await lock.release()
          expect(performance.now() - started).toBeLessThan(1000)
        } finally {
          server.resume()
        }
        expect(lock.level).toBe(1)
        // The server holds it once.
        expect((await server.bulk('HGET', redisKey(lock.name, 'meta'), 'depth')).split('\r\n')[1]).toBe('1')
        expect(await other.tryAcquire()).toBe(false)
      })
      // The scope's release was the last: the lock is free on the server.
      expect(lock.level).toBe(0)
      expect(await other.tryAcquire()).toBe(true)
      await other.release()
    } finally {
      server.resume()
      await Promise.all([lock.close(), other.close()])
    }
  })

  it('refuses a re-entry and a release above the last level on an RLock that learnt it was unlinked, as a server call would', async () => {
    const lock = await new RLock({ url: server.url, lease: 600 }).ready()
    const other = await RLock.open(lock.name, { url: server.url })
    try {
      // What the scope sees, checked after it (its last release throws too, and would hide a failed expect).
      const seen: unknown[] = []
      const scope = lock.withLock(async () => {
        expect(await lock.acquire()).toBe(true)
        await other.unlink()
        // A renewal (every lease / 3) learns the lock is gone.
        await sleep(800)
        const outcome = (call: Promise<unknown>) => call.then(String, (error: Error) => error.name)
        seen.push(await outcome(lock.locked()))
        seen.push(await outcome(lock.acquire({ timeout: 100 })))
        seen.push(await outcome(lock.tryAcquire()))
        seen.push(await outcome(lock.release()))
      })
      await scope.catch(() => {})
      // Before, both re-entries resolved true (level 3) on an object whose lock was gone.
      expect(seen).toEqual(['NotFoundError', 'NotFoundError', 'NotFoundError', 'NotFoundError'])
    } finally {
      await Promise.allSettled([lock.close(), other.close()])
    }
  })

  it("checks an RLock re-entry's options as a first acquire's, and gives the lock back at close() whatever the level", async () => {
    const lock = await new RLock({ url: server.url }).ready()
    const other = await RLock.open(lock.name, { url: server.url })
    try {
      // What the scope sees after the close, checked after it: its release then throws, and would hide a failed expect.
      const seen: unknown[] = []
      const scope = lock.withLock(async () => {
        await expect(lock.acquire({ timeout: -1 })).rejects.toThrow(RangeError)
        await expect(lock.acquire({ timout: 5 } as never)).rejects.toThrow(/Unknown option "timout"/)
        const aborted = AbortSignal.abort(new Error('stop'))
        await expect(lock.acquire({ signal: aborted })).rejects.toThrow('stop')
        expect(lock.level).toBe(1)
        expect(await lock.acquire()).toBe(true)
        expect(await lock.acquire()).toBe(true)
        expect(lock.level).toBe(3)
        await lock.close()
        seen.push(lock.level, await lock.acquire().catch((error: unknown) => error))
      })
      await expect(scope).rejects.toThrow(ClosedError)
      expect(seen).toEqual([0, expect.any(ClosedError)])
      expect(await other.tryAcquire()).toBe(true)
      await other.release()
    } finally {
      await Promise.all([lock.close(), other.close()])
    }
  })

  it("reports in `value` the holders without the holders key's permanent `keep` member, and the waiters", async () => {
    const sem = await new Semaphore(3, { url: server.url }).ready()
    const { connection, call } = libraryCalls(sem.name)
    try {
      // ok, free, RLock depth, holders, waiters: the key always holds `keep`, which is no holder.
      expect(await call('value', [])).toEqual(['ok', 3, 0, 0, 0])
      expect(await call('acquire', ['x/1/a', 10_000, 'wait'])).toEqual(['granted', 1])
      expect(await call('acquire', ['x/1/b', 10_000, 'wait'])).toEqual(['granted', 2])
      expect(await call('value', [])).toEqual(['ok', 1, 0, 2, 0])
      expect(await call('acquire', ['x/1/c', 10_000, 'wait'])).toEqual(['granted', 3])
      expect(await call('acquire', ['x/1/d', 10_000, 'wait'])).toEqual(['queued'])
      expect(await call('value', [])).toEqual(['ok', 0, 0, 3, 1])
      expect(await call('cancel', ['x/1/d'])).toEqual(['cancelled'])
      expect(await call('release', [3, 1, 2, 3])).toEqual(['ok', 0, 0])
      expect(await call('value', [])).toEqual(['ok', 3, 0, 0, 0])
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it('gives back one token per release() when several tasks of one object release at once (none stays held)', async () => {
    const sem = await Semaphore.open(uniqueName(), { url: server.url, create: { value: 4 } })
    let running = true
    const task = async () => {
      while (running) if (await sem.tryAcquire()) await sem.release()
    }
    const tasks = Array.from({ length: 8 }, task)
    await sleep(500)
    running = false
    await Promise.all(tasks)
    expect(inspect(sem)).toMatch(/held: 0\b/)
    expect(await sem.getValue()).toBe(4)
    await sem.close()
  })

  it('renew names the grants an object did not name when asked, and close gives them back when asked, with or without reclaim', async () => {
    const sem = await Semaphore.open(uniqueName(), { url: server.url, create: { value: 3, reclaim: false } })
    const { connection, call } = libraryCalls(sem.name)
    try {
      expect(await call('acquire', ['x/1/a', 10_000, 'try'])).toEqual(['granted', 1])
      expect(await call('acquire', ['x/1/b', 10_000, 'wait'])).toEqual(['granted', 2])
      expect(await call('acquire', ['x/1/c', 10_000, 'wait'])).toEqual(['granted', 3])
      // A renew naming token 1 and asking for the others: 2 and 3, granted in replies (no waiter).
      const renewed = await call('renew', [10_000, 1, 0, 1])
      expect(renewed[5]).toEqual([2, '', 3, ''])
      // Without the flag: no scan, no list.
      expect((await call('renew', [10_000, 0, 0, 1, 2, 3]))[5]).toEqual([])
      // A close naming token 1 (held: without reclaim it is dropped) and not asked for orphans
      // (the object lost no reply) leaves 2 and 3 alone.
      expect(await call('close', [0, 0, 1])).toEqual(['ok'])
      expect(await sem.getValue()).toBe(0)
      // Asked for them, a close gives them back, reclaim or not: nobody saw them.
      expect(await call('close', [1, 0])).toEqual(['ok'])
      expect(await sem.getValue()).toBe(2)
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it("counts the entries a release's settle drops, so queued stays the queue's length with a waiter left behind them", async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    const { connection, keys, call, counts } = libraryCalls(sem.name)
    const [meta, , queue, waiters] = keys as [string, string, string, string]
    try {
      expect(await call('acquire', ['x/1/a', 10_000, 'wait'])).toEqual(['granted', 1])
      expect(await call('acquire', ['x/1/y', 10_000, 'wait'])).toEqual(['queued'])
      expect(await call('acquire', ['x/1/z', 10_000, 'wait'])).toEqual(['queued'])
      // y long queued, so the release serves it, and z is left behind it; ahead of them, two ids
      // no client makes, long queued, which settle drops. The other program counts them.
      await server.command('HSET', waiters, 'x/1/y', '9999999999999|1000|0')
      for (const id of ['garbage', '/x/y']) {
        await server.command('LPUSH', queue, id)
        await server.command('HSET', waiters, id, '9999999999999|1000|0')
      }
      await server.command('HINCRBY', meta, 'queued', '2')
      expect(await counts()).toBe('4 4')
      expect((await call('release', [1, 1]))[0]).toBe('ok')
      expect(await counts()).toBe('1 1')
      expect(await call('cancel', ['x/1/z'])).toEqual(['cancelled'])
      expect(await counts()).toBe('0 0')
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it("keeps the meta hash's queued equal to the queue's length through queueing, hand-over, claim, cancel, timeout and close", async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    const { connection, call, counts } = libraryCalls(sem.name)
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    try {
      expect(await counts()).toBe('0 0')
      expect(await call('acquire', ['x/1/a', 10_000, 'wait'])).toEqual(['granted', 1])
      for (const id of ['b', 'c', 'd', 'e'])
        expect(await call('acquire', [`x/1/${id}`, 10_000, 'wait'])).toEqual(['queued'])
      expect(await counts()).toBe('4 4')
      expect(await call('cancel', ['x/1/c'])).toEqual(['cancelled'])
      expect(await counts()).toBe('3 3')
      await pause(5)
      // b has waited 2 ms: the release hands it the permit (taken from the queue's head).
      expect(await call('release', [1, 1])).toEqual(['ok', 0, 0])
      expect(await call('cancel', ['x/1/b'])).toEqual(['granted', 2])
      expect(await counts()).toBe('2 2')
      // d's claim finds the permit taken: it stays queued.
      expect((await call('acquire', ['x/1/d', 10_000, 'claim']))[0]).toBe('queued')
      expect(await counts()).toBe('2 2')
      // A waiter of another object that gives up (its cancel), then one whose object closes.
      const other = await Semaphore.open(sem.name, { url: server.url })
      expect(await other.acquire({ timeout: 20 })).toBe(false)
      await pause(50)
      expect(await counts()).toBe('2 2')
      const waiting = other.acquire().catch((error: unknown) => error)
      await pause(20)
      expect(await counts()).toBe('3 3')
      await other.close()
      expect(await waiting).toMatchObject({ name: 'ClosedError' })
      expect(await counts()).toBe('2 2')
      // Token 2 given back (b's window starts: d is only nudged); 2 ms later d's claim takes it
      // (its LREM); e's cancel empties the queue.
      expect(await call('release', [1, 2])).toEqual(['ok', 0, 0])
      expect(await counts()).toBe('2 2')
      await pause(5)
      expect(await call('acquire', ['x/1/d', 10_000, 'claim'])).toEqual(['granted', 3])
      expect(await counts()).toBe('1 1')
      expect(await call('cancel', ['x/1/e'])).toEqual(['cancelled'])
      expect(await counts()).toBe('0 0')
      // Nobody queued: the uncontended acquire and release leave it at 0.
      expect(await call('release', [1, 3])).toEqual(['ok', 0, 0])
      expect(await call('acquire', ['x/1/f', 10_000, 'wait'])).toEqual(['granted', 4])
      expect(await counts()).toBe('0 0')
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it('lets a newcomer take a permit while the head is young, nudges the head once, and tells it when to claim again', async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    // The library's own calls, made in one tick so they reach the server together, in this order.
    const { connection, keys, call } = libraryCalls(sem.name)
    try {
      await call('value', [])
      const replies = await Promise.all([
        call('acquire', ['x/1/a', 10_000, 'wait']),
        call('acquire', ['x/1/b', 10_000, 'wait']),
        call('release', [1, 1]),
        call('acquire', ['x/1/c', 10_000, 'wait']),
        call('acquire', ['x/1/b', 10_000, 'claim']),
      ])
      expect(replies.slice(0, 4)).toEqual([['granted', 1], ['queued'], ['ok', 0, 0], ['granted', 2]])
      // b was nudged by the release, and c took the permit first: b learns when its 2 ms are up.
      const [status, left] = replies[4] as [string, number]
      expect(status).toBe('queued')
      expect(left).toBeGreaterThan(0)
      expect(left).toBeLessThanOrEqual(2)
      expect(await server.command('HGET', keys[0] as string, 'nudged')).toBe('$5')
      // c gives it back within b's window and goes away: no second nudge; b's own claim after its 2 ms takes it.
      expect(await call('release', [1, 2])).toEqual(['ok', 0, 0])
      await new Promise((resolve) => setTimeout(resolve, left + 2))
      expect(await call('acquire', ['x/1/b', 10_000, 'claim'])).toEqual(['granted', 3])
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it("refuses a nudged head's claim once every permit free at the nudge was granted since, so a holder that loops keeps its 2 ms", async () => {
    const sem = await new Semaphore(1, { url: server.url }).ready()
    const { connection, call } = libraryCalls(sem.name)
    // b's wake-ups come to this process: its id starts with the connection's clientId.
    const b = `${connection.clientId}/nudge-test/b`
    const messages: string[] = []
    const stop = connection.onWake(`${connection.clientId}/nudge-test`, (message) => messages.push(message))
    try {
      await call('value', [])
      // Made in one tick, so they reach the server together, in this order: b is young throughout.
      const replies = await Promise.all([
        call('acquire', ['x/1/a', 10_000, 'wait']),
        call('acquire', [b, 10_000, 'wait']),
        call('release', [1, 1]),
        call('acquire', ['x/1/a2', 10_000, 'wait']),
        call('release', [1, 2]),
        call('acquire', [b, 10_000, 'claim', 2]),
      ])
      expect(replies.slice(0, 5)).toEqual([['granted', 1], ['queued'], ['ok', 0, 0], ['granted', 2], ['ok', 0, 0]])
      // The nudge (sent by the first release) carries bar 2: the last grant then (token 1) + 1
      // permit free. a took and gave back token 2 since: the permit is free, but the claim is
      // refused and told when to claim again.
      const [status, left] = replies[5] as [string, number]
      expect(status).toBe('queued')
      expect(left).toBeGreaterThan(0)
      expect(left).toBeLessThanOrEqual(2)
      for (let i = 0; i < 100 && messages.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(messages).toEqual([`${b} 0 2`])
      // A claim with no grant since its nudge (bar 3 now; or a claim when its 2 ms are up: no bar) takes the free permit.
      expect(await call('acquire', [b, 10_000, 'claim', 3])).toEqual(['granted', 3])
    } finally {
      stop()
      connection.release()
      await sem.close()
    }
  })

  it("takes a permit for a nudged head's claim while one of those free at the nudge was never granted since", async () => {
    const sem = await new Semaphore(2, { url: server.url }).ready()
    const { connection, call } = libraryCalls(sem.name)
    try {
      await call('value', [])
      // b is young throughout. The release of a's two tokens frees 2 permits (nudge bar 2 + 2 = 4);
      // c takes one: one of them was never granted since, so b's claim takes the other.
      const replies = await Promise.all([
        call('acquire', ['x/1/a', 10_000, 'wait']),
        call('acquire', ['x/1/a2', 10_000, 'wait']),
        call('acquire', ['x/1/b', 10_000, 'wait']),
        call('release', [2, 1, 2]),
        call('acquire', ['x/1/c', 10_000, 'wait']),
        call('acquire', ['x/1/b', 10_000, 'claim', 4]),
      ])
      expect(replies).toEqual([
        ['granted', 1],
        ['granted', 2],
        ['queued'],
        ['ok', 0, 0],
        ['granted', 3],
        ['granted', 4],
      ])
    } finally {
      connection.release()
      await sem.close()
    }
  })

  it('gives back several tokens in one release while the head is young: nudges it once, counts a lapsed token as given back', async () => {
    const sem = await new Semaphore(2, { url: server.url }).ready()
    const { connection, keys, call } = libraryCalls(sem.name)
    try {
      await call('value', [])
      // Made in one tick, so b is still young when the release of a's two tokens (and a third that
      // lapsed: no owner) reaches the server.
      const replies = await Promise.all([
        call('acquire', ['x/1/a', 10_000, 'wait']),
        call('acquire', ['x/1/a2', 10_000, 'wait']),
        call('acquire', ['x/1/b', 10_000, 'wait']),
        call('release', [3, 1, 2, 9]),
        call('value', []),
      ])
      expect(replies).toEqual([['granted', 1], ['granted', 2], ['queued'], ['ok', 0, 1], ['ok', 2, 0, 0, 1]])
      expect(await server.command('HGET', keys[0] as string, 'nudged')).toBe('$5')
    } finally {
      connection.release()
      await sem.close()
    }
  })
})
