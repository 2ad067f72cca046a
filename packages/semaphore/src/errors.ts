/**
 * Errors of @ipc/semaphore: the @ipc/core classes it throws, and TimeoutError.
 */
import { IpcError } from '@ipc/core'

export { ClosedError, ExistsError, IncompatibleError, IpcError, NotFoundError, ValueError } from '@ipc/core'

/**
 * `permit({ timeout })` or `withPermit(fn, { timeout })` found no permit in
 * time (`acquire` resolves `false` instead, as in Python).
 */
export class TimeoutError extends IpcError {
  static override readonly code: string = 'IPC_TIMEOUT'
  override name = 'TimeoutError'
}
