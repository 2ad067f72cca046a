/**
 * The lifetime of a Redis SharedValue whose processes die: it expires 3
 * leases after the last renewal of its last object (the keys' TTL), its
 * lock with it, unless it is persistent.
 */
import { describeWithRedis, spawnChild, uniqueName } from '@ipc/test-utils'
import { expect, it } from 'vitest'
import { SharedValue } from '../src/redis/index.js'

const OWNER = new URL('./fixtures/redis-owner.mjs', import.meta.url)
const FIRST_CALL = new URL('./fixtures/redis-first-call.mjs', import.meta.url)
const LEASE = 200

describeWithRedis('@ipc/shared/redis lifetime', (server) => {
  const exists = async (name: string) =>
    server().command('EXISTS', `ipc:{${name}}:meta`, `ipc:{${name}}:value`, `ipc:{${name}}:objects`)

  // Loading @redis/client (its import and its first client's command table) took about
  // 360 ms on a 2-core VM: when the first call's lease counted it, a process with a lease
  // under that could not even create a value.
  it('the first call of a fresh process has its whole lease for the server: loading the client does not count', {
    timeout: 20_000,
  }, async () => {
    const child = spawnChild(FIRST_CALL, [server().url, uniqueName(), '100'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toMatch(/^READY \d+/)
  })

  // A loader hook whose import never settles: the call fails once the load's own bound (5 s)
  // passes, instead of waiting forever.
  it('the first call ends, with an error, when loading the client never finishes', { timeout: 30_000 }, async () => {
    const child = spawnChild(FIRST_CALL, [server().url, uniqueName(), '100', 'hang-import'])
    expect(await child.exited).toBe(0)
    const failed = /^FAILED (\w+) (\d+) (.*)/.exec(child.stdout())
    expect(failed, child.stdout() + child.stderr()).not.toBeNull()
    const [name, ms, message] = [failed?.[1], Number(failed?.[2]), failed?.[3]]
    expect(name).toBe('IpcError')
    expect(message).toContain('loading the package "@redis/client" did not finish within 5000 ms')
    expect(ms).toBeGreaterThanOrEqual(4900)
    expect(ms).toBeLessThan(15_000)
  })

  it('a value whose only process was SIGKILLed expires 3 leases later', { timeout: 20_000 }, async () => {
    const name = uniqueName()
    const owner = spawnChild(OWNER, [server().url, name, String(LEASE), '0'])
    await owner.waitFor('READY')
    expect(await exists(name)).toBe(':3')
    owner.child.kill('SIGKILL')
    await owner.exited
    // Renewed every lease/3, so gone between 2 and 3 leases after the kill (plus slack for a loaded machine).
    let gone = false
    const deadline = performance.now() + 3 * LEASE + 3000
    while (!gone && performance.now() < deadline) {
      gone = (await exists(name)) === ':0'
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(gone).toBe(true)
    await expect(SharedValue.open(name, 'int32', { url: server().url })).rejects.toMatchObject({
      name: 'NotFoundError',
    })
  })

  it('a persistent value outlives its SIGKILLed creator, with its value, until unlink()', {
    timeout: 20_000,
  }, async () => {
    const name = uniqueName()
    const owner = spawnChild(OWNER, [server().url, name, String(LEASE), '1'])
    await owner.waitFor('READY')
    owner.child.kill('SIGKILL')
    await owner.exited
    await new Promise((resolve) => setTimeout(resolve, 4 * LEASE))
    const value = await SharedValue.open(name, 'int32', { url: server().url })
    expect(await value.get()).toBe(7)
    await value.withLock(async () => value.add(1))
    expect(await value.get()).toBe(8)
    const lockName = value.getLock().name
    expect(await server().command('EXISTS', `ipc:{${lockName}}:meta`)).toBe(':1')
    await value.unlink()
    await value.close()
    expect(await exists(name)).toBe(':0')
    expect(await server().command('EXISTS', `ipc:{${lockName}}:meta`)).toBe(':0')
  })
})
