/**
 * `Semaphore.open(name, { create })` across racing processes (exactly one
 * creates, all share one counter), and `persistent: true` semaphores that
 * outlive their creator (normal exit and SIGKILL) and the cleanup scan,
 * until `unlink()`.
 */
import { existsSync } from 'node:fs'
import { Segment } from '@ipc/core/internal'
import { BoundedSemaphore, IncompatibleError, NotFoundError, Semaphore } from '@ipc/semaphore'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const racer = new URL('./fixtures/open-or-create.mjs', import.meta.url)
const owner = new URL('./fixtures/persistent-owner.mjs', import.meta.url)
const CHILDREN = 8
const classes = { Semaphore, BoundedSemaphore }

function segmentExists(name: string): boolean {
  return existsSync(`/dev/shm/ipc-${name}`)
}

describe.each(['Semaphore', 'BoundedSemaphore'] as const)('%s.open(name, { create }) racing', (className) => {
  it(`lets exactly one of ${CHILDREN} racing processes create, and all share one counter`, {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('race')
    const children = Array.from({ length: CHILDREN }, () => spawnChild(racer, [className, name]))
    await Promise.all(children.map((child) => child.waitFor('armed', 30_000)))
    const startAt = Date.now() + 100
    for (const child of children) child.child.send({ startAt })
    await Promise.all(children.map((child) => child.waitFor('}', 30_000)))
    const reports = children.map(
      (child) => JSON.parse(child.stdout().replace('armed', '').trim()) as { created: boolean; kind: string },
    )
    expect(reports.filter((report) => report.created)).toHaveLength(1)
    // One counter of 8: each child holds one of its permits.
    const sem = classes[className].open(name)
    expect(sem.created).toBe(false)
    expect(sem.value).toBe(0)
    for (const child of children) child.child.send('exit')
    expect(await Promise.all(children.map((child) => child.exited))).toEqual(children.map(() => 0))
    expect(sem.value).toBe(8)
    sem.close()
    expect(segmentExists(name)).toBe(false)
  })
})

describe('Semaphore.open(name, { create })', () => {
  it('creates with the value and options given, or attaches to the existing one', () => {
    const name = uniqueName('create')
    const first = Semaphore.open(name, { create: { value: 3 } })
    onTestFinished(() => first.close())
    expect(first.created).toBe(true)
    expect(first.value).toBe(3)
    const second = Semaphore.open(name, { create: { value: 10 } })
    onTestFinished(() => second.close())
    expect(second.created).toBe(false)
    expect(second.value).toBe(3)
    const defaults = Semaphore.open(uniqueName('create'), { create: true })
    onTestFinished(() => defaults.close())
    expect([defaults.created, defaults.value, defaults.persistent]).toEqual([true, 1, false])
    const bounded = BoundedSemaphore.open(uniqueName('create'), { create: { value: 2 } })
    onTestFinished(() => bounded.close())
    expect([bounded.created, bounded.value, bounded.initialValue]).toEqual([true, 2, 2])
  })

  it('validates `create` like the constructor, before creating anything', () => {
    const name = uniqueName('create')
    expect(() => Semaphore.open(name, { create: { value: -1 } })).toThrow(RangeError)
    expect(() => Semaphore.open(name, { create: { value: 'x' as never } })).toThrow(TypeError)
    expect(() => Semaphore.open(name, { create: { reclaim: 1 as never } })).toThrow(TypeError)
    expect(() => Semaphore.open(name, { create: { persistent: 1 as never } })).toThrow(TypeError)
    expect(() => BoundedSemaphore.open(name, { create: { value: 0 } })).toThrow(RangeError)
    expect(segmentExists(name)).toBe(false)
  })

  it('still throws NotFoundError without `create`, and IncompatibleError for another kind', () => {
    const name = uniqueName('create')
    expect(() => Semaphore.open(name)).toThrow(NotFoundError)
    expect(() => Semaphore.open(name, { create: false })).toThrow(NotFoundError)
    const other = Segment.create({ kind: 'queue', version: 1 }, 64, { name })
    onTestFinished(() => other.close())
    expect(() => Semaphore.open(name, { create: true })).toThrow(IncompatibleError)
    const sem = new Semaphore(1, { name: uniqueName('create') })
    onTestFinished(() => sem.close())
    expect(() => BoundedSemaphore.open(sem.name, { create: true })).toThrow(IncompatibleError)
  })
})

describe.each(['Semaphore', 'BoundedSemaphore'] as const)('%s with persistent: true', (className) => {
  it('keeps the semaphore and its count after the last object closes, until unlink()', () => {
    const name = uniqueName('keep')
    const sem = new classes[className](3, { name, persistent: true })
    expect(sem.persistent).toBe(true)
    sem.acquireSync()
    if (className === 'Semaphore') sem.release(2) // 3 - 1 + 2 = 4
    sem.close()
    expect(segmentExists(name)).toBe(true)
    const again = classes[className].open(name)
    expect(again.persistent).toBe(true)
    expect(again.value).toBe(className === 'Semaphore' ? 4 : 3)
    again.unlink()
    again.close()
    expect(segmentExists(name)).toBe(false)
  })

  it('outlives its creator (normal exit, then SIGKILL) and the cleanup scan', { timeout: 30_000 }, async () => {
    for (const mode of ['exit', 'wait'] as const) {
      const name = uniqueName('keep')
      const child = spawnChild(owner, [className, name, mode])
      await child.waitFor('ready')
      if (mode === 'wait') child.child.kill('SIGKILL')
      expect(await child.exited).toBe(mode === 'exit' ? 0 : -9)
      // A create and an open of other names run the scan that removes dead segments.
      const other = new Semaphore(1, { name: uniqueName('scan') })
      Semaphore.open(other.name).close()
      other.close()
      expect(segmentExists(name)).toBe(true)
      const sem = classes[className].open(name)
      // A normal exit closes the creator, which gives its 2 permits back; with
      // reclaim off a SIGKILL leaves them taken.
      expect(sem.value).toBe(mode === 'exit' ? 5 : 3)
      sem.unlink()
      sem.close()
      expect(segmentExists(name)).toBe(false)
    }
  })

  it('gives back the permits of a killed holder to a later opener (reclaim)', { timeout: 30_000 }, async () => {
    const name = uniqueName('keep')
    const child = spawnChild(owner, [className, name, 'wait', 'reclaim'])
    await child.waitFor('ready')
    child.child.kill('SIGKILL')
    expect(await child.exited).toBe(-9)
    const sem = classes[className].open(name)
    onTestFinished(() => {
      sem.unlink()
      sem.close()
    })
    // 3 free now; the 4th and 5th come back from the dead holder (a waiting acquire reaps it).
    for (let i = 0; i < 5; i++) expect(await sem.acquire({ timeout: 5000 })).toBe(true)
    expect(sem.value).toBe(0)
  })
})
