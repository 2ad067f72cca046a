/**
 * @ipc/shared/redis across real processes: concurrent adds sum exactly,
 * compareExchange has one winner, withLock excludes, Process revives the
 * objects in a child, and a lock holder killed mid-update loses the lock
 * within its lease.
 */
import { Process } from '@ipc/core'
import { SharedValue } from '@ipc/shared/redis'
import { describeWithRedis, spawnChild, uniqueName } from '@ipc/test-utils'
import { expect, it } from 'vitest'

const participant = new URL('./fixtures/redis-participant.mjs', import.meta.url)
const functions = new URL('./fixtures/redis-functions.mjs', import.meta.url)

describeWithRedis('@ipc/shared/redis across processes', (server) => {
  it('4 processes × 2,000 adds give exactly 8,000 (int32 and int64)', { timeout: 60_000 }, async () => {
    const int32 = await new SharedValue('int32', 0, { url: server().url, lock: false }).ready()
    const int64 = await new SharedValue('int64', 0n, { url: server().url, lock: false }).ready()
    const children = [int32, int64, int32, int64, int32, int64, int32, int64].map((value) =>
      spawnChild(participant, ['adds', JSON.stringify(value.handle), '2000']),
    )
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(await int32.get()).toBe(8000)
    expect(await int64.get()).toBe(8000n)
    await int32.close()
    await int64.close()
  })

  it('of 6 processes racing compareExchange(0, id) exactly one stores its id', { timeout: 60_000 }, async () => {
    const owner = await new SharedValue('int32', 0, { url: server().url }).ready()
    const ids = [1, 2, 3, 4, 5, 6]
    const children = ids.map((id) => spawnChild(participant, ['cas', JSON.stringify(owner.handle), String(id)]))
    expect(await Promise.all(children.map((c) => c.exited))).toEqual(ids.map(() => 0))
    const previous = children.map((c) => Number(c.stdout().match(/PREVIOUS (-?\d+)/)?.[1]))
    const winners = previous.filter((p) => p === 0)
    expect(winners).toHaveLength(1)
    const winner = ids[previous.indexOf(0)]
    expect(await owner.get()).toBe(winner)
    // Every loser saw the winner's id.
    expect(previous.filter((p) => p !== 0)).toEqual(ids.filter((id) => id !== winner).map(() => winner))
    await owner.close()
  })

  it('withLock excludes across processes: 3 × 150 get-then-set increments give exactly 450', {
    timeout: 60_000,
  }, async () => {
    const counter = await new SharedValue('int32', 0, { url: server().url }).ready()
    const handle = JSON.stringify(counter.handle)
    const children = [1, 2, 3].map(() => spawnChild(participant, ['locked-increments', handle, '150']))
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
    expect(await counter.get()).toBe(450)
    expect(await counter.getLock().locked()).toBe(false)
    await counter.close()
  })

  it('Process revives a value in a child (the TRANSFER protocol)', { timeout: 60_000 }, async () => {
    const counter = new SharedValue('int32', 0, { url: server().url })
    const child = new Process(functions, { exportName: 'addMany', args: [counter, 50] }).start()
    expect(await child.join()).toBe(0)
    expect(await counter.get()).toBe(50)
    await counter.close()
  })

  it('gives the lock of a holder killed mid-update to the next within its lease', { timeout: 30_000 }, async () => {
    const lease = 600
    const name = uniqueName()
    const value = await SharedValue.open(name, 'int32', { url: server().url, lease, create: { initial: 5 } })
    const holder = spawnChild(participant, ['hold', JSON.stringify({ ...value.handle, lease })])
    await holder.waitFor('HELD')
    expect(await value.getLock().tryAcquire()).toBe(false)
    const killedAt = performance.now()
    holder.child.kill('SIGKILL')
    await holder.exited
    const seen = await value.withLock(() => value.get(), { timeout: 10_000 })
    expect(performance.now() - killedAt).toBeLessThan(lease + 1500)
    expect(seen).toBe(-1)
    await value.close()
  })
})
