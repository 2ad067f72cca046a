import { ProcessError } from '@ipc/core'
import { Pool } from '@ipc/pool'
import { describe, expect, it } from 'vitest'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

describe('inputs and results larger than a pool message', () => {
  it('map with the automatic chunk size splits chunks too large to send', { timeout: 60_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2 })
    // ~100 chars each: Python's chunk size (50 000 inputs) makes 5 MB chunks, more than a 4 MiB ring.
    const input = Array.from({ length: 400_000 }, (_, i) => `${i}`.padStart(100, '-'))
    const output = await pool.map<string>('identity', input)
    expect(output.length).toBe(input.length)
    expect(output[0]).toBe(input[0])
    expect(output[399_999]).toBe(input[399_999])
    expect(output.every((value, i) => value === input[i])).toBe(true)
    const seen: string[] = []
    for await (const value of pool.imap<string>('identity', input.slice(0, 200_000))) seen.push(value)
    expect(seen).toEqual(input.slice(0, 200_000))
  })

  it("a chunk's results too large for one reply come back in parts", { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const lengths = [1_500_000, 1_500_000, 1_500_000, 10]
    const output = await pool.map<string>('bigString', lengths, { chunksize: 4 })
    expect(output.map((value) => value.length)).toEqual(lengths)
  })

  it('an error whose message is larger than a reply comes back cut, not as a result too large', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const failure = (await pool.run('failLong', [10 * 1024 * 1024]).catch((e: unknown) => e)) as Error
    expect(failure).toBeInstanceOf(ProcessError)
    expect(failure.message).toMatch(/^Task "failLong" failed: Error: x+… \(cut\)$/)
    expect(failure.message.length).toBeLessThan(70_000)
    expect(await pool.run('square', [5])).toBe(25)
  })

  it('one task whose arguments or result alone do not fit fails with RangeError naming the task', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const sent = (await pool.run('identity', ['x'.repeat(5_000_000)]).catch((e: unknown) => e)) as Error
    expect(sent).toBeInstanceOf(RangeError)
    expect(sent.message).toMatch(/^Task "identity" cannot be sent: its arguments take more than/)
    const replied = (await pool.run('bigString', [5_000_000]).catch((e: unknown) => e)) as Error
    expect(replied).toBeInstanceOf(RangeError)
    expect(replied.message).toMatch(/^Task "bigString" cannot reply: its result takes more than/)
    const chunk = (await pool.map('bigString', [10, 5_000_000], { chunksize: 2 }).catch((e: unknown) => e)) as Error
    expect(chunk.message).toMatch(/^Task "bigString" cannot reply/)
    expect(await pool.run('square', [3])).toBe(9)
  })
})
