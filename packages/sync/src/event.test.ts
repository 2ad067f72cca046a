import { inspect } from 'node:util'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { ClosedError, ExistsError, IncompatibleError, NotFoundError } from './errors.js'
import { Event } from './event.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

describe('Event#set() and Event#wait()', () => {
  it('starts clear; set() sets it for every object attached; clear() clears it', () => {
    const event = track(new Event({ name: uniqueName() }))
    const other = track(Event.open(event.name))
    expect(event.isSet()).toBe(false)
    event.set()
    expect(other.isSet()).toBe(true)
    event.set()
    expect(other.isSet()).toBe(true)
    other.clear()
    expect(event.isSet()).toBe(false)
  })

  it('returns true at once when set, false at the timeout when clear', async () => {
    const event = track(new Event())
    const started = performance.now()
    await expect(event.wait({ timeout: 30 })).resolves.toBe(false)
    expect(event.waitSync({ timeout: 30 })).toBe(false)
    expect(performance.now() - started).toBeGreaterThanOrEqual(55)
    await expect(event.wait({ timeout: 0 })).resolves.toBe(false)
    event.set()
    await expect(event.wait()).resolves.toBe(true)
    expect(event.waitSync()).toBe(true)
  })

  it('wakes every pending async waiter of every object when set', async () => {
    const event = track(new Event({ name: uniqueName() }))
    const others = [track(Event.open(event.name)), track(Event.open(event.name))]
    const waits = [event.wait(), event.wait(), ...others.map((other) => other.wait({ timeout: 5000 }))]
    await new Promise((resolve) => setTimeout(resolve, 20))
    others[0]?.set()
    await expect(Promise.all(waits)).resolves.toEqual([true, true, true, true])
  })

  it('rejects with signal.reason on abort and stays clear', async () => {
    const event = track(new Event())
    const controller = new AbortController()
    const waiting = event.wait({ signal: controller.signal })
    controller.abort()
    await expect(waiting).rejects.toThrow(controller.signal.reason)
    expect(event.isSet()).toBe(false)
    await expect(event.wait({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect(() => event.waitSync({ signal: AbortSignal.abort() })).toThrow()
  })

  it('rejects a pending wait with ClosedError when closed', async () => {
    const event = new Event()
    const waiting = event.wait()
    event.close()
    await expect(waiting).rejects.toBeInstanceOf(ClosedError)
    expect(() => event.isSet()).toThrow(ClosedError)
    expect(() => event.set()).toThrow(ClosedError)
    event.close()
  })

  it('validates its options', async () => {
    const event = track(new Event())
    await expect(event.wait({ timeout: -1 })).rejects.toThrow(RangeError)
    expect(() => event.waitSync({ timeout: Number.NaN })).toThrow(TypeError)
    expect(() => new Event({ persistent: 'yes' as unknown as boolean })).toThrow(TypeError)
  })
})

describe('Event: names, handles and inspect', () => {
  it('refuses an option name it does not know, naming the one meant', async () => {
    const { Barrier } = await import('./barrier.js')
    const { Condition } = await import('./condition.js')
    expect(() => new Event({ persistant: true } as never)).toThrow(
      /Unknown option "persistant" in the options\. Did you mean "persistent"\?/,
    )
    const event = track(new Event())
    await expect(event.wait({ timout: 10 } as never)).rejects.toThrow(/Did you mean "timeout"/)
    expect(() => event.waitSync({ timeOut: 10 } as never)).toThrow(/Did you mean "timeout"/)
    const name = uniqueName()
    expect(() => Barrier.open(name, { create: { parties: 2, persistant: true } } as never)).toThrow(
      /Did you mean "persistent"/,
    )
    expect(() => Barrier.open(name, { create: { partys: 2 } } as never)).toThrow(/Unknown option "partys"/)
    expect(() => Condition.open(name, { create: { lok: undefined } } as never)).toThrow(/Did you mean "lock"/)
    expect(() => new Condition({ nam: 'x' } as never)).toThrow(/Did you mean "name"/)
    expect(() => Event.open(name)).toThrow(NotFoundError)
  })

  it('opens by name and by handle, creates with open(name, { create }), and refuses other kinds', () => {
    const name = uniqueName()
    expect(() => Event.open(name)).toThrow(NotFoundError)
    const created = track(Event.open(name, { create: true }))
    expect(created.created).toBe(true)
    const again = track(Event.open(name, { create: true }))
    expect(again.created).toBe(false)
    const fromHandle = track(Event.from(created.handle))
    expect(created.handle).toEqual({ kind: 'event', name })
    created.set()
    expect(fromHandle.isSet()).toBe(true)
    expect(() => new Event({ name })).toThrow(ExistsError)
    expect(() => Event.from({ kind: 'barrier', name })).toThrow(TypeError)
  })

  it('refuses to open another kind of primitive', async () => {
    const { Barrier } = await import('./barrier.js')
    const barrier = track(new Barrier(2, { name: uniqueName() }))
    expect(() => Event.open(barrier.name)).toThrow(IncompatibleError)
  })

  it('prints its state', () => {
    const event = track(new Event({ name: uniqueName('inspect') }))
    expect(inspect(event)).toBe(`Event { name: '${event.name}', isSet: false }`)
    event.set()
    expect(inspect(event)).toContain('isSet: true')
    const closed = new Event()
    closed.close()
    expect(inspect(closed)).toContain('closed: true')
  })

  it('keeps a persistent event and its flag after its last object closes, until unlink()', () => {
    const name = uniqueName()
    const event = new Event({ name, persistent: true })
    event.set()
    event.close()
    const again = Event.open(name)
    expect(again.persistent).toBe(true)
    expect(again.isSet()).toBe(true)
    again.unlink()
    again.close()
    expect(() => Event.open(name)).toThrow(NotFoundError)
  })

  it('works with using', () => {
    let name: string
    {
      using event = new Event()
      name = event.name
      event.set()
    }
    expect(() => Event.open(name)).toThrow(NotFoundError)
  })
})

describe('Event: a pulse', () => {
  it('wakes a pending wait with true even when clear() follows set() at once', async () => {
    const event = track(new Event())
    const waiting = event.wait({ timeout: 5000 })
    await new Promise((resolve) => setTimeout(resolve, 20))
    event.set()
    event.clear()
    await expect(waiting).resolves.toBe(true)
    expect(event.isSet()).toBe(false)
    await expect(event.wait({ timeout: 10 })).resolves.toBe(false)
  })
})
