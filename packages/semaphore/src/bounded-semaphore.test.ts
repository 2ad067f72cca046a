import { inspect } from 'node:util'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { BoundedSemaphore } from './bounded-semaphore.js'
import { IncompatibleError } from './errors.js'
import { Semaphore } from './semaphore.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

describe('new BoundedSemaphore()', () => {
  it('starts at its initial value, 1 by default', () => {
    expect(track(new BoundedSemaphore()).value).toBe(1)
    const pool = track(new BoundedSemaphore(3))
    expect(pool.value).toBe(3)
    expect(pool.initialValue).toBe(3)
    expect(pool).toBeInstanceOf(Semaphore)
  })

  it('rejects 0, negative and fractional values with RangeError', () => {
    for (const value of [0, -1, 2.5]) expect(() => new BoundedSemaphore(value)).toThrow(RangeError)
  })
})

describe('BoundedSemaphore.open() and .from()', () => {
  it('attaches by name or handle and refuses a plain Semaphore', () => {
    const pool = track(new BoundedSemaphore(2, { name: uniqueName() }))
    expect(track(BoundedSemaphore.from(pool.handle)).initialValue).toBe(2)
    expect(pool.handle.kind).toBe('bounded-semaphore')
    const sem = track(new Semaphore(2, { name: uniqueName() }))
    expect(() => BoundedSemaphore.open(sem.name)).toThrow(IncompatibleError)
    expect(() => Semaphore.open(pool.name)).toThrow(IncompatibleError)
  })
})

describe('BoundedSemaphore inspection', () => {
  it('shows the value and the initial value', () => {
    const pool = track(new BoundedSemaphore(2, { name: uniqueName() }))
    pool.tryAcquire()
    expect(inspect(pool)).toBe(`BoundedSemaphore { name: '${pool.name}', value: 1, initialValue: 2 }`)
  })
})
