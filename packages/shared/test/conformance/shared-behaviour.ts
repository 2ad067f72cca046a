/**
 * The behaviour both backends share (shared memory and Redis), written once:
 * `sharedBehaviour(backend)` registers the tests against the objects its
 * factory builds. `test/conformance.test.ts` runs them against `@ipc/shared`
 * and `@ipc/shared/redis`. The backend wraps each object in `ValueLike` /
 * `ArrayLike` (every call async), so one test reads the same for
 * `v.value = x` and `await v.set(x)`.
 */
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'

type Element = number | bigint | boolean

export interface ValueLike {
  readonly name: string
  get(): Promise<Element>
  set(value: Element): Promise<void>
  add(n: Element): Promise<Element>
  sub(n: Element): Promise<Element>
  exchange(value: Element): Promise<Element>
  compareExchange(expected: Element, value: Element): Promise<Element>
  withLock<R>(fn: () => R | PromiseLike<R>): Promise<Awaited<R>>
  close(): Promise<void>
}

export interface ArrayLike {
  readonly name: string
  readonly length: number
  get(index: number): Promise<Element>
  set(index: number, value: Element): Promise<void>
  toArray(): Promise<Element[]>
  close(): Promise<void>
}

/** Builds and opens the objects of one backend. */
export interface Backend {
  /** Shown in the test names: 'shared memory', 'Redis', 'Redis Cluster'. */
  readonly label: string
  value(type: string, initial?: Element, options?: { name?: string; lock?: boolean }): Promise<ValueLike>
  openValue(name: string, type?: string, create?: { initial?: Element }): Promise<ValueLike>
  array(type: string, lengthOrValues: number | Element[], options?: { name?: string }): Promise<ArrayLike>
  openArray(name: string, type?: string): Promise<ArrayLike>
}

/** Registers the conformance tests of SharedValue and SharedArray for `backend`. */
export function sharedBehaviour(backend: Backend): void {
  const open: { close(): Promise<void> }[] = []
  async function track<T extends { close(): Promise<void> }>(object: Promise<T>): Promise<T> {
    const made = await object
    open.push(made)
    return made
  }
  afterEach(async () => {
    for (const object of open.splice(0).reverse()) await object.close()
  })

  describe(`SharedValue (${backend.label})`, () => {
    it('reads back what it was created with and what was set, for every type', async () => {
      const cases: [string, Element, Element][] = [
        ['int8', -128, 127],
        ['uint16', 65535, 0],
        ['int32', -5, 2147483647],
        ['uint32', 4294967295, 7],
        ['int64', -(2n ** 63n), 2n ** 63n - 1n],
        ['uint64', 2n ** 64n - 1n, 0n],
        ['float32', 0.5, -1.25],
        ['float64', 0.1, -0],
        ['bool', true, false],
        ['i', 3, 4],
        ['d', 1.5, 2.5],
      ]
      for (const [type, initial, next] of cases) {
        const value = await track(backend.value(type, initial))
        expect(await value.get()).toBe(initial)
        await value.set(next)
        expect(Object.is(await value.get(), next)).toBe(true)
      }
    })

    it('starts at 0, 0n or false by default', async () => {
      expect(await (await track(backend.value('int16'))).get()).toBe(0)
      expect(await (await track(backend.value('uint64'))).get()).toBe(0n)
      expect(await (await track(backend.value('bool'))).get()).toBe(false)
    })

    it('add and sub return the previous value and wrap on overflow as Atomics does', async () => {
      const value = await track(backend.value('int32', 2147483647))
      expect(await value.add(1)).toBe(2147483647)
      expect(await value.get()).toBe(-2147483648)
      expect(await value.sub(1)).toBe(-2147483648)
      expect(await value.get()).toBe(2147483647)
      const small = await track(backend.value('uint8', 0))
      expect(await small.sub(1)).toBe(0)
      expect(await small.get()).toBe(255)
      const big = await track(backend.value('int64', 2n ** 63n - 1n))
      expect(await big.add(1n)).toBe(2n ** 63n - 1n)
      expect(await big.get()).toBe(-(2n ** 63n))
    })

    it('exchange returns the previous value; compareExchange stores only when it matches', async () => {
      const value = await track(backend.value('int32', 1))
      expect(await value.exchange(2)).toBe(1)
      expect(await value.compareExchange(1, 3)).toBe(2)
      expect(await value.get()).toBe(2)
      expect(await value.compareExchange(2, 3)).toBe(2)
      expect(await value.get()).toBe(3)
    })

    it('rejects values of the wrong kind (TypeError) and out of range (RangeError), writing nothing', async () => {
      const value = await track(backend.value('int8', 1))
      await expect(value.set(1.5)).rejects.toThrow(TypeError)
      await expect(value.set(1n)).rejects.toThrow(TypeError)
      await expect(value.set(128)).rejects.toThrow(RangeError)
      await expect(value.add(-129)).rejects.toThrow(RangeError)
      expect(await value.get()).toBe(1)
      const big = await track(backend.value('int64', 1n))
      await expect(big.set(1)).rejects.toThrow(TypeError)
      const float = await track(backend.value('float64', 1))
      await expect(float.add(1)).rejects.toThrow(TypeError)
      await expect(float.set(true)).rejects.toThrow(TypeError)
      expect(await float.get()).toBe(1)
    })

    it('open(name) attaches to the same value; with a type it checks it', async () => {
      const name = uniqueName()
      const value = await track(backend.value('int32', 5, { name }))
      const other = await track(backend.openValue(name, 'int32'))
      await other.add(2)
      expect(await value.get()).toBe(7)
      await expect(backend.openValue(name, 'float64')).rejects.toMatchObject({ name: 'IncompatibleError' })
      await expect(backend.openValue(uniqueName())).rejects.toMatchObject({ name: 'NotFoundError' })
    })

    it('open(name, type, { create }) creates once, and later opens see its value', async () => {
      const name = uniqueName()
      const first = await track(backend.openValue(name, 'int32', { initial: 9 }))
      const second = await track(backend.openValue(name, 'int32', { initial: 1 }))
      expect(await second.get()).toBe(9)
      await first.set(10)
      expect(await second.get()).toBe(10)
    })

    it('withLock runs fn and returns its result; nested withLock enters again', async () => {
      const value = await track(backend.value('int32', 0))
      const result = await value.withLock(async () => {
        await value.set(((await value.get()) as number) + 1)
        return value.withLock(() => 'inner')
      })
      expect(result).toBe('inner')
      expect(await value.get()).toBe(1)
    })

    it('lock: false has no lock: withLock rejects with ValueError', async () => {
      const value = await track(backend.value('int32', 0, { lock: false }))
      await expect(value.withLock(() => 1)).rejects.toMatchObject({ name: 'ValueError' })
    })

    it('close() is idempotent and later calls reject with ClosedError', async () => {
      const value = await backend.value('int32', 0)
      await value.close()
      await value.close()
      await expect(value.get()).rejects.toMatchObject({ name: 'ClosedError' })
    })
  })

  describe(`SharedArray (${backend.label})`, () => {
    it('get, set and toArray, from values or a length of zeros', async () => {
      const array = await track(backend.array('float64', [1.5, 2.5, 3.5]))
      expect(array.length).toBe(3)
      await array.set(0, 10)
      expect(await array.get(0)).toBe(10)
      expect(await array.toArray()).toEqual([10, 2.5, 3.5])
      const zeros = await track(backend.array('uint64', 2))
      expect(await zeros.toArray()).toEqual([0n, 0n])
    })

    it('rejects an index outside [0, length) with RangeError and a wrong value with TypeError', async () => {
      const array = await track(backend.array('int32', 2))
      await expect(array.get(2)).rejects.toThrow(RangeError)
      await expect(array.set(-1, 0)).rejects.toThrow(RangeError)
      await expect(array.get(0.5)).rejects.toThrow(RangeError)
      await expect(array.set(0, 'x' as never)).rejects.toThrow(TypeError)
      expect(await array.toArray()).toEqual([0, 0])
    })

    it('open(name) sees the same elements and length', async () => {
      const name = uniqueName()
      const array = await track(backend.array('bool', [true, false, true], { name }))
      const other = await track(backend.openArray(name, 'bool'))
      expect(other.length).toBe(3)
      await other.set(1, true)
      expect(await array.toArray()).toEqual([true, true, true])
      await expect(backend.openValue(name)).rejects.toMatchObject({ name: 'IncompatibleError' })
    })
  })
}
