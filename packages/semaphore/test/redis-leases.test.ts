/**
 * Redis-only behaviour of @ipc/semaphore/redis: leases (a SIGKILLed or
 * stopped holder loses its permit within `lease`), fencing tokens, a
 * server that stops (SIGSTOP) or restarts, and a process that left a
 * semaphore open (it exits when its work ends). The behaviour both backends
 * share is in conformance.test.ts.
 */
import {
  hasRedisServer,
  NO_REDIS_NOTE,
  type RedisServer,
  sleep,
  spawnChild,
  startDelayingProxy,
  startRedisServer,
  uniqueName,
} from '@ipc/test-utils'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ConnectionError, Lock, RLock, Semaphore, ValueError } from '../src/redis/index.js'

const HOLD = new URL('./fixtures/redis-hold.mjs', import.meta.url)
const RELEASE_EXIT = new URL('./fixtures/redis-release-exit.mjs', import.meta.url)
const LEFT_OPEN = new URL('./fixtures/redis-left-open.mjs', import.meta.url)
const LEASE = 600
/** How late a lapsed lease may be noticed beyond `lease` on a loaded machine. */
const SLACK = 1000

describe.skipIf(!hasRedisServer())(
  `@ipc/semaphore/redis leases${hasRedisServer() ? '' : ` (skipped: ${NO_REDIS_NOTE})`}`,
  () => {
    let server: RedisServer
    beforeAll(async () => {
      server = await startRedisServer()
    })
    afterAll(async () => {
      await server?.stop()
    })

    for (const kind of ['semaphore', 'lock'] as const) {
      it(`gives the ${kind} of a SIGKILLed holder to a waiter within its lease`, { timeout: 20_000 }, async () => {
        const name = uniqueName()
        const object =
          kind === 'lock'
            ? await Lock.open(name, { url: server.url, lease: LEASE, create: true })
            : await Semaphore.open(name, { url: server.url, lease: LEASE, create: { value: 1 } })
        const holder = spawnChild(HOLD, [server.url, name, String(LEASE), kind])
        await holder.waitFor('holding')
        expect(await object.tryAcquire()).toBe(false)
        const waiting = object.acquire({ timeout: 10_000 })
        const killedAt = performance.now()
        holder.child.kill('SIGKILL')
        await holder.exited
        expect(await waiting).toBe(true)
        expect(performance.now() - killedAt).toBeLessThan(LEASE + SLACK)
        await object.release()
        await object.close()
      })
    }

    it('gives the permit back at once when the process exits right after Semaphore#release() resolved', {
      timeout: 20_000,
    }, async () => {
      const name = uniqueName()
      const sem = await Semaphore.open(name, { url: server.url, create: { value: 1 } })
      const child = spawnChild(RELEASE_EXIT, [server.url, name])
      await child.exited
      // The default lease is 10 s: a release that never left the process would keep the permit that long.
      expect(await sem.getValue()).toBe(1)
      expect(await sem.acquire({ timeout: 0 })).toBe(true)
      await sem.release()
      await sem.close()
    })

    it('takes the permit from a holder cut off for longer than its lease, and tells the holder (permit.signal)', {
      timeout: 20_000,
    }, async () => {
      const name = uniqueName()
      const sem = await Semaphore.open(name, { url: server.url, lease: LEASE, create: { value: 1 } })
      const holder = spawnChild(HOLD, [server.url, name, String(LEASE), 'semaphore'])
      await holder.waitFor('holding')
      const token = Number(holder.stdout().match(/holding (\d+)/)?.[1])
      holder.child.kill('SIGSTOP')
      try {
        const permit = await sem.permit({ timeout: LEASE + SLACK + 1000 })
        expect(permit.token).toBeGreaterThan(token)
        holder.child.kill('SIGCONT')
        await holder.waitFor(`lost ${token}`)
        await permit.release()
      } finally {
        holder.child.kill('SIGCONT')
      }
      await sem.close()
    })

    it('grants tokens that strictly increase, across objects and processes (fencing)', {
      timeout: 20_000,
    }, async () => {
      const name = uniqueName()
      const sem = await Semaphore.open(name, { url: server.url, create: { value: 2 } })
      const other = await Semaphore.open(name, { url: server.url })
      const tokens: number[] = []
      for (let i = 0; i < 10; i++) {
        const permit = await (i % 2 === 0 ? sem : other).permit()
        tokens.push(permit.token)
        await permit.release()
      }
      const holder = spawnChild(HOLD, [server.url, name, '10000', 'semaphore'])
      await holder.waitFor('holding')
      tokens.push(Number(holder.stdout().match(/holding (\d+)/)?.[1]))
      const [a, b] = await Promise.all([sem.permit(), other.permit({ timeout: 300 }).catch(() => undefined)])
      tokens.push(a.token)
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number)
      expect(b).toBeUndefined()
      await a.release()
      await other.close()
      await sem.close()
    })

    it('re-enters an RLock whose lease lapsed until a renewal tells it; then a call in its scope asks the server, and the last release throws ValueError', {
      timeout: 20_000,
    }, async () => {
      const name = uniqueName()
      const proxy = await startDelayingProxy(server.url)
      const lock = await RLock.open(name, { url: proxy.url, lease: LEASE, create: true })
      const other = await RLock.open(name, { url: server.url, lease: LEASE })
      // What the scope sees, checked after it: its last release throws, and would hide a failed expect.
      const seen: unknown[] = []
      const scope = lock.withLock(async () => {
        // Its renewals held (3 s, within their 5 s reply limit): the lease lapses and other takes the lock.
        proxy.delay('requests', 3000)
        seen.push(await other.acquire({ timeout: 2000 }))
        // Not told yet: it holds the lock as far as it knows (owned), and re-enters without asking.
        seen.push(lock.owned, await lock.tryAcquire(), lock.level)
        await lock.release()
        proxy.delay('requests', 0)
        await vi.waitFor(() => expect(lock.owned).toBe(false), { timeout: 5000, interval: 20 })
        // Told: an ordinary acquire, sent to the server, which finds the lock taken.
        seen.push(lock.level, await lock.tryAcquire())
      })
      await expect(scope).rejects.toThrow(ValueError)
      expect(seen).toEqual([true, true, true, 2, 0, false])
      await other.release()
      await Promise.all([lock.close(), other.close()])
    })

    it('ends acquire({ timeout }) with false within its timeout on a stopped server (SIGSTOP), and works after SIGCONT', {
      timeout: 20_000,
    }, async () => {
      const sem = await Semaphore.open(uniqueName(), { url: server.url, create: { value: 1 } })
      server.pause()
      try {
        const started = performance.now()
        await expect(sem.acquire({ timeout: 300 })).resolves.toBe(false)
        expect(performance.now() - started).toBeLessThan(300 + SLACK)
      } finally {
        server.resume()
      }
      // The grant the server made after SIGCONT went back: the permit is free for the next acquire.
      await expect(sem.acquire({ timeout: 5000 })).resolves.toBe(true)
      expect(await sem.getValue()).toBe(0)
      await sem.release()
      await sem.close()
    })

    // Renewals run in the background: an object left open (no close()) holds no process. A renewal
    // the server does not answer waits out its reply limit (5 s here), and a heartbeat (every
    // lease/3) lands meanwhile and sends the next: were renewals pending calls, one would always be.
    it('lets a process that left a semaphore open exit when its work ends, the server answering', {
      timeout: 20_000,
    }, async () => {
      const holder = spawnChild(LEFT_OPEN, [server.url, uniqueName(), '1000', 'hold'])
      await holder.waitFor('DONE')
      expect(await Promise.race([holder.exited, sleep(SLACK * 3).then(() => 'alive')])).toBe(0)
    })

    it('lets a process that left a semaphore open exit when its work ends on a stopped server (SIGSTOP), while a pending acquire() keeps its own process alive', {
      timeout: 20_000,
    }, async () => {
      const name = uniqueName()
      const sem = await Semaphore.open(name, { url: server.url, create: { value: 0 } })
      const holder = spawnChild(LEFT_OPEN, [server.url, uniqueName(), '1000', 'hold'])
      const waiter = spawnChild(LEFT_OPEN, [server.url, name, '10000', 'wait'])
      await Promise.all([holder.waitFor('READY'), waiter.waitFor('READY')])
      server.pause()
      try {
        await holder.waitFor('DONE')
        expect(await Promise.race([holder.exited, sleep(SLACK * 3).then(() => 'alive')])).toBe(0)
        await sleep(SLACK)
        expect(waiter.child.exitCode).toBeNull()
      } finally {
        server.resume()
      }
      // Granted, its work ends: it exits, its semaphore still open.
      await sem.release()
      await waiter.waitFor('GOT')
      expect(await Promise.race([waiter.exited, sleep(SLACK * 3).then(() => 'alive')])).toBe(0)
      await sem.close()
    })

    it('rejects tryAcquire() with ConnectionError within the reply limit (5 s) on a stopped server, and gives back the permit the server grants it after SIGCONT', {
      timeout: 30_000,
    }, async () => {
      const sem = await Semaphore.open(uniqueName(), { url: server.url, lease: 5000, create: { value: 1 } })
      server.pause()
      try {
        const started = performance.now()
        await expect(sem.tryAcquire()).rejects.toThrow(/did not answer within 5000 ms/)
        expect(performance.now() - started).toBeLessThan(5000 + SLACK)
      } finally {
        server.resume()
      }
      // The server ran the try after SIGCONT and granted it; the late reply gave the permit back.
      await vi.waitFor(async () => expect(await sem.getValue()).toBe(1), { timeout: 2000, interval: 50 })
      await expect(sem.acquire({ timeout: 5000 })).resolves.toBe(true)
      await sem.release()
      await sem.close()
    })

    it('rejects calls with ConnectionError while the server is down, and works again after it restarts', {
      timeout: 30_000,
    }, async () => {
      const name = uniqueName()
      const sem = await Semaphore.open(name, { url: server.url, create: { value: 1, persistent: true } })
      const other = await Semaphore.open(name, { url: server.url })
      expect(await sem.acquire()).toBe(true)
      const waiting = expect(other.acquire()).rejects.toBeInstanceOf(ConnectionError)
      // Keep the data across the restart (the test server does not save by itself).
      expect(await server.command('SAVE')).toBe('+OK')
      await server.kill()
      await waiting
      await expect(other.acquire({ timeout: 1000 })).rejects.toMatchObject({
        name: 'ConnectionError',
        code: 'IPC_CONNECTION',
      })
      await server.start()
      // The client reconnects by itself; its functions are loaded again when the server lacks them.
      expect(await server.command('FUNCTION', 'FLUSH')).toBe('+OK')
      let value: number | undefined
      for (let i = 0; i < 100 && value === undefined; i++) {
        value = await other.getValue().catch((error: unknown) => {
          if (!(error instanceof ConnectionError)) throw error
          return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 50))
        })
      }
      expect(value).toBe(0)
      await sem.release()
      expect(await other.acquire({ timeout: 1000 })).toBe(true)
      await other.release()
      await sem.unlink()
      await other.close()
      await sem.close()
    })
  },
)
