import { DataCloneError, Pool, ProcessError } from '@ipc/pool'
import { describe, expect, it } from 'vitest'

const TASKS = new URL('../test/fixtures/tasks.mjs', import.meta.url)

describe('new Pool()', () => {
  it('rejects bad options with TypeError or RangeError', () => {
    expect(() => new Pool(42 as never)).toThrow(TypeError)
    expect(() => new Pool('')).toThrow(TypeError)
    expect(() => new Pool(TASKS, { size: 0 })).toThrow(RangeError)
    expect(() => new Pool(TASKS, { size: 1.5 })).toThrow(RangeError)
    // At most 1,024 workers: `size: 100_000` used to fork that many processes in the constructor.
    // First with a later option wrong too, so that a build without the bound throws (TypeError)
    // here instead of forking them.
    const tooLarge = 'The "size" option must be an integer from 1 to 1024, received 100000'
    expect(() => new Pool(TASKS, { size: 100_000, env: 'x' as never })).toThrow(tooLarge)
    expect(() => new Pool(TASKS, { size: 100_000 })).toThrow(tooLarge)
    expect(() => new Pool(TASKS, { size: 1025 })).toThrow(RangeError)
    expect(() => new Pool(TASKS, { mode: 'fiber' as never })).toThrow(TypeError)
    expect(() => new Pool(TASKS, { maxTasksPerChild: 0 })).toThrow(RangeError)
    expect(() => new Pool(TASKS, { idleTimeout: -1 })).toThrow(RangeError)
    // A value of the wrong type is a TypeError, as the JSDoc says (not a RangeError).
    expect(() => new Pool(TASKS, { size: '2' as never })).toThrow(TypeError)
    expect(() => new Pool(TASKS, { maxTasksPerChild: 1n as never })).toThrow(TypeError)
    expect(() => new Pool(TASKS, { idleTimeout: '100' as never })).toThrow(TypeError)
    // NaN is not a number of ms: TypeError, for idleTimeout as for every timeout of the library
    // (idleTimeout's was a RangeError).
    expect(() => new Pool(TASKS, { idleTimeout: Number.NaN })).toThrow(
      'The "idleTimeout" option must be a number of milliseconds, received NaN',
    )
    expect(() => new Pool(TASKS, { idleTimeout: Number.NaN })).toThrow(TypeError)
    expect(() => new Pool(TASKS, { execArgv: [1] as never })).toThrow(TypeError)
    expect(() => new Pool(TASKS, 5 as never)).toThrow(TypeError)
  })

  it('refuses an option name it does not know, naming the one meant (Python: processes=)', async () => {
    expect(() => new Pool(TASKS, { maxTaskPerChild: 2 } as never)).toThrow(
      /Unknown option "maxTaskPerChild" in the options\. Did you mean "maxTasksPerChild"\?/,
    )
    expect(() => new Pool(TASKS, { processes: 2 } as never)).toThrow(/Unknown option "processes"/)
    await using pool = new Pool(TASKS, { size: 1, mode: 'thread' })
    expect(() => pool.run('add', [1, 2], { timout: 1000 } as never)).toThrow(/Did you mean "timeout"/)
    expect(() => pool.map('add', [[1, 2]], { chunkSize: 1 } as never)).toThrow(/Did you mean "chunksize"/)
    expect(() => pool.imap('add', [[1, 2]], { orderd: false } as never)).toThrow(/Did you mean "ordered"/)
    expect(await pool.run('add', [1, 2], { timeout: 10_000 })).toBe(3)
  })

  it('has size and defaults to os.availableParallelism()', async () => {
    const { availableParallelism } = await import('node:os')
    await using pool = new Pool(TASKS, { mode: 'thread' })
    expect(pool.size).toBe(availableParallelism())
    expect(pool.mode).toBe('thread')
  })
})

describe('Pool#run()', () => {
  it('rejects a task that throws with ProcessError carrying the worker stack', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const error = (await pool.run('fail', ['boom']).catch((e: unknown) => e)) as ProcessError
    expect(error).toBeInstanceOf(ProcessError)
    expect(error.message).toBe('Task "fail" failed: TypeError: boom')
    expect(error.childName).toBe('TypeError')
    expect(error.childStack).toContain('tasks.mjs')
    // The worker goes on.
    expect(await pool.run('add', [1, 2])).toBe(3)
  })

  it('rejects an unknown or non-function export with a clear TypeError', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    await expect(pool.run('nope')).rejects.toThrow(/has no export "nope" that is a function \(found undefined\)/)
    await expect(pool.run('notAFunction')).rejects.toThrow(/\(found number\)/)
    await expect(pool.map('nope', [1])).rejects.toBeInstanceOf(TypeError)
  })

  it('throws on bad arguments before queueing anything', async () => {
    await using pool = new Pool(TASKS, { size: 1, mode: 'thread' })
    expect(() => pool.run('' as never)).toThrow(TypeError)
    expect(() => pool.run('add', 1 as never)).toThrow(TypeError)
    expect(() => pool.run('add', [], { timeout: -1 })).toThrow(RangeError)
    expect(() => pool.map('add', 3 as never)).toThrow(TypeError)
    async function* later() {
      yield 1
    }
    expect(() => pool.map('add', later() as never)).toThrow(/use imap for an async iterable/)
    expect(() => pool.map('add', [1], { chunksize: 0 })).toThrow(RangeError)
    expect(() => pool.map('add', [1], { chunksize: '4' as never })).toThrow(TypeError)
    expect(() => pool.imap('add', [1], { ordered: 'yes' as never })).toThrow(TypeError)
    expect(pool.pending).toBe(0)
  })

  it('rejects arguments and results that cannot be cloned with DataCloneError', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode: 'thread' })
    await expect(pool.run('identity', [() => 1])).rejects.toBeInstanceOf(DataCloneError)
    // The result too, as its JSDoc says (it was a ProcessError with childName 'DataCloneError').
    const error = await pool.run('unclonable').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DataCloneError)
    expect((error as Error).message).toMatch(/^Task "unclonable" cannot reply: /)
    await expect(pool.map('unclonable', [1, 2])).rejects.toBeInstanceOf(DataCloneError)
    expect(await pool.run('add', [1, 1])).toBe(2)
  })

  it('rejects (never throws at the call) when reading an argument throws', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode: 'thread' })
    // An argument whose getter throws as it is read: before, run() threw that error at the call.
    const getter = new Error('the getter ran')
    const hostile = Object.defineProperty({}, 'x', {
      enumerable: true,
      get() {
        throw getter
      },
    })
    let sent: Promise<unknown> | undefined
    expect(() => {
      sent = pool.run('identity', [hostile])
    }).not.toThrow()
    await expect(sent).rejects.toBe(getter)
    expect(await pool.run('add', [1, 1])).toBe(2)
  })

  it('fails every task with ProcessError when the module cannot be imported', { timeout: 30_000 }, async () => {
    await using pool = new Pool(new URL('../test/fixtures/broken.mjs', import.meta.url), { size: 2 })
    const error = (await pool.run('anything').catch((e: unknown) => e)) as ProcessError
    expect(error).toBeInstanceOf(ProcessError)
    expect(error.message).toMatch(/could not start.*broken module/)
  })

  it('names the missing main guard when the module creates a pool at its top level', { timeout: 30_000 }, async () => {
    await using pool = new Pool(new URL('../test/fixtures/unguarded.mjs', import.meta.url), { size: 1 })
    const error = (await pool.run('one').catch((e: unknown) => e)) as ProcessError
    expect(error).toBeInstanceOf(ProcessError)
    expect(error.message).toContain('main guard')
  })
})
