/**
 * Segments outlive no one: the last detach unlinks, a normal exit closes, and
 * a segment whose attachers were all SIGKILLed is reclaimed by the next
 * create/open in any process.
 */
import { existsSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { Segment } from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const KIND = { kind: 'test-xproc', version: 1 }
const participant = new URL('./fixtures/participant.mjs', import.meta.url)

function exists(name: string): boolean {
  return existsSync(`/dev/shm/ipc-${name}`)
}

describe('segment cleanup', () => {
  it('a worker thread terminated while attached leaves a dead slot that is reaped, and the last close unlinks', {
    timeout: 20_000,
  }, async () => {
    const segment = Segment.create(KIND, 8)
    const reaped: number[] = []
    const source = `
      import { Segment } from '@ipc/core/internal'
      import { parentPort, workerData } from 'node:worker_threads'
      const s = Segment.open(workerData.kind, workerData.name)
      parentPort.postMessage(s.slot)
      setInterval(() => {}, 1000)`
    const worker = new Worker(source, { eval: true, workerData: { kind: KIND, name: segment.name } })
    const slot = await new Promise<number>((resolve) => worker.once('message', resolve))
    expect(segment.slotAlive(slot)).toBe(true)
    await worker.terminate()
    // worker.terminate() runs no JS exit handler: the addon marks the slot dead.
    expect(segment.slotAlive(slot)).toBe(false)
    const again = Segment.open(KIND, segment.name, { onReap: (s) => reaped.push(s) })
    expect(again.reap()).toBe(1)
    expect(reaped).toEqual([slot])
    again.close()
    const name = segment.name
    segment.close()
    expect(exists(name)).toBe(false)
  })

  it('a segment whose creator was SIGKILLed is reclaimed by the next create in another process', {
    timeout: 20_000,
  }, async () => {
    const name = uniqueName('killed')
    const creator = spawnChild(participant, ['create-hold', name])
    await creator.waitFor('READY')
    expect(exists(name)).toBe(true)
    creator.child.kill('SIGKILL')
    expect(await creator.exited).toBe(-9)
    // Nobody closed it: it is still there.
    expect(exists(name)).toBe(true)
    const other = Segment.create(KIND, 8)
    other.close()
    expect(exists(name)).toBe(false)
  })

  it('a segment whose attachers all died is reclaimed by an open in a third process', { timeout: 20_000 }, async () => {
    const name = uniqueName('killed')
    const creator = spawnChild(participant, ['create-hold', name])
    await creator.waitFor('READY')
    const opener = spawnChild(participant, ['open-hold', name])
    await opener.waitFor('READY')
    creator.child.kill('SIGKILL')
    opener.child.kill('SIGKILL')
    await Promise.all([creator.exited, opener.exited])
    expect(exists(name)).toBe(true)
    // The third process opens a name that does not exist; on the way it reclaims.
    const third = spawnChild(participant, ['reap', uniqueName('missing')])
    expect(await third.exited).toBe(1)
    expect(third.stderr()).toContain('NotFoundError')
    expect(exists(name)).toBe(false)
  })

  it('a SIGKILLed participant does not keep the segment: the survivor’s close unlinks it', {
    timeout: 20_000,
  }, async () => {
    const segment = Segment.create(KIND, 64, { name: uniqueName('survivor') })
    onTestFinished(() => segment.close())
    const child = spawnChild(participant, ['open-hold', segment.name])
    await child.waitFor('READY')
    const slot = Number(/READY (\d+)/.exec(child.stdout())?.[1])
    expect(segment.slotAlive(slot)).toBe(true)
    child.child.kill('SIGKILL')
    await child.exited
    expect(segment.slotAlive(slot)).toBe(false)
    segment.close()
    expect(exists(segment.name)).toBe(false)
  })

  it('a dead participant’s slot is reaped exactly once across processes', { timeout: 20_000 }, async () => {
    const reapedHere: number[] = []
    const segment = Segment.create(KIND, 64, { name: uniqueName('reap'), onReap: (slot) => reapedHere.push(slot) })
    onTestFinished(() => segment.close())
    const victim = spawnChild(participant, ['open-hold', segment.name])
    await victim.waitFor('READY')
    const slot = Number(/READY (\d+)/.exec(victim.stdout())?.[1])
    victim.child.kill('SIGKILL')
    await victim.exited
    const reaper = spawnChild(participant, ['reap', segment.name])
    expect(await reaper.exited).toBe(0)
    expect(reaper.stdout()).toContain(`REAPED 1 ${slot}`)
    expect(segment.reap()).toBe(0)
    expect(reapedHere).toEqual([])
    expect(segment.slotOwner(slot)).toBeUndefined()
  })

  it('a process that exits without closing leaves nothing behind', { timeout: 20_000 }, async () => {
    const name = uniqueName('exit')
    const child = spawnChild(participant, ['create-exit', name])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('CREATED')
    expect(exists(name)).toBe(false)
  })

  it('a close() that throws at exit is reported on stderr; the other objects still close and the exit code stays', {
    timeout: 20_000,
  }, async () => {
    const name = uniqueName('exit-throws')
    const child = spawnChild(participant, ['close-throws-exit', name])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toBe('CREATED\nSECOND CLOSED\n')
    expect(child.stderr()).toContain('@ipc: a close() at exit threw; the other objects were closed:')
    expect(child.stderr()).toContain('Error: close failed on purpose')
    expect(exists(name)).toBe(false)
  })

  it('a process that exits without closing keeps a segment others still use', { timeout: 20_000 }, async () => {
    const segment = Segment.create(KIND, 64, { name: uniqueName('shared') })
    onTestFinished(() => segment.close())
    const child = spawnChild(participant, ['add', segment.name, '10'])
    expect(await child.exited).toBe(0)
    expect(exists(segment.name)).toBe(true)
    expect(Atomics.load(segment.i32, segment.dataOffset / 4)).toBe(10)
  })
})
