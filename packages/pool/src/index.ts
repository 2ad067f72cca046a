/**
 * @ipc/pool: Python's multiprocessing.Pool for Node.js — a pool of worker
 * processes (or threads) that survives crashed workers.
 */
export {
  ClosedError,
  CorruptError,
  DataCloneError,
  IpcError,
  ProcessError,
  TimeoutError,
  ValueError,
  WorkerExitError,
} from './errors.js'
export type { ImapOptions, MapOptions, PoolOptions, RunOptions } from './options.js'
export { Pool } from './pool.js'
