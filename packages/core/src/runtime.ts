/**
 * Per-thread singletons, kept on globalThis under a registered symbol so that
 * the ESM and CJS copies of this package (and two installed versions) share
 * them: one native handle, one table of pending async waits, and the one
 * registry of what a normal exit closes (open primitives, then their
 * segments) per JS thread.
 */

import { writeSync } from 'node:fs'
import { inspect } from 'node:util'
import type { NativeBinding } from './native.js'
import type { Identity } from './ownership/liveness.js'

/** An async futex wait registered with the native waiter threads. */
export interface PendingWait {
  buffer: ArrayBufferLike
  settle(result: 'ok' | 'closed'): void
}

/** Something that must be closed when the thread exits (a primitive, a mapped segment). */
export interface Closable {
  close(): void
}

/**
 * What a normal exit of this thread closes, in this order: the open
 * primitives first (each gives back what it holds: permits, ring sleeper
 * shares, a pipe end), then every segment still mapped (frees its slot,
 * unlinks it when it was the last attacher). One `exit` listener runs both.
 */
export const EXIT_PRIMITIVES = 0
export const EXIT_SEGMENTS = 1
export type ExitPhase = typeof EXIT_PRIMITIVES | typeof EXIT_SEGMENTS

export interface Runtime {
  native: NativeBinding | undefined
  waits: Map<number, PendingWait>
  nextWaitId: number
  callbackInstalled: boolean
  /** Indexed by ExitPhase: closed at a normal exit, phase by phase (see closeAtExit). */
  atExit: [Set<Closable>, Set<Closable>]
  /** True once the one `exit` listener is installed in this thread. */
  exitHooked: boolean
  /**
   * The attachment `attachTo` (primitive/primitive.ts) hands to the
   * Primitive constructor it calls: set and taken within one synchronous call.
   */
  attaching: unknown
  identity: Identity | undefined
  /** Set in a child started by Process: its name. */
  childName: string | undefined
  /**
   * True in a child started by Process while it imports its module (Python's
   * bootstrapping phase): starting a Process then means the module has no
   * main guard, and `start()` refuses.
   */
  importingModule: boolean
  /**
   * The periodic looks of pending async waits (waiting/tick-grid.ts), made
   * on first use (a runtime made by an older copy of this package has none).
   */
  tickGrid?: unknown
  /**
   * Whether this process publishes ring heads plainly (waiting/remote-fence.ts),
   * decided on first use (a runtime made by an older copy of this package has none).
   */
  plainPublishing?: boolean
  /**
   * GONE decisions the cleanup scan found unfinished, by inode: the life word
   * and when it was first seen (memory/segment.ts `finishStaleGone`).
   */
  goneSeen?: Map<number, { life: number; at: number }>
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
      atExit: [new Set(), new Set()],
      exitHooked: false,
      attaching: undefined,
      identity: undefined,
      childName: undefined,
      importingModule: false,
    }
    holder[KEY] = rt
  }
  return rt
}

/**
 * Registers `object` to be closed at a normal exit of this thread (`exit`
 * event; a SIGKILL runs nothing, and the segments' slot table covers it).
 * Primitives (EXIT_PRIMITIVES) close before segments (EXIT_SEGMENTS), so a
 * primitive's own close (giving back permits, detaching from a ring) still
 * finds its segment mapped. Call `forgetAtExit` from `close()`. Every
 * object is closed even when one's `close()` throws (`reportAtExit`).
 */
export function closeAtExit(object: Closable, phase: ExitPhase): void {
  const rt = runtime()
  rt.atExit[phase].add(object)
  if (rt.exitHooked) return
  rt.exitHooked = true
  process.on('exit', () => {
    for (const set of rt.atExit)
      for (const each of [...set]) {
        try {
          each.close()
        } catch (error) {
          reportAtExit(error)
        }
      }
  })
}

/**
 * An error thrown by a `close()` at exit: written to stderr, and the exit
 * goes on (the other objects still close, later `exit` listeners still run,
 * the exit code stays), as Python's atexit prints an exception of a callback
 * and runs the others. Written synchronously: `process.emitWarning` waits for
 * a tick that never comes at exit, and a rethrow would skip the remaining
 * `exit` listeners and leave their objects' files in /dev/shm.
 */
function reportAtExit(error: unknown): void {
  try {
    writeSync(2, `@ipc: a close() at exit threw; the other objects were closed:\n${inspect(error)}\n`)
  } catch {
    // stderr is closed or full: nothing is left to report it to.
  }
}

/** Undoes `closeAtExit` (the object was closed). */
export function forgetAtExit(object: Closable, phase: ExitPhase): void {
  runtime().atExit[phase].delete(object)
}
