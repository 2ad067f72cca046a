import { afterEach, describe, expect, it } from 'vitest'
import type { Connection } from './connection.js'
import { ClosedError } from './errors.js'
import { Pipe } from './pipe.js'
import { wait } from './wait.js'

const open: Connection<unknown>[] = []
function pipe(): [Connection<unknown>, Connection<unknown>] {
  const ends = Pipe()
  open.push(...ends)
  return ends
}
afterEach(() => {
  for (const c of open.splice(0)) c.close()
})

describe('wait()', () => {
  it('resolves at once with the connections that have a message, in the order given', async () => {
    const [a1, b1] = pipe()
    const [a2, b2] = pipe()
    const [a3, b3] = pipe()
    await a3.send(3)
    await a1.send(1)
    expect(await wait([b1, b2, b3])).toEqual([b1, b3])
    void a2
  })

  it('resolves with [] at the timeout, and looks only with timeout 0', async () => {
    const [, b1] = pipe()
    const [, b2] = pipe()
    expect(await wait([b1, b2], { timeout: 0 })).toEqual([])
    const t0 = performance.now()
    expect(await wait([b1, b2], { timeout: 40 })).toEqual([])
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35)
    expect(await wait([])).toEqual([])
  })

  it('wakes when one of several pipes gets a message', async () => {
    const ends = [pipe(), pipe(), pipe(), pipe()]
    setTimeout(() => (ends[2] as [Connection<unknown>, Connection<unknown>])[0].sendSync('x'), 30)
    const ready = await wait(
      ends.map(([, b]) => b),
      { timeout: 5000 },
    )
    expect(ready).toEqual([ends[2]?.[1]])
    expect(await ready[0]?.recv()).toBe('x')
  })

  it('counts a closed other end as ready (recv would throw EOFError at once)', async () => {
    const [a1, b1] = pipe()
    const [, b2] = pipe()
    setTimeout(() => a1.close(), 20)
    expect(await wait([b1, b2], { timeout: 5000 })).toEqual([b1])
  })

  it('rejects with signal.reason on abort, and ClosedError for a closed connection', async () => {
    const [, b1] = pipe()
    const [, b2] = pipe()
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('enough')), 20)
    await expect(wait([b1, b2], { signal: controller.signal })).rejects.toThrow('enough')
    b2.close()
    await expect(wait([b1, b2])).rejects.toThrow(ClosedError)
    await expect(wait(null as never)).rejects.toThrow(TypeError)
    await expect(wait([{}] as never)).rejects.toThrow(/only Connection objects/)
  })
})
