/**
 * Per-thread singletons, kept on globalThis under a registered symbol so that
 * the ESM and CJS copies of this package (and two installed versions) share
 * them: one native handle, one table of pending async waits, one set of open
 * segments per JS thread.
 */

import type { NativeBinding } from './native.js'
import type { Identity } from './ownership/liveness.js'

/** An async futex wait registered with the native waiter threads. */
export interface PendingWait {
  buffer: ArrayBufferLike
  settle(result: 'ok' | 'closed'): void
}

/** Something that must be closed when the thread exits (a mapped segment). */
export interface Closable {
  close(): void
}

export interface Runtime {
  native: NativeBinding | undefined
  waits: Map<number, PendingWait>
  nextWaitId: number
  callbackInstalled: boolean
  openSegments: Set<Closable>
  identity: Identity | undefined
  /** Set in a child started by Process: its name. */
  childName: string | undefined
  /**
   * True in a child started by Process while it imports its module (Python's
   * bootstrapping phase): starting a Process then means the module has no
   * main guard, and `start()` refuses.
   */
  importingModule: boolean
}

const KEY = Symbol.for('@ipc/core/runtime')

export function runtime(): Runtime {
  const holder = globalThis as unknown as Record<symbol, Runtime | undefined>
  let rt = holder[KEY]
  if (rt === undefined) {
    rt = {
      native: undefined,
      waits: new Map(),
      nextWaitId: 1,
      callbackInstalled: false,
      openSegments: new Set(),
      identity: undefined,
      childName: undefined,
      importingModule: false,
    }
    holder[KEY] = rt
  }
  return rt
}
