/**
 * Errors of @ipc/queue: Empty, Full and ShutDown (Python's queue.Empty,
 * queue.Full and queue.ShutDown). The @ipc/core classes it throws are
 * re-exported by index.ts.
 */
import { IpcError, type IpcErrorOptions } from '@ipc/core'

/** `getNowait()` found the queue empty, or `get({ timeout })` waited in vain. */
export class Empty extends IpcError {
  static override readonly code: string = 'IPC_EMPTY'
  override name = 'Empty'
}

/** Options of Full and ShutDown. */
export interface ShutDownOptions extends IpcErrorOptions {
  /** The item a `put` could not deliver; for `putMany`, the array of items it did not put. */
  item?: unknown
}

/** Options of Full. */
export type FullOptions = ShutDownOptions

/**
 * `putNowait()` found the queue full, or `put(item, { timeout })` waited in
 * vain. The item that was not put is in `.item` (for `putMany`, the array
 * of the items it did not put: the ones before them are in the queue).
 */
export class Full extends IpcError {
  static override readonly code: string = 'IPC_FULL'
  override name = 'Full'
  /** What a failed put did not deliver (see the class comment). */
  readonly item: unknown

  constructor(message: string, options: FullOptions = {}) {
    super(message, options)
    this.item = options.item
  }
}

/**
 * The queue was shut down: `put` after `shutdown()`, or `get` once a shut
 * down queue is empty. A `put` that fails this way hands its item back in
 * `.item` (`putMany`: the array of items it did not put), so nothing is
 * lost silently.
 */
export class ShutDown extends IpcError {
  static override readonly code: string = 'IPC_SHUTDOWN'
  override name = 'ShutDown'
  /** The item that a failed `put` did not deliver (undefined for `get`). */
  readonly item: unknown

  constructor(message: string, options: ShutDownOptions = {}) {
    super(message, options)
    this.item = options.item
  }
}
