/**
 * The behaviour both backends share (shared memory and Redis), written once:
 * each function registers a `describe` block that runs against the backend
 * its factory builds. `test/conformance.test.ts` runs them against
 * `@ipc/semaphore` and `@ipc/semaphore/redis`. Every call is awaited, so one
 * test reads the same for a sync `release()` and an async one.
 */
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'

type MaybePromise<T> = T | Promise<T>

export interface PermitLike {
  readonly released: boolean
  release(): MaybePromise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface SemaphoreLike {
  readonly name: string
  acquire(options?: { timeout?: number; signal?: AbortSignal }): Promise<boolean>
  tryAcquire(): MaybePromise<boolean>
  release(n?: number): MaybePromise<void>
  permit(options?: { timeout?: number }): Promise<PermitLike>
  withPermit<R>(fn: () => R | PromiseLike<R>, options?: { timeout?: number }): Promise<Awaited<R>>
  close(): MaybePromise<void>
}

export interface LockLike {
  readonly name: string
  readonly owned: boolean
  acquire(options?: { timeout?: number; signal?: AbortSignal }): Promise<boolean>
  tryAcquire(): MaybePromise<boolean>
  release(): MaybePromise<void>
  withLock<R>(fn: () => R | PromiseLike<R>): Promise<Awaited<R>>
  close(): MaybePromise<void>
}

/** Builds and opens the objects of one backend. */
export interface Backend {
  /** Shown in the test names: 'shared memory', 'Redis', 'Redis Cluster'. */
  readonly label: string
  semaphore(value: number, options?: { name?: string }): MaybePromise<SemaphoreLike>
  openSemaphore(name: string): Promise<SemaphoreLike>
  boundedSemaphore(value: number, options?: { name?: string }): MaybePromise<SemaphoreLike>
  openBoundedSemaphore(name: string): Promise<SemaphoreLike>
  lock(options?: { name?: string }): MaybePromise<LockLike>
  openLock(name: string): Promise<LockLike>
  rlock(options?: { name?: string }): MaybePromise<LockLike>
  openRLock(name: string): Promise<LockLike>
  /** The free permits (`sem.value` or `await sem.getValue()`). */
  value(sem: SemaphoreLike): Promise<number>
  /** Whether any object holds the lock (`lock.locked` or `await lock.locked()`). */
  locked(lock: LockLike): Promise<boolean>
}

/** Registers the conformance tests of Semaphore, BoundedSemaphore, Lock and RLock for `backend`. */
export function semaphoreBehaviour(backend: Backend): void {
  const open: { close(): MaybePromise<void> }[] = []
  async function track<T extends { close(): MaybePromise<void> }>(object: MaybePromise<T>): Promise<T> {
    const resolved = await object
    open.push(resolved)
    return resolved
  }
  afterEach(async () => {
    for (const object of open.splice(0)) await object.close()
  })
  const { value } = backend

  describe(`Semaphore#tryAcquire() (${backend.label})`, () => {
    it('takes free permits and returns false when none is left', async () => {
      const sem = await track(backend.semaphore(2))
      expect(await sem.tryAcquire()).toBe(true)
      expect(await sem.tryAcquire()).toBe(true)
      expect(await sem.tryAcquire()).toBe(false)
      expect(await value(sem)).toBe(0)
    })
  })

  describe(`Semaphore#acquire() (${backend.label})`, () => {
    it('resolves true at once when a permit is free', async () => {
      const sem = await track(backend.semaphore(1))
      await expect(sem.acquire()).resolves.toBe(true)
      expect(await value(sem)).toBe(0)
    })

    it('resolves false after the timeout and leaves the value unchanged', async () => {
      const sem = await track(backend.semaphore(0))
      await expect(sem.acquire({ timeout: 30 })).resolves.toBe(false)
      await expect(sem.acquire({ timeout: 0 })).resolves.toBe(false)
      await sem.release()
      expect(await value(sem)).toBe(1)
    })

    it('waits for a release from another object', async () => {
      const sem = await track(backend.semaphore(0, { name: uniqueName() }))
      const other = await track(backend.openSemaphore(sem.name))
      const got = sem.acquire()
      await new Promise((r) => setTimeout(r, 20))
      await other.release()
      await expect(got).resolves.toBe(true)
      expect(await value(sem)).toBe(0)
    })

    it('serves the acquires of one object in call order', async () => {
      const sem = await track(backend.semaphore(0))
      const order: number[] = []
      const all = [0, 1, 2, 3].map((i) => sem.acquire().then(() => order.push(i)))
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 5))
        await sem.release()
      }
      await Promise.all(all)
      expect(order).toEqual([0, 1, 2, 3])
    })

    it('wakes as many waiters as release(n) gives permits', async () => {
      const sem = await track(backend.semaphore(0, { name: uniqueName() }))
      const others = await Promise.all([0, 1, 2].map(() => track(backend.openSemaphore(sem.name))))
      const got = others.map((o) => o.acquire())
      await new Promise((r) => setTimeout(r, 20))
      await sem.release(3)
      await expect(Promise.all(got)).resolves.toEqual([true, true, true])
      expect(await value(sem)).toBe(0)
    })

    it('rejects with signal.reason when the signal is already aborted, touching nothing', async () => {
      const sem = await track(backend.semaphore(1))
      const reason = new Error('stop')
      await expect(sem.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
      expect(await value(sem)).toBe(1)
    })

    it('rejects with signal.reason when aborted while waiting, and takes no permit', async () => {
      const sem = await track(backend.semaphore(0, { name: uniqueName() }))
      const other = await track(backend.openSemaphore(sem.name))
      const controller = new AbortController()
      const aborted = sem.acquire({ signal: controller.signal })
      const next = other.acquire()
      await new Promise((r) => setTimeout(r, 20))
      controller.abort()
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
      await sem.release()
      await expect(next).resolves.toBe(true)
      expect(await value(sem)).toBe(0)
      await sem.release()
      expect(await value(sem)).toBe(1)
    })

    it('keeps later acquires of the object waiting when the first is aborted', async () => {
      const sem = await track(backend.semaphore(0))
      const controller = new AbortController()
      const first = sem.acquire({ signal: controller.signal })
      const second = sem.acquire()
      await new Promise((r) => setTimeout(r, 10))
      controller.abort()
      await expect(first).rejects.toMatchObject({ name: 'AbortError' })
      await sem.release()
      await expect(second).resolves.toBe(true)
      expect(await value(sem)).toBe(0)
    })

    it('rejects pending acquires with ClosedError on close', async () => {
      const sem = await backend.semaphore(0)
      const pending = sem.acquire()
      await new Promise((r) => setTimeout(r, 10))
      const rejected = expect(pending).rejects.toMatchObject({ name: 'ClosedError', code: 'IPC_CLOSED' })
      await sem.close()
      await rejected
    })

    it('rejects invalid options', async () => {
      const sem = await track(backend.semaphore(1))
      await expect(sem.acquire({ timeout: -1 })).rejects.toThrow(RangeError)
      await expect(sem.acquire({ signal: 'x' as unknown as AbortSignal })).rejects.toThrow(TypeError)
      expect(await value(sem)).toBe(1)
    })
  })

  describe(`Semaphore#release() (${backend.label})`, () => {
    it('adds n permits, also from an object that acquired none (as in Python)', async () => {
      const sem = await track(backend.semaphore(0))
      await sem.release()
      await sem.release(3)
      expect(await value(sem)).toBe(4)
    })
  })

  describe(`Semaphore#withPermit() and #permit() (${backend.label})`, () => {
    it('runs the function holding a permit and returns its result', async () => {
      const sem = await track(backend.semaphore(1))
      let inside = -1
      const result = await sem.withPermit(async () => {
        inside = await value(sem)
        return 42
      })
      expect(result).toBe(42)
      expect(inside).toBe(0)
      expect(await value(sem)).toBe(1)
    })

    it('gives the permit back when the function throws or rejects', async () => {
      const sem = await track(backend.semaphore(1))
      await expect(
        sem.withPermit(() => {
          throw new Error('sync')
        }),
      ).rejects.toThrow('sync')
      await expect(sem.withPermit(async () => Promise.reject(new Error('async')))).rejects.toThrow('async')
      expect(await value(sem)).toBe(1)
    })

    it('gives the permit back once at the end of an await using scope', async () => {
      const sem = await track(backend.semaphore(2))
      {
        await using permit = await sem.permit()
        expect(await value(sem)).toBe(1)
        expect(permit.released).toBe(false)
      }
      expect(await value(sem)).toBe(2)
    })

    it('rejects with TimeoutError after the timeout', async () => {
      const sem = await track(backend.semaphore(0))
      const error = await sem.permit({ timeout: 10 }).catch((e: unknown) => e)
      expect(error).toMatchObject({ name: 'TimeoutError', code: 'IPC_TIMEOUT' })
    })
  })

  describe(`Semaphore#close() (${backend.label})`, () => {
    it('gives back the permits the object holds, and is idempotent', async () => {
      const name = uniqueName()
      const sem = await backend.semaphore(3, { name })
      const other = await track(backend.openSemaphore(name))
      expect(await sem.tryAcquire()).toBe(true)
      expect(await sem.tryAcquire()).toBe(true)
      expect(await value(other)).toBe(1)
      await sem.close()
      await sem.close()
      expect((sem as unknown as { closed: boolean }).closed).toBe(true)
      expect(await value(other)).toBe(3)
    })
  })

  describe(`BoundedSemaphore#release() (${backend.label})`, () => {
    it('throws ValueError past the initial value and changes nothing', async () => {
      const pool = await track(backend.boundedSemaphore(2))
      await expect(async () => pool.release()).rejects.toMatchObject({ name: 'ValueError' })
      await expect(async () => pool.release()).rejects.toThrow(
        `Cannot release bounded semaphore "${pool.name}": it would exceed its initial value 2 (released more times than acquired)`,
      )
      expect(await value(pool)).toBe(2)
      expect(await pool.tryAcquire()).toBe(true)
      await expect(async () => pool.release(2)).rejects.toMatchObject({ name: 'ValueError' })
      expect(await value(pool)).toBe(1)
      await pool.release()
      expect(await value(pool)).toBe(2)
    })

    it('checks the bound for releases from another object too', async () => {
      const pool = await track(backend.boundedSemaphore(1, { name: uniqueName() }))
      const other = await track(backend.openBoundedSemaphore(pool.name))
      expect(await pool.tryAcquire()).toBe(true)
      await other.release()
      await expect(async () => pool.release()).rejects.toMatchObject({ name: 'ValueError' })
      expect(await value(other)).toBe(1)
    })
  })

  describe(`Lock (${backend.label})`, () => {
    it('lets one holder in at a time', async () => {
      const lock = await track(backend.lock({ name: uniqueName() }))
      const other = await track(backend.openLock(lock.name))
      expect(await backend.locked(lock)).toBe(false)
      await expect(lock.acquire()).resolves.toBe(true)
      expect(await backend.locked(lock)).toBe(true)
      expect(lock.owned).toBe(true)
      expect(other.owned).toBe(false)
      expect(await other.tryAcquire()).toBe(false)
      await expect(other.acquire({ timeout: 20 })).resolves.toBe(false)
      const waiting = other.acquire()
      await lock.release()
      await expect(waiting).resolves.toBe(true)
      expect(other.owned).toBe(true)
    })

    it('throws ValueError when released by an object that does not hold it, and stays locked', async () => {
      const lock = await track(backend.lock({ name: uniqueName() }))
      const other = await track(backend.openLock(lock.name))
      expect(await lock.acquire()).toBe(true)
      await expect(async () => other.release()).rejects.toMatchObject({ name: 'ValueError' })
      expect(await backend.locked(lock)).toBe(true)
      await lock.release()
      expect(await backend.locked(lock)).toBe(false)
    })
  })

  describe(`RLock (${backend.label})`, () => {
    it('lets its holder enter again inside withLock, and needs as many releases', async () => {
      const lock = await track(backend.rlock({ name: uniqueName() }))
      const other = await track(backend.openRLock(lock.name))
      await lock.withLock(async () => {
        expect(await lock.acquire({ timeout: 0 })).toBe(true)
        expect(await lock.acquire()).toBe(true)
        for (let i = 0; i < 2; i++) {
          await lock.release()
          expect(await backend.locked(lock)).toBe(true)
          expect(await other.tryAcquire()).toBe(false)
        }
      })
      expect(await backend.locked(lock)).toBe(false)
      expect(await other.tryAcquire()).toBe(true)
      await expect(async () => lock.release()).rejects.toMatchObject({ name: 'ValueError' })
      await other.release()
    })

    it('makes another task of the process wait: concurrent withLock calls run one at a time', async () => {
      const lock = await track(backend.rlock())
      let inside = 0
      let most = 0
      await Promise.all(
        Array.from({ length: 5 }, () =>
          lock.withLock(async () => {
            most = Math.max(most, ++inside)
            await new Promise((resolve) => setTimeout(resolve, 1))
            inside--
          }),
        ),
      )
      expect(most).toBe(1)
      expect(await lock.acquire()).toBe(true)
      await expect(lock.acquire({ timeout: 20 })).resolves.toBe(false)
      await lock.release()
      expect(await backend.locked(lock)).toBe(false)
    })
  })
}
