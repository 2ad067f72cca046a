/**
 * `SharedMemory.open(name, { create })` across racing processes (exactly one
 * creates, all map the same bytes), and `persistent: true` blocks that
 * outlive their creator (normal exit and SIGKILL) and the cleanup scan,
 * until `unlink()`.
 */
import { existsSync } from 'node:fs'
import { Segment } from '@ipc/core/internal'
import { IncompatibleError, NotFoundError, SharedMemory } from '@ipc/shared'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const racer = new URL('./fixtures/open-or-create.mjs', import.meta.url)
const owner = new URL('./fixtures/persistent-owner.mjs', import.meta.url)
const CHILDREN = 8

function segmentExists(name: string): boolean {
  return existsSync(`/dev/shm/ipc-${name}`)
}

describe('SharedMemory.open(name, { create }) racing', () => {
  it(`lets exactly one of ${CHILDREN} racing processes create, and all map one block`, {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('race')
    const children = Array.from({ length: CHILDREN }, () => spawnChild(racer, [name]))
    await Promise.all(children.map((child) => child.waitFor('armed', 30_000)))
    const startAt = Date.now() + 100
    for (const child of children) child.child.send({ startAt })
    await Promise.all(children.map((child) => child.waitFor('}', 30_000)))
    const reports = children.map(
      (child) => JSON.parse(child.stdout().replace('armed', '').trim()) as { created: boolean; size: number },
    )
    expect(reports.filter((report) => report.created)).toHaveLength(1)
    const shm = SharedMemory.open(name)
    expect([shm.created, shm.size]).toEqual([false, 64])
    expect(new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 16)[0]).toBe(CHILDREN)
    for (const child of children) child.child.send('exit')
    expect(await Promise.all(children.map((child) => child.exited))).toEqual(children.map(() => 0))
    shm.close()
    expect(segmentExists(name)).toBe(false)
  })
})

describe('SharedMemory.open(name, { create })', () => {
  it('creates with the size given, or attaches and keeps the existing size', () => {
    const name = uniqueName('create')
    const first = SharedMemory.open(name, { create: { size: 24 } })
    onTestFinished(() => first.close())
    expect([first.created, first.size]).toEqual([true, 24])
    const second = SharedMemory.open(name, { create: { size: 1000 } })
    onTestFinished(() => second.close())
    expect([second.created, second.size]).toEqual([false, 24])
    first.buf[0] = 9
    expect(second.buf[0]).toBe(9)
  })

  it('validates `create` like create(), before creating anything', () => {
    const name = uniqueName('create')
    expect(() => SharedMemory.open(name, { create: { size: 0 } })).toThrow(RangeError)
    expect(() => SharedMemory.open(name, { create: true as never })).toThrow(TypeError)
    expect(() => SharedMemory.open(name, { create: { size: 8, persistent: 1 as never } })).toThrow(TypeError)
    expect(segmentExists(name)).toBe(false)
  })

  it('still throws NotFoundError without `create`, and IncompatibleError for another kind', () => {
    const name = uniqueName('create')
    expect(() => SharedMemory.open(name)).toThrow(NotFoundError)
    const other = Segment.create({ kind: 'queue', version: 1 }, 64, { name })
    onTestFinished(() => other.close())
    expect(() => SharedMemory.open(name, { create: { size: 8 } })).toThrow(IncompatibleError)
  })
})

describe('SharedMemory with persistent: true', () => {
  it('keeps the bytes after the last object closes, until unlink()', () => {
    const name = uniqueName('keep')
    const shm = SharedMemory.create({ name, size: 8, persistent: true })
    expect(shm.persistent).toBe(true)
    shm.buf[1] = 7
    shm.close()
    expect(segmentExists(name)).toBe(true)
    const again = SharedMemory.open(name)
    expect([again.persistent, again.buf[1]]).toEqual([true, 7])
    again.unlink()
    again.close()
    expect(segmentExists(name)).toBe(false)
  })

  it('outlives its creator (normal exit, then SIGKILL) and the cleanup scan', { timeout: 30_000 }, async () => {
    for (const mode of ['exit', 'wait'] as const) {
      const name = uniqueName('keep')
      const child = spawnChild(owner, [name, mode])
      await child.waitFor('ready')
      if (mode === 'wait') child.child.kill('SIGKILL')
      expect(await child.exited).toBe(mode === 'exit' ? 0 : -9)
      // A create and an open of other names run the scan that removes dead segments.
      const other = SharedMemory.create({ size: 8, name: uniqueName('scan') })
      SharedMemory.open(other.name).close()
      other.close()
      expect(segmentExists(name)).toBe(true)
      const shm = SharedMemory.open(name)
      expect(shm.buf[3]).toBe(42)
      shm.unlink()
      shm.close()
      expect(segmentExists(name)).toBe(false)
    }
  })
})
