import { expectTypeOf } from 'vitest'
import {
  ClosedError,
  CorruptError,
  type ImapOptions,
  type MapOptions,
  Pool,
  type PoolOptions,
  ProcessError,
  type RunOptions,
  WorkerExitError,
} from './index.js'

declare const pool: Pool

expectTypeOf(
  new Pool('./tasks.mjs', { size: 2, mode: 'thread', maxTasksPerChild: 10, idleTimeout: 1000 }),
).toEqualTypeOf<Pool>()
expectTypeOf(new Pool(new URL('file:///tasks.mjs'))).toEqualTypeOf<Pool>()
expectTypeOf(pool.run<number>('add', [1, 2], { timeout: 100 })).toEqualTypeOf<Promise<number>>()
expectTypeOf(pool.run('add')).toEqualTypeOf<Promise<unknown>>()
expectTypeOf(pool.map<number>('square', [1, 2], { chunksize: 1 })).toEqualTypeOf<Promise<number[]>>()
expectTypeOf(pool.imap<number>('square', [1, 2], { ordered: false })).toEqualTypeOf<AsyncIterableIterator<number>>()
expectTypeOf(pool.size).toEqualTypeOf<number>()
expectTypeOf(pool.pending).toEqualTypeOf<number>()
expectTypeOf(pool.close()).toEqualTypeOf<void>()
expectTypeOf(pool.terminate()).toEqualTypeOf<Promise<void>>()
expectTypeOf(pool.join()).toEqualTypeOf<Promise<void>>()
expectTypeOf(pool[Symbol.asyncDispose]()).toEqualTypeOf<Promise<void>>()
expectTypeOf<PoolOptions['mode']>().toEqualTypeOf<'process' | 'thread' | undefined>()
expectTypeOf<RunOptions>().toEqualTypeOf<{ signal?: AbortSignal; timeout?: number }>()
expectTypeOf<MapOptions['chunksize']>().toEqualTypeOf<number | undefined>()
expectTypeOf<ImapOptions['ordered']>().toEqualTypeOf<boolean | undefined>()
expectTypeOf(new WorkerExitError('x').signal).toEqualTypeOf<NodeJS.Signals | null>()
expectTypeOf(new WorkerExitError('x').exitCode).toEqualTypeOf<number | null>()
expectTypeOf(new ProcessError('x').childStack).toEqualTypeOf<string | undefined>()
expectTypeOf(new ClosedError('x').code).toEqualTypeOf<string>()
expectTypeOf(new CorruptError('x').code).toEqualTypeOf<string>()
// @ts-expect-error: tasks are called by export name, never with a function
pool.run(() => 1)
