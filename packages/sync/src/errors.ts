/**
 * Errors of @ipc/sync: BrokenBarrierError (Python's
 * threading.BrokenBarrierError), and the @ipc/core classes it throws.
 */
import { IpcError } from '@ipc/core'

export {
  ClosedError,
  CorruptError,
  ExistsError,
  IncompatibleError,
  IpcError,
  NotFoundError,
  PermissionError,
  TimeoutError,
  ValueError,
} from '@ipc/core'

/**
 * A Barrier is broken, or broke while the call waited: by `abort()`, by
 * `reset()` while parties waited, by a waiting call's timeout or aborted
 * signal, or by a party that died (even by SIGKILL) or closed its Barrier
 * while it waited. Every waiter of that generation gets it; none hangs.
 * A broken barrier stays broken until `reset()`.
 */
export class BrokenBarrierError extends IpcError {
  static override readonly code: string = 'IPC_BROKEN_BARRIER'
  override name = 'BrokenBarrierError'
}
