/**
 * Options of @ipc/pool. Times are milliseconds.
 */
import type { ProcessMode } from '@ipc/core'
import { optionNames } from '@ipc/core/internal'

/** Options of `new Pool(module, options)`. */
export interface PoolOptions {
  /**
   * The most workers the pool runs at once. All are started with the pool
   * (as in Python); a worker that dies, retires or idles out is replaced when
   * there is work for it. At most 1,024: the workers start at once, each a
   * process (a fork takes about 8 ms) with two 4 MiB queues and, in process
   * mode, a file descriptor of the parent (whose default limit is 1,024);
   * above that, `RangeError`.
   * @default os.availableParallelism(), at most 1,024
   */
  size?: number
  /**
   * `'process'` runs each worker in a child process (`child_process.fork`):
   * crash isolation, its own memory, native modules and `process.chdir` work.
   * `'thread'` runs each worker in a worker thread of this process: faster to
   * start, same protocol.
   * @default 'process'
   */
  mode?: ProcessMode
  /**
   * After this many tasks (a chunk of `map`/`imap` counts as one, as in
   * Python), a worker exits and a new one (a new process) takes its place.
   * Frees what a leaky task leaves behind.
   * @default undefined (a worker runs any number of tasks)
   */
  maxTasksPerChild?: number
  /**
   * A worker with no task for this many ms exits; a new one is started when
   * work comes. `undefined` keeps idle workers.
   * @default undefined
   */
  idleTimeout?: number
  /**
   * The workers' environment variables.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv
  /**
   * Node.js options of the workers (`['--import', 'tsx']`, …).
   * @default process.execArgv (so a parent started with `node --import tsx` can use a .ts module)
   */
  execArgv?: readonly string[]
}

/** Options of `pool.run(exportName, args, options)`. */
export interface RunOptions {
  /**
   * Aborting rejects with `signal.reason`. A task still queued is dropped (it
   * never runs); a running one's worker is killed and replaced (the task may
   * have done part of its work). Once the task has settled the signal is ignored.
   * @default undefined
   */
  signal?: AbortSignal
  /**
   * The task fails with `TimeoutError` if it has not finished this many ms
   * after `run` was called, queued or running, handled as an abort.
   * @default undefined (no limit)
   */
  timeout?: number
}

/** Options of `pool.map(exportName, iterable, options)`. */
export interface MapOptions {
  /**
   * Inputs sent to a worker in one message. Larger chunks cost less per
   * input; smaller ones balance uneven tasks better. A chunk too large for
   * one message (4 MiB encoded) is split in halves until each part fits.
   * @default Python's rule: ceil(length / (4 × size))
   */
  chunksize?: number
  /**
   * Aborting rejects with `signal.reason`: queued chunks are dropped, and the
   * workers running chunks of this call are killed and replaced.
   * @default undefined
   */
  signal?: AbortSignal
}

/** Options of `pool.imap(exportName, iterable, options)`. */
export interface ImapOptions {
  /**
   * `true` yields results in input order; `false` yields each as soon as it
   * is ready (Python's `imap_unordered`).
   * @default true
   */
  ordered?: boolean
  /**
   * Inputs sent to a worker in one message; split as in `map` when too large.
   * @default Python's rule, ceil(length / (4 × size)), when the input has a
   * `length` or `size` (an array, a Set, …); else 1
   */
  chunksize?: number
  /**
   * Aborting makes the iteration throw `signal.reason`: queued chunks are
   * dropped and the workers running chunks of this call are killed and replaced.
   * @default undefined
   */
  signal?: AbortSignal
}

/** The option names of each options type (an unknown name is a TypeError). */
export const POOL_OPTIONS = optionNames<PoolOptions>({
  size: true,
  mode: true,
  maxTasksPerChild: true,
  idleTimeout: true,
  env: true,
  execArgv: true,
})
export const RUN_OPTIONS = optionNames<RunOptions>({ signal: true, timeout: true })
export const MAP_OPTIONS = optionNames<MapOptions>({ chunksize: true, signal: true })
export const IMAP_OPTIONS = optionNames<ImapOptions>({ ordered: true, chunksize: true, signal: true })
