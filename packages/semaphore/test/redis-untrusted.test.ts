/**
 * @ipc/semaphore/redis against a server that stops answering (SIGSTOP)
 * while a new semaphore attaches: acquire ends by its timeout, and leaves
 * no permit held once the attach lands after all.
 */
import { describeWithRedis, uniqueName } from '@ipc/test-utils'
import { expect, it } from 'vitest'
import { Lock, Semaphore } from '../src/redis/index.js'

/** How late a timeout may end on a loaded machine. */
const SLACK = 800

async function elapsed<T>(work: Promise<T>): Promise<{ ms: number; outcome: T | unknown }> {
  const start = performance.now()
  const outcome = await work.catch((error: unknown) => error)
  return { ms: performance.now() - start, outcome }
}

describeWithRedis('@ipc/semaphore/redis against an untrusted server', (server) => {
  it('resolves acquire({ timeout }) false while the server stops answering the attach, and holds no permit after it lands', async () => {
    const name = uniqueName()
    // Connected and the library loaded (another semaphore attached); then the server stops.
    const other = await Semaphore.open(name, { url: server().url, create: { value: 1 } })
    server().pause()
    // Resumed after 1.5 s whatever happens: an acquire that waited for the attach then takes the permit.
    const resumed = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => server().resume())
    const semaphore = Semaphore.open(name, { url: server().url })
    const fresh = new Semaphore(1, { url: server().url })
    const lock = new Lock({ url: server().url })
    const results = await Promise.all([
      elapsed(fresh.acquire({ timeout: 200 })),
      elapsed(lock.acquire({ timeout: 200 })),
    ])
    await resumed
    for (const { ms, outcome } of results) {
      expect(outcome).toBe(false)
      expect(ms).toBeLessThan(200 + SLACK)
    }
    await Promise.all([fresh.ready(), lock.ready()])
    // Nothing was granted to the calls that gave up: the permits are free.
    expect(await fresh.acquire({ timeout: 0 })).toBe(true)
    expect(await lock.acquire({ timeout: 0 })).toBe(true)
    expect(await (await semaphore).acquire({ timeout: 0 })).toBe(true)
    expect(await other.acquire({ timeout: 0 })).toBe(false)
    await Promise.all([fresh.close(), lock.close(), (await semaphore).close(), other.close()])
  })
})
