/**
 * The v8 serializer writes values nested about twice as deep as its
 * deserializer reads back. Such a value is sent whole, then cannot be revived
 * on the other side: its queue drops it (the ring stays sound) and only its
 * own task fails, with DataCloneError; the worker and the tasks behind it go on.
 */

import { DataCloneError, WorkerExitError } from '@ipc/core'
import { Pool } from '@ipc/pool'
import { describe, expect, it } from 'vitest'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)
/** Written by `v8.serialize`, refused by `v8.deserialize` (it stops near 1,900 levels). */
const TOO_DEEP = 3000

function nested(depth: number): object {
  let value = {}
  for (let i = 0; i < depth; i++) value = { inner: value }
  return value
}

describe.each(['process', 'thread'] as const)('values nested too deep to revive (%s mode)', (mode) => {
  it('a result fails its own task only; the one queued behind it on that worker gets its result', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    const worker = await pool.run('pid')
    const deep = pool.run('nested', [TOO_DEEP]).catch((error: unknown) => error)
    const behind = pool.run('square', [3])
    const failure = (await deep) as Error
    expect(failure).toBeInstanceOf(DataCloneError)
    expect(failure.message).toMatch(
      /^Task "nested" cannot reply: its result cannot be revived by the pool \(.*nested deeper/,
    )
    expect(await behind).toBe(9)
    expect(await pool.run('pid')).toBe(worker)
    // Not refused for its size: a shallower one comes back.
    expect(await pool.run('nested', [1000])).toEqual(nested(1000))
  })
})

describe.each(['process', 'thread'] as const)('a map chunk whose results come back in parts (%s mode)', (mode) => {
  it('fails that chunk only when its parts are too deep to revive; the task behind it gets its result', {
    timeout: 60_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    // 300 results of about 18 KB each: more than the 4 MiB reply ring, so they come back in parts.
    const chunk = pool.map('nested', new Array(300).fill(TOO_DEEP), { chunksize: 300 }).catch((error: unknown) => error)
    const behind = pool.run('square', [7])
    expect(await chunk).toBeInstanceOf(DataCloneError)
    expect(await behind).toBe(49)
  })
})

// Process mode only: a worker thread's stack (4 MiB by default) revives what this thread's serializer wrote.
it('arguments fail their own task only, with the worker still serving', {
  timeout: 30_000,
}, async () => {
  await using pool = new Pool(TASKS, { size: 1 })
  const worker = await pool.run('pid')
  const deep = pool.run('identity', [nested(TOO_DEEP)]).catch((error: unknown) => error)
  const behind = pool.run('square', [4])
  const failure = (await deep) as Error
  expect(failure).toBeInstanceOf(DataCloneError)
  expect(failure.message).toMatch(
    /^Task "identity" cannot start: the worker cannot revive its arguments \(.*nested deeper/,
  )
  expect(await behind).toBe(16)
  expect(await pool.run('pid')).toBe(worker)
})

it('a worker that dies with a request too deep to revive in its queue: that task and those behind it never started, and run again', {
  timeout: 60_000,
}, async () => {
  await using pool = new Pool(TASKS, { size: 1 })
  // Many tiny tasks first: the pool then sends a worker several tasks ahead.
  for (let i = 0; i < 300; i++) await pool.run('square', [2])
  const dies = pool.run('exitAfter', [300]).catch((error: unknown) => error)
  const deep = pool.run('identity', [nested(TOO_DEEP)]).catch((error: unknown) => error)
  const behind = [3, 4, 5].map((x) => pool.run('square', [x]))
  expect(await dies).toBeInstanceOf(WorkerExitError)
  // Sent again to the next worker, which cannot revive it either; not failed as "while running".
  const failure = (await deep) as Error
  expect(failure).toBeInstanceOf(DataCloneError)
  expect(failure.message).toMatch(/^Task "identity" cannot start/)
  expect(await Promise.all(behind)).toEqual([9, 16, 25])
})
