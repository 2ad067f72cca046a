/**
 * @ipc/shared/redis when the server stops answering (SIGSTOP), goes down or
 * restarts: calls reject with ConnectionError within the lease (never hang),
 * and work again once the server is back.
 */
import { describeWithRedis } from '@ipc/test-utils'
import { expect, it } from 'vitest'
import { ConnectionError, SharedArray, SharedValue } from '../src/redis/index.js'

const LEASE = 600
/** How late a call may end beyond its lease on a loaded machine. */
const SLACK = 1000

/** Retries `call` while it rejects with ConnectionError (the client reconnects by itself). */
async function once<T>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof ConnectionError) || i > 100) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

describeWithRedis('@ipc/shared/redis and a failing server', (server) => {
  it('rejects with ConnectionError within the lease while the server is stopped, then recovers', {
    timeout: 20_000,
  }, async () => {
    const value = await new SharedValue('int32', 1, { url: server().url, lease: LEASE }).ready()
    server().pause()
    try {
      const started = performance.now()
      await expect(value.add(1)).rejects.toBeInstanceOf(ConnectionError)
      await expect(value.get()).rejects.toMatchObject({ code: 'IPC_CONNECTION' })
      expect(performance.now() - started).toBeLessThan(2 * LEASE + SLACK)
    } finally {
      server().resume()
    }
    // The add that timed out still ran once the server woke (the message says it may).
    expect(await once(() => value.get())).toBe(2)
    await value.close()
  })

  it('rejects with ConnectionError while the server is down, and works again after it restarts', {
    timeout: 30_000,
  }, async () => {
    const array = await new SharedArray('int64', [1n, 2n], { url: server().url, persistent: true }).ready()
    // Keep the data across the restart (the test server does not save by itself).
    expect(await server().command('SAVE')).toBe('+OK')
    await server().kill()
    await expect(array.get(0)).rejects.toBeInstanceOf(ConnectionError)
    await expect(array.set(0, 5n)).rejects.toBeInstanceOf(ConnectionError)
    await server().start()
    // Its functions are loaded again when the server lacks them.
    expect(await server().command('FUNCTION', 'FLUSH')).toBe('+OK')
    await once(() => array.set(1, 20n))
    expect(await array.toArray()).toEqual([1n, 20n])
    await array.unlink()
    await array.close()
  })

  it('reports NotFoundError when a restart lost the value (no persistence)', { timeout: 30_000 }, async () => {
    const value = await new SharedValue('int32', 1, { url: server().url }).ready()
    await server().restart()
    await expect(once(() => value.get())).rejects.toMatchObject({ name: 'NotFoundError' })
    await value.close()
  })
})
