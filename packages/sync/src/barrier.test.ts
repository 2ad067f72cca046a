import { inspect } from 'node:util'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { Barrier } from './barrier.js'
import { BrokenBarrierError, ClosedError, NotFoundError } from './errors.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

describe('Barrier#wait()', () => {
  it('releases the parties together with the indexes 0 … parties-1 in arrival order, generation after generation', async () => {
    const barrier = track(new Barrier(3, { name: uniqueName() }))
    const others = [track(Barrier.open(barrier.name)), track(Barrier.from(barrier.handle))]
    for (let generation = 0; generation < 20; generation++) {
      const first = barrier.wait()
      await tick(1)
      expect(barrier.nWaiting).toBe(1)
      const second = others[0]?.wait() as Promise<number>
      const third = others[1]?.wait() as Promise<number>
      await expect(Promise.all([first, second, third])).resolves.toEqual([0, 1, 2])
    }
    expect(barrier.nWaiting).toBe(0)
    expect(barrier.parties).toBe(3)
  })

  it('breaks at a timeout: every waiter throws BrokenBarrierError until reset()', async () => {
    const barrier = track(new Barrier(3))
    const patient = barrier.wait()
    const started = performance.now()
    await expect(barrier.wait({ timeout: 30 })).rejects.toBeInstanceOf(BrokenBarrierError)
    expect(performance.now() - started).toBeGreaterThanOrEqual(25)
    await expect(patient).rejects.toBeInstanceOf(BrokenBarrierError)
    expect(barrier.broken).toBe(true)
    expect(barrier.nWaiting).toBe(0)
    await expect(barrier.wait()).rejects.toBeInstanceOf(BrokenBarrierError)
    expect(() => barrier.waitSync()).toThrow(BrokenBarrierError)
    barrier.reset()
    expect(barrier.broken).toBe(false)
    const waits = [barrier.wait(), barrier.wait(), barrier.wait()]
    await expect(Promise.all(waits)).resolves.toEqual([0, 1, 2])
  })

  it('waitSync times out and breaks it', () => {
    const barrier = track(new Barrier(2))
    expect(() => barrier.waitSync({ timeout: 20 })).toThrow(BrokenBarrierError)
    expect(barrier.broken).toBe(true)
  })

  it('abort() breaks it for the waiters and later calls; reset() during a wait breaks that wait only', async () => {
    const barrier = track(new Barrier(2))
    const waiting = barrier.wait()
    await tick()
    barrier.abort()
    await expect(waiting).rejects.toBeInstanceOf(BrokenBarrierError)
    await expect(barrier.wait()).rejects.toBeInstanceOf(BrokenBarrierError)
    barrier.reset()
    const before = barrier.wait()
    await tick()
    barrier.reset()
    await expect(before).rejects.toBeInstanceOf(BrokenBarrierError)
    expect(barrier.broken).toBe(false)
    await expect(Promise.all([barrier.wait(), barrier.wait()])).resolves.toEqual([0, 1])
  })

  it('an aborted signal rejects with its reason and breaks the barrier', async () => {
    const barrier = track(new Barrier(3))
    const other = barrier.wait()
    const controller = new AbortController()
    const mine = barrier.wait({ signal: controller.signal })
    await tick()
    controller.abort()
    await expect(mine).rejects.toBe(controller.signal.reason)
    await expect(other).rejects.toBeInstanceOf(BrokenBarrierError)
    expect(barrier.broken).toBe(true)
    // A signal aborted before the call changes nothing.
    barrier.reset()
    await expect(barrier.wait({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect(barrier.broken).toBe(false)
  })

  it('a party that closes while waiting breaks it for the others', async () => {
    const barrier = track(new Barrier(3, { name: uniqueName() }))
    const leaver = Barrier.open(barrier.name)
    const staying = barrier.wait()
    const leaving = leaver.wait()
    await tick()
    leaver.close()
    await expect(leaving).rejects.toBeInstanceOf(ClosedError)
    await expect(staying).rejects.toBeInstanceOf(BrokenBarrierError)
  })

  it('a barrier of one party never waits', () => {
    const barrier = track(new Barrier(1))
    expect(barrier.waitSync()).toBe(0)
    expect(barrier.waitSync()).toBe(0)
  })

  it('validates parties', () => {
    expect(() => new Barrier(0)).toThrow(RangeError)
    expect(() => new Barrier(1.5)).toThrow(RangeError)
    expect(() => new Barrier(1001)).toThrow(RangeError)
    expect(() => new Barrier('2' as unknown as number)).toThrow(TypeError)
    expect(() => Barrier.open(uniqueName(), { create: {} as { parties: number } })).toThrow(TypeError)
  })
})

describe('Barrier: names, handles and inspect', () => {
  it('opens or creates by name; an existing barrier keeps its parties', () => {
    const name = uniqueName()
    expect(() => Barrier.open(name)).toThrow(NotFoundError)
    const barrier = track(Barrier.open(name, { create: { parties: 4 } }))
    expect(barrier.created).toBe(true)
    const again = track(Barrier.open(name, { create: { parties: 2 } }))
    expect(again.created).toBe(false)
    expect(again.parties).toBe(4)
    expect(barrier.handle).toEqual({ kind: 'barrier', name })
  })

  it('keeps a persistent barrier (broken or not) until unlink()', () => {
    const name = uniqueName()
    const barrier = new Barrier(2, { name, persistent: true })
    barrier.abort()
    barrier.close()
    const again = Barrier.open(name)
    expect(again.broken).toBe(true)
    expect(again.parties).toBe(2)
    again.unlink()
    again.close()
    expect(() => Barrier.open(name)).toThrow(NotFoundError)
  })

  it('prints its state', async () => {
    const barrier = track(new Barrier(2, { name: uniqueName('inspect') }))
    expect(inspect(barrier, { breakLength: Number.POSITIVE_INFINITY })).toBe(
      `Barrier { name: '${barrier.name}', parties: 2, nWaiting: 0, broken: false }`,
    )
    const waiting = barrier.wait()
    await tick(5)
    expect(inspect(barrier)).toContain('nWaiting: 1')
    barrier.waitSync()
    await waiting
  })
})
