/**
 * Remote fences: letting a hot path publish with a plain store, and paying
 * for the ordering on the rare path instead (native/fence.cc, membarrier).
 * The one rule of who may do so; the SPSC ring is the user (spsc-ring.ts,
 * "Ordering").
 *
 * Why: on x86-64 `Atomics.store` is an XCHG, which waits until the store
 * buffer has drained: a cross-core round trip on every message when the
 * other side has just read the line. A plain store waits for nothing. It
 * stays after the earlier stores (x86 is TSO), so a consumer that sees the
 * new head sees the record; but a later load, the waiters count the
 * notifier reads next, may pass it. A waiter that registers, then calls
 * `fenceRemote()`, then re-checks closes that gap: every registered process
 * running at that moment executes a full barrier, so either the producer's
 * store is visible to the re-check, or its load of the waiters count comes
 * after the barrier and sees the registration.
 *
 * What this relies on beyond the hardware: V8 (TurboFan, Maglev) keeps
 * typed-array stores, typed-array loads and `Atomics.load` in program order
 * (their effect chain), and compiles an x64 `Atomics.load` to a plain load
 * (inside a builtin it calls). That is V8's behaviour, not a guarantee of the
 * JavaScript memory model, which would let a compiler move a plain store
 * after a later load. So the notifier's load of the waiters count after a
 * plain store may be a plain load too (the ring's "Plain loads").
 *
 * Only on x64, where the plain store is both ordered and cheaper (on arm64
 * `Atomics.store` is a store-release and does not stall). A process that is
 * not on x64, whose kernel or seccomp filter denies
 * MEMBARRIER_CMD_GLOBAL_EXPEDITED (Linux 4.16+), that has no addon, or that
 * sets IPC_NO_REMOTE_FENCE=1, takes no part: it neither publishes plainly
 * nor fences, and a ring records that in its shared memory
 * (`atomicPublish`) so that every producer of that ring uses
 * `Atomics.store`.
 */
import { native } from '../native.js'
import { runtime } from '../runtime.js'

/**
 * True when this process publishes plainly and fences before it sleeps:
 * x64, and registered for remote fences (the registration also ran one
 * fence, so a filter that allows only the registration counts as none).
 */
export function plainPublishing(): boolean {
  const rt = runtime()
  if (rt.plainPublishing === undefined) {
    rt.plainPublishing = false
    if (process.arch === 'x64' && process.env.IPC_NO_REMOTE_FENCE !== '1') {
      try {
        // Optional: the binding of an older @ipc/core, loaded first by that copy, has none.
        rt.plainPublishing = (native().fenceRegister?.() ?? -1) === 0
      } catch {
        // No addon (a ring on a SharedArrayBuffer without it): keep the atomic stores.
      }
    }
  }
  return rt.plainPublishing
}

/**
 * A full barrier on every running thread of every process that registered
 * (see the header). Call only when `plainPublishing()`: it cannot fail then
 * (the same command succeeded at registration, and it takes no input).
 */
export function fenceRemote(): void {
  native().fenceRemote?.()
}
