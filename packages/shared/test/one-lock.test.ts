/**
 * The lock of a SharedValue is @ipc/semaphore's Lock or RLock, the same in
 * every process: values opened by name attach to the lock their creator
 * gave them, several values can share one lock, and a timeout throws core's
 * TimeoutError.
 */
import { existsSync } from 'node:fs'
import { Segment } from '@ipc/core/internal'
import { Lock, RLock } from '@ipc/semaphore'
import { CorruptError, NotFoundError, RawValue, SharedArray, SharedValue, TimeoutError } from '@ipc/shared'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const participant = new URL('./fixtures/shared-participant.mjs', import.meta.url)

function track<V extends { close(): void }>(value: V): V {
  onTestFinished(() => value.close())
  return value
}

describe('SharedValue.open(name) in another process', () => {
  it('gets the same RLock: 3 processes and this thread increment under it and lose nothing', {
    timeout: 60_000,
  }, async () => {
    const counter = track(new SharedValue('int32', 0, { name: uniqueName('value') }))
    expect(counter.getLock()).toBeInstanceOf(RLock)
    const children = [1, 2, 3].map(() => spawnChild(participant, ['open-increments', counter.name, '30000']))
    const lock = counter.getLock()
    for (let i = 0; i < 30_000; i++) {
      lock.acquireSync()
      counter.value += 1
      lock.release()
      if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
    expect(counter.value).toBe(120_000)
  })
})

describe('several values under one lock', () => {
  for (const Class of [Lock, RLock]) {
    it(`keeps two SharedValues under one ${Class.name} mutually exclusive across processes`, {
      timeout: 60_000,
    }, async () => {
      const lock = track(new Class())
      const a = track(new SharedValue('int32', 0, { lock, name: uniqueName('a') }))
      const b = track(new SharedValue('int32', 0, { lock, name: uniqueName('b') }))
      expect(a.getLock()).toBe(lock)
      expect(b.getLock()).toBe(lock)
      const names = JSON.stringify({ a: a.name, b: b.name })
      const children = [1, 2, 3].map(() => spawnChild(participant, ['pair-increments', names, '20000']))
      expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
      for (const child of children) expect(child.stdout()).toContain('DONE true')
      expect(a.value).toBe(60_000)
      expect(b.value).toBe(60_000)
      // The values did not close the lock they were given.
      expect(lock.closed).toBe(false)
      a.close()
      b.close()
      expect(lock.tryAcquire()).toBe(true)
      lock.release()
    })
  }

  it('lets a process nest withLockSync of two values under one RLock', { timeout: 60_000 }, async () => {
    const lock = track(new RLock())
    const a = track(new SharedValue('int32', 0, { lock }))
    const b = track(new SharedArray('int32', 1, { lock }))
    const c = track(new SharedValue('int32', 0, { lock }))
    expect(a.withLockSync(() => b.withLockSync(() => lock.owned))).toBe(true)
    const names = JSON.stringify({ a: a.name, b: c.name })
    const children = [1, 2].map(() => spawnChild(participant, ['nested-increments', names, '5000']))
    expect(await Promise.all(children.map((child) => child.exited))).toEqual([0, 0])
    expect(a.value).toBe(10_000)
    expect(c.value).toBe(10_000)
  })

  it('refuses a lock option that is not true, false, a Lock or an RLock', () => {
    expect(() => new SharedValue('int32', 0, { lock: {} as never })).toThrow(TypeError)
    expect(() => new SharedValue('int32', 0, { lock: 'yes' as never })).toThrow(TypeError)
    const closed = new Lock()
    closed.close()
    expect(() => new SharedValue('int32', 0, { lock: closed })).toThrow(`Cannot use lock "${closed.name}"`)
  })
})

describe('SharedValue#withLock() timeouts', () => {
  it("throws core's TimeoutError while another process holds the lock", { timeout: 30_000 }, async () => {
    const value = track(new SharedValue('int32', 0))
    const holder = spawnChild(participant, ['hold', JSON.stringify(value.handle)])
    await holder.waitFor('HELD')
    let ran = false
    const run = () => {
      ran = true
    }
    await expect(value.withLock(run, { timeout: 30 })).rejects.toBeInstanceOf(TimeoutError)
    expect(() => value.withLockSync(run, { timeout: 30 })).toThrow(TimeoutError)
    expect(ran).toBe(false)
    holder.child.kill('SIGKILL')
    await holder.exited
  })
})

describe('the lock made for a value (lock: true)', () => {
  it('lives and dies with the value: unlinked with it, removed with its last object', () => {
    const value = new SharedValue('int32', 0)
    const lock = value.getLock()
    expect(existsSync(`/dev/shm/ipc-${lock.name}`)).toBe(true)
    value.unlink()
    expect(() => RLock.open(lock.name)).toThrow(NotFoundError)
    value.close()
    expect(lock.closed).toBe(true)

    const other = new SharedValue('int32', 0)
    const its = other.getLock().name
    other.close()
    expect(existsSync(`/dev/shm/ipc-${its}`)).toBe(false)
  })

  it('is re-created for an opener if its last object closed first (the value still exists)', () => {
    const value = track(new SharedValue('int32', 0, { name: uniqueName('value') }))
    const raw = track(SharedValue.open(value.name))
    const name = value.getLock().name
    value.close()
    raw.getLock().close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
    const again = track(SharedValue.open(raw.name))
    expect(again.getLock().name).toBe(name)
    expect(again.getLock().tryAcquire()).toBe(true)
    again.getLock().release()
  })
})

describe('a persistent value', () => {
  it('outlives its SIGKILLed creator with its lock, until unlink (also through a RawValue)', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('persistent')
    const creator = spawnChild(participant, ['persistent', name])
    await creator.waitFor('CREATED')
    const lockName = creator.stdout().trim().split(' ')[1] as string
    creator.child.kill('SIGKILL')
    await creator.exited
    const value = SharedValue.open(name, 'int32')
    expect(value.getLock().name).toBe(lockName)
    expect(value.withLockSync(() => ++value.value)).toBe(7)
    value.close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(true)
    expect(existsSync(`/dev/shm/ipc-${lockName}`)).toBe(true)
    const raw = RawValue.open(name)
    raw.unlink()
    raw.close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
    expect(existsSync(`/dev/shm/ipc-${lockName}`)).toBe(false)
  })
})

describe('SharedValue.open(name, type, { create })', () => {
  it('attaches 6 racing processes to one value and one lock: no increment is lost', { timeout: 60_000 }, async () => {
    const name = uniqueName('race')
    const children = Array.from({ length: 6 }, () => spawnChild(participant, ['race-open', name, '5000']))
    const codes = await Promise.all(children.map((child) => child.exited))
    expect(codes, children.map((child) => child.stderr()).join('\n')).toEqual([0, 0, 0, 0, 0, 0])
    const value = SharedValue.open(name, 'int32')
    try {
      expect(value.value).toBe(30_000)
    } finally {
      value.unlink()
      value.close()
    }
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })

  it('creates with the options in create, attaches when the name exists, and needs the type to create', () => {
    const name = uniqueName('value')
    expect(() => SharedValue.open(name)).toThrow(NotFoundError)
    expect(() => SharedValue.open(name, undefined, { create: true })).toThrow(TypeError)
    const made = track(SharedValue.open(name, 'float64', { create: { initial: 1.5, lock: false } }))
    expect(made.value).toBe(1.5)
    expect(made.hasLock).toBe(false)
    const again = track(SharedValue.open(name, 'float64', { create: { initial: 9 } }))
    expect(again.value).toBe(1.5)
    expect(() => SharedValue.open(name, 'int32', { create: true })).toThrow('it holds float64')
    const arrayName = uniqueName('array')
    expect(() => SharedArray.open(arrayName, 'int32', { create: true as never })).toThrow(TypeError)
    const array = track(SharedArray.open(arrayName, 'int32', { create: { lengthOrValues: [1, 2, 3] } }))
    expect(array.toArray()).toEqual([1, 2, 3])
    const same = track(SharedArray.open(arrayName, 'int32', { create: { lengthOrValues: 1 } }))
    expect(same.length).toBe(3)
    expect(same.getLock().name).toBe(array.getLock().name)
  })
})

describe('a corrupt lock record', () => {
  it('makes open throw CorruptError', () => {
    const value = track(new SharedValue('int32', 0, { name: uniqueName('value') }))
    const segment = Segment.open({ kind: 'shared-value', version: 2 }, value.name)
    try {
      const kindWord = (segment.dataOffset + 12) / 4
      Atomics.store(segment.i32, kindWord, 7)
      expect(() => SharedValue.open(value.name)).toThrow(CorruptError)
      Atomics.store(segment.i32, kindWord, 2)
      const bytesWord = (segment.dataOffset + 24) / 4
      const bytes = Atomics.load(segment.i32, bytesWord)
      Atomics.store(segment.i32, bytesWord, 100_000)
      expect(() => SharedValue.open(value.name)).toThrow(CorruptError)
      // A lock name that breaks the name rules ('.', '..') is the memory's fault, not an argument's.
      const nameBytes = new Uint8Array(segment.buffer, segment.dataOffset + 32, 2)
      const saved = nameBytes.slice()
      for (const bad of ['.', '..']) {
        Atomics.store(segment.i32, bytesWord, bad.length)
        nameBytes.set(Buffer.from(bad.padEnd(2, '\0')))
        expect(() => SharedValue.open(value.name)).toThrow(CorruptError)
        expect(() => SharedValue.open(value.name)).toThrow('its lock name is not a valid name')
      }
      nameBytes.set(saved)
      Atomics.store(segment.i32, bytesWord, bytes)
      track(SharedValue.open(value.name))
    } finally {
      segment.close()
    }
  })
})
