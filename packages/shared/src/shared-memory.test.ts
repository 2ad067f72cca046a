import { existsSync } from 'node:fs'
import { inspect } from 'node:util'
import { ClosedError, ExistsError, IncompatibleError, NotFoundError } from '@ipc/core'
import { TRANSFER } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SharedMemory } from './shared-memory.js'
import { SharedValue } from './shared-value.js'

function track<V extends { close(): void }>(value: V): V {
  onTestFinished(() => value.close())
  return value
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('Expected the call to throw')
}

describe('SharedMemory.create()', () => {
  it('makes a zeroed block of exactly `size` bytes, 64-byte aligned', () => {
    for (const size of [1, 3, 10, 4096, 100_001]) {
      const shm = track(SharedMemory.create({ size }))
      expect(shm.size).toBe(size)
      expect(shm.buf).toBeInstanceOf(Uint8Array)
      expect(shm.buf.length).toBe(size)
      expect(shm.buf.byteOffset % 64).toBe(0)
      expect(shm.buf.every((b) => b === 0)).toBe(true)
    }
    expect(track(new SharedMemory({ size: 8 })).size).toBe(8)
  })

  it('rejects sizes that are not positive integers, creating nothing', () => {
    const name = uniqueName('shm')
    for (const size of [0, -1, 1.5, Number.NaN])
      expect(thrown(() => SharedMemory.create({ size, name }))).toBeInstanceOf(RangeError)
    expect(thrown(() => SharedMemory.create({ size: '8' as never, name }))).toBeInstanceOf(TypeError)
    expect(thrown(() => SharedMemory.create(undefined as never))).toBeInstanceOf(TypeError)
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })

  it('throws ExistsError for a name that exists', () => {
    const shm = track(SharedMemory.create({ size: 8, name: uniqueName('shm') }))
    expect(thrown(() => SharedMemory.create({ size: 8, name: shm.name }))).toBeInstanceOf(ExistsError)
  })
})

describe('SharedMemory.open()', () => {
  it('refuses an option name it does not know, naming the one meant', () => {
    expect(() => SharedMemory.create({ size: 64, persistant: true } as never)).toThrow(/Did you mean "persistent"/)
    expect(() => SharedMemory.open(uniqueName('shm'), { create: { sise: 64 } } as never)).toThrow(/Did you mean "size"/)
    expect(() => SharedMemory.open(uniqueName('shm'), { crate: { size: 64 } } as never)).toThrow(
      /Did you mean "create"/,
    )
    // raw: false is a known option of open (it was refused as unknown by the first version of the check).
    const shm = SharedMemory.open(uniqueName('shm'), { raw: false, create: { size: 64 } })
    onTestFinished(() => shm.close())
    expect(shm.size).toBe(64)
  })

  it('shares the bytes with every opener', () => {
    const shm = track(SharedMemory.create({ size: 16, name: uniqueName('shm') }))
    const other = track(SharedMemory.open(shm.name))
    expect(other.size).toBe(16)
    shm.buf.set([1, 2, 3], 5)
    expect([...other.buf.subarray(5, 8)]).toEqual([1, 2, 3])
    new Float64Array(other.buf.buffer, other.buf.byteOffset, 2)[1] = 0.5
    expect(new Float64Array(shm.buf.buffer, shm.buf.byteOffset, 2)[1]).toBe(0.5)
    expect(track(SharedMemory.from(JSON.parse(JSON.stringify(shm.handle)))).buf[5]).toBe(1)
  })

  it('throws NotFoundError for a missing name and IncompatibleError for another kind', () => {
    expect(thrown(() => SharedMemory.open(uniqueName('missing')))).toBeInstanceOf(NotFoundError)
    const value = track(new SharedValue('int32', 1, { name: uniqueName('value') }))
    expect(thrown(() => SharedMemory.open(value.name))).toBeInstanceOf(IncompatibleError)
  })
})

describe('SharedMemory#close() and #unlink()', () => {
  it('closes idempotently, then buf throws ClosedError; the last close removes the memory', () => {
    const shm = SharedMemory.create({ size: 8 })
    const path = `/dev/shm/ipc-${shm.name}`
    expect(existsSync(path)).toBe(true)
    shm.close()
    shm[Symbol.dispose]()
    expect(shm.closed).toBe(true)
    expect(thrown(() => shm.buf)).toBeInstanceOf(ClosedError)
    expect(existsSync(path)).toBe(false)
  })

  it('unlink removes the name; attached objects keep their bytes', () => {
    const shm = track(SharedMemory.create({ size: 8 }))
    const other = track(SharedMemory.open(shm.name))
    shm.unlink()
    expect(thrown(() => SharedMemory.open(shm.name))).toBeInstanceOf(NotFoundError)
    other.buf[0] = 9
    expect(shm.buf[0]).toBe(9)
  })
})

describe('SharedMemory handle, transfer and inspect', () => {
  it('describes itself', () => {
    const shm = track(SharedMemory.create({ size: 8, name: uniqueName('shm') }))
    expect(shm.handle).toEqual({ kind: 'shared-memory', name: shm.name, size: 8 })
    expect(shm[TRANSFER]().export).toBe('SharedMemory')
    expect(inspect(shm)).toBe(`SharedMemory { name: '${shm.name}', size: 8 }`)
  })
})

describe('SharedMemory with raw: true', () => {
  it('maps the whole object by its exact name: handle, from, inspect and transfer carry raw', () => {
    const name = uniqueName('raw')
    const shm = track(SharedMemory.create({ size: 12, name, raw: true }))
    expect(existsSync(`/dev/shm/${name}`)).toBe(true)
    expect(shm.raw).toBe(true)
    expect(shm.created).toBe(true)
    expect(shm.buf.byteLength).toBe(12)
    expect(shm.handle).toEqual({ kind: 'shared-memory', name, size: 12, raw: true })
    expect(shm[TRANSFER]().handle).toEqual(shm.handle)
    expect(inspect(shm)).toBe(`SharedMemory { name: '${name}', size: 12, raw: true }`)
    shm.buf[11] = 7
    const other = track(SharedMemory.from(shm.handle))
    expect(other.raw).toBe(true)
    expect(other.created).toBe(false)
    expect(other.buf[11]).toBe(7)
    other.close()
    expect(existsSync(`/dev/shm/${name}`)).toBe(true) // an opener's close leaves the name
    shm.close()
    expect(existsSync(`/dev/shm/${name}`)).toBe(false) // the creator's close unlinks it
    expect(() => shm.buf).toThrow(ClosedError)
  })

  it('from() refuses a raw handle of another kind or shape with TypeError, mapping nothing', () => {
    const name = uniqueName('raw')
    const shm = track(SharedMemory.create({ size: 4, name, raw: true }))
    for (const handle of [
      { kind: 'shared-value', name, raw: true },
      { kind: 'shared-array', name, size: 4, raw: true },
      { name, raw: true },
    ]) {
      const error = thrown(() => SharedMemory.from(handle as never))
      expect(error).toBeInstanceOf(TypeError)
      expect(error.code).toBe('ERR_INVALID_ARG_TYPE')
    }
    expect(thrown(() => SharedMemory.from({ kind: 'shared-value', name, raw: true } as never)).message).toBe(
      'The handle is of a shared-value, expected a shared-memory',
    )
    expect(() => SharedMemory.from({ kind: 'shared-memory', name: 5, raw: true } as never)).toThrow(TypeError)
    expect(() => SharedMemory.from({ kind: 'shared-memory', name, raw: 'yes' } as never)).toThrow(TypeError)
    expect(() => SharedMemory.from(null as never)).toThrow(TypeError)
    // The right kind still opens it.
    expect(track(SharedMemory.from(shm.handle)).buf.byteLength).toBe(4)
  })

  it('gives a random psm_ name when none is given, and refuses a bad raw option', () => {
    const shm = track(SharedMemory.create({ size: 1, raw: true }))
    expect(shm.name).toMatch(/^psm_[0-9a-f]{16}$/)
    expect(() => SharedMemory.create({ size: 1, raw: 'yes' as never })).toThrow(TypeError)
    expect(() => SharedMemory.open(shm.name)).toThrow(NotFoundError) // not an @ipc segment of that name
  })
})
