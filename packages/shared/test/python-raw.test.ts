// SharedMemory({ raw: true }) and Python's multiprocessing.shared_memory on the same block,
// each side creating it in turn; real python3 processes.
import { existsSync } from 'node:fs'
import { hasPython, spawnPython, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ExistsError, NotFoundError, PermissionError, SharedMemory } from '../src/index.js'

const script = new URL('./fixtures/python_shm.py', import.meta.url)

describe.skipIf(!hasPython())('SharedMemory with raw: true and Python', () => {
  it('makes a block Python opens by name; the creator’s close unlinks it', async () => {
    const name = uniqueName('raw')
    const shm = SharedMemory.create({ size: 4096, name, raw: true })
    onTestFinished(() => shm.close())
    expect(existsSync(`/dev/shm/${name}`)).toBe(true)
    shm.buf.set(Buffer.from('from node'), 0)
    const python = spawnPython(script, ['open', name])
    await python.waitFor('done')
    expect(python.stdout()).toContain('size 4096 first from node')
    expect(Buffer.from(shm.buf.subarray(0, 9)).toString('latin1')).toBe('pyom node')
    expect(await python.exited).toBe(0)
    expect(existsSync(`/dev/shm/${name}`)).toBe(true) // Python's tracker left it alone
    shm.close()
    expect(existsSync(`/dev/shm/${name}`)).toBe(false)
  })

  it('opens a block Python made; closing leaves it to Python, which unlinks it', async () => {
    const name = uniqueName('raw')
    const python = spawnPython(script, ['create', name])
    await python.waitFor('ready')
    const shm = SharedMemory.open(name, { raw: true })
    expect(shm.raw).toBe(true)
    expect(shm.size).toBe(16)
    expect(Buffer.from(shm.buf.subarray(0, 11)).toString('latin1')).toBe('from python')
    shm.buf.set(Buffer.from('FROM'), 0)
    const again = SharedMemory.from(shm.handle)
    expect(again.buf[0]).toBe(0x46)
    again.close()
    shm.close()
    expect(existsSync(`/dev/shm/${name}`)).toBe(true)
    python.child.stdin?.write('go\n')
    await python.waitFor('now FROM python')
    expect(await python.exited).toBe(0)
    expect(existsSync(`/dev/shm/${name}`)).toBe(false)
  })
})

describe('SharedMemory with raw: true', () => {
  it('keeps a persistent block after close until unlink(), and refuses taken and @ipc names', () => {
    const name = uniqueName('raw')
    const shm = SharedMemory.create({ size: 10, name, raw: true, persistent: true })
    expect(() => SharedMemory.create({ size: 10, name, raw: true })).toThrow(ExistsError)
    shm.close()
    const again = SharedMemory.open(name, { raw: true })
    expect(again.size).toBe(10)
    again.unlink()
    again.close()
    expect(() => SharedMemory.open(name, { raw: true })).toThrow(NotFoundError)
    expect(() => SharedMemory.open('ipc-anything', { raw: true })).toThrow(/must not start with "ipc-"/)
    expect(() => SharedMemory.open(name, { raw: true, create: { size: 1 } } as never)).toThrow(TypeError)
  })

  it('refuses a block other users may open (mode 0644) with PermissionError, mapping nothing', async () => {
    const { openSync, closeSync, ftruncateSync, unlinkSync } = await import('node:fs')
    const name = uniqueName('raw')
    const fd = openSync(`/dev/shm/${name}`, 'wx', 0o644)
    ftruncateSync(fd, 64)
    closeSync(fd)
    onTestFinished(() => unlinkSync(`/dev/shm/${name}`))
    expect(() => SharedMemory.open(name, { raw: true })).toThrow(PermissionError)
  })
})
