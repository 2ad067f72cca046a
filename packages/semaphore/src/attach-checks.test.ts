import { Segment } from '@ipc/core/internal'
import { afterEach, describe, expect, it } from 'vitest'
import { BoundedSemaphore } from './bounded-semaphore.js'
import { ClosedError, CorruptError } from './errors.js'
import { LAYOUT_VERSION } from './layout.js'
import { Lock, RLock } from './lock.js'
import { LOCK_VERSION } from './lock-base.js'
import { Semaphore } from './semaphore.js'

const made: Segment[] = []
afterEach(() => {
  for (const segment of made.splice(0)) {
    segment.unlink()
    segment.close()
  }
})

describe('a segment of the right kind and version whose data area is too short', () => {
  // Another same-user process made it (or truncated it): opening must not
  // read past the data area (RangeError from Atomics), but throw CorruptError.
  const cases: [string, string, number, number, (name: string) => unknown][] = [
    ['Semaphore', 'semaphore', LAYOUT_VERSION, 8, (name) => Semaphore.open(name)],
    ['Semaphore', 'semaphore', LAYOUT_VERSION, 64, (name) => Semaphore.open(name)],
    ['BoundedSemaphore', 'bounded-semaphore', LAYOUT_VERSION, 64, (name) => BoundedSemaphore.open(name)],
    ['Lock', 'lock', LOCK_VERSION, 8, (name) => Lock.open(name)],
    ['RLock', 'rlock', LOCK_VERSION, 16, (name) => RLock.open(name)],
  ]
  for (const [className, kind, version, bytes, open] of cases) {
    it(`${className} with ${bytes} bytes: open() throws CorruptError`, () => {
      const segment = Segment.create({ kind, version, label: kind }, bytes)
      made.push(segment)
      let error: unknown
      try {
        ;(open(segment.name) as { close(): void }).close()
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(CorruptError)
      expect((error as Error).message).toMatch(/its shared memory is corrupt \(a data area of \d+ bytes, too short/)
    })
  }
})

describe('value after close()', () => {
  for (const [className, make] of [
    ['Semaphore', () => new Semaphore(2)],
    ['BoundedSemaphore', () => new BoundedSemaphore(2)],
    ['Lock', () => new Lock()],
    ['RLock', () => new RLock()],
  ] as const) {
    it(`${className}: throws ClosedError (its memory is unmapped)`, () => {
      const object = make()
      object.close()
      expect(() => object.value).toThrow(ClosedError)
    })
  }
})
