import { describe, expect, it, onTestFinished } from 'vitest'
import { checkHandle, isTransferable, revive, TRANSFER } from './handle.js'

const counterModule = new URL('../../test/fixtures/counter.mjs', import.meta.url).href

describe('checkHandle()', () => {
  it('returns a handle of the expected kind', () => {
    const handle = { kind: 'queue', name: 'jobs', capacity: 10 }
    expect(checkHandle(handle, 'queue')).toBe(handle)
    expect(checkHandle(handle, ['pipe', 'queue'])).toBe(handle)
  })

  it('rejects what is not a handle, or a handle of another kind, with TypeError', () => {
    const cases: [unknown, string][] = [
      [null, 'The handle must be an object from .handle, received null'],
      ['jobs', 'The handle must be an object from .handle, received string'],
      [{ kind: 'queue' }, 'The handle must have string "kind" and "name" fields (use the .handle of a primitive)'],
      [{ kind: 'pipe', name: 'p' }, 'The handle is of a pipe, expected a queue or lock'],
    ]
    for (const [value, message] of cases) {
      expect(() => checkHandle(value, ['queue', 'lock'])).toThrow(message)
      expect(() => checkHandle(value, ['queue', 'lock'])).toThrow(TypeError)
    }
  })
})

describe('isTransferable()', () => {
  it('is true for objects with a [TRANSFER] method only', () => {
    expect(isTransferable({ [TRANSFER]: () => ({}) })).toBe(true)
    expect(isTransferable({ [TRANSFER]: 1 })).toBe(false)
    expect(isTransferable({})).toBe(false)
    expect(isTransferable(null)).toBe(false)
    expect(isTransferable('x')).toBe(false)
    expect(TRANSFER).toBe(Symbol.for('@ipc/transfer'))
  })
})

describe('revive()', () => {
  it('imports the module by URL and calls the export’s from(handle)', async () => {
    const { Counter } = (await import(counterModule)) as {
      Counter: { create(): { name: string; add(n: number): number; close(): void; [TRANSFER](): never } }
    }
    const original = Counter.create()
    onTestFinished(() => original.close())
    const copy = (await revive(original[TRANSFER]())) as { name: string; value: number; close(): void }
    onTestFinished(() => copy.close())
    expect(copy.name).toBe(original.name)
    original.add(3)
    expect(copy.value).toBe(3)
  })

  it('throws TypeError when the module has no such export', async () => {
    await expect(
      revive({ module: counterModule, export: 'Missing', handle: { kind: 'test-counter', name: 'x' } }),
    ).rejects.toThrow(`Cannot revive a test-counter: ${counterModule} has no export "Missing"`)
  })
})
