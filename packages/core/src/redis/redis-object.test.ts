import { inspect } from 'node:util'
import { describeWithRedis, uniqueName } from '@ipc/test-utils'
import { expect, it } from 'vitest'
import { ClosedError, ExistsError, NotFoundError } from '../errors.js'
import { TRANSFER } from '../primitive/handle.js'
import { defineLibrary } from './library.js'
import { type RedisAttachSpec, RedisObject } from './redis-object.js'

/** A counter kind: the least a library needs to run on RedisObject (one key; args: kind, object id, ttl, …). */
const COUNTER_LIBRARY = defineLibrary(
  'test_object',
  1,
  `
register('create', function(keys, args)
  local exists = redis.call('EXISTS', keys[1]) == 1
  if args[4] == 'new' and exists then return {'exists'} end
  if args[4] == 'open' and not exists then return {'missing'} end
  if not exists then redis.call('SET', keys[1], 0) end
  return {exists and 'opened' or 'created', 0}
end)
register('incr', function(keys, args)
  if redis.call('EXISTS', keys[1]) == 0 then return {'missing'} end
  return {'ok', redis.call('INCR', keys[1])}
end)
register('renew', function(keys, args)
  if redis.call('EXISTS', keys[1]) == 0 then return {'missing'} end
  return {'ok'}
end)
register('close', function(keys, args) return {'ok'} end)
register('unlink', function(keys, args) return redis.call('DEL', keys[1]) end)
`,
)

class Counter extends RedisObject {
  renewals = 0

  constructor(spec: RedisAttachSpec) {
    super(
      {
        kind: 'test-counter',
        label: 'counter',
        className: 'Counter',
        module: import.meta.url,
        library: COUNTER_LIBRARY,
        keyParts: ['count'],
        idPrefix: 't',
        functions: { create: 'create', close: 'close', unlink: 'unlink' },
        replyWithinLease: true,
        waits: false,
      },
      spec,
      [spec.mode],
    )
  }

  protected override readAttach(reply: unknown[]): boolean {
    return reply[1] === 1
  }

  protected override async renew(): Promise<void> {
    this.renewals++
    const reply = (await this.call('renew', [])) as unknown[]
    this.checkGone(reply, 'renew')
  }

  async increment(): Promise<number> {
    await this.enter('increment')
    const reply = (await this.call('incr', [])) as unknown[]
    this.checkGone(reply, 'increment')
    return reply[1] as number
  }
}

describeWithRedis('RedisObject', (server) => {
  const spec = (mode: RedisAttachSpec['mode'], name: string, lease = 10_000): RedisAttachSpec => ({
    mode,
    name,
    url: server().url,
    lease,
  })

  it('attaches in the background: created, handle (creating until the attach lands), inspect and TRANSFER', async () => {
    const name = uniqueName()
    const counter = new Counter(spec('new', name))
    expect(counter.handle).toEqual({ kind: 'test-counter', name, url: server().url, lease: 10_000, creating: true })
    await counter.ready()
    expect(counter.created).toBe(true)
    expect(counter.persistent).toBe(false)
    expect(counter.handle).toEqual({ kind: 'test-counter', name, url: server().url, lease: 10_000 })
    expect(counter[TRANSFER]()).toEqual({ module: import.meta.url, export: 'Counter', handle: counter.handle })
    expect(inspect(counter)).toContain(`Counter (Redis) { name: '${name}'`)
    const other = await new Counter(spec('open', name)).ready()
    expect(other.created).toBe(false)
    expect(await counter.increment()).toBe(1)
    expect(await other.increment()).toBe(2)
    await other.close()
    await counter.close()
  })

  it('makes an attach failure the fault: ready() and every call reject with it, close() still works', async () => {
    const name = uniqueName()
    const counter = await new Counter(spec('new', name)).ready()
    const taken = new Counter(spec('new', name))
    await expect(taken.ready()).rejects.toBeInstanceOf(ExistsError)
    await expect(taken.increment()).rejects.toBeInstanceOf(ExistsError)
    await taken.close()
    await expect(new Counter(spec('open', uniqueName())).ready()).rejects.toBeInstanceOf(NotFoundError)
    await counter.close()
  })

  it('close() is idempotent and awaits an attach still on its way; later calls reject with ClosedError', async () => {
    const name = uniqueName()
    const counter = new Counter(spec('new', name))
    await Promise.all([counter.close(), counter.close()])
    expect(counter.closed).toBe(true)
    await expect(counter.increment()).rejects.toBeInstanceOf(ClosedError)
    expect(inspect(counter)).toContain('closed: true')
    // The attach landed before the detach: the key is there until unlink(), which works after close().
    expect(await server().command('EXISTS', `ipc:{${name}}:count`)).toBe(':1')
    await counter.unlink()
    expect(await server().command('EXISTS', `ipc:{${name}}:count`)).toBe(':0')
  })

  it('renews every lease/3 ms, and a renew that finds the object gone makes every later call reject', async () => {
    const name = uniqueName()
    const counter = await new Counter(spec('new', name, 60)).ready()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(counter.renewals).toBeGreaterThanOrEqual(2)
    await server().command('DEL', `ipc:{${name}}:count`)
    await new Promise((resolve) => setTimeout(resolve, 60))
    const seen = counter.renewals
    await expect(counter.increment()).rejects.toThrow(/Cannot (renew|increment) counter .*no longer exists/)
    await new Promise((resolve) => setTimeout(resolve, 60))
    // Faulted: the heartbeat no longer calls renew().
    expect(counter.renewals).toBe(seen)
    await counter.close()
  })
})
