/**
 * Who is alive. A process is identified by (pid, start time) so that a reused
 * pid is never mistaken for the process that died, and by its PID namespace
 * and boot id, because a pid names a process only inside one PID namespace
 * of one boot.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import type { Segment } from '../memory/segment.js'
import { native } from '../native.js'
import { runtime } from '../runtime.js'

/** What a process records about itself where others judge its liveness (a segment slot). */
export interface Identity {
  pid: number
  /** Kernel clock ticks since boot at which the process started. */
  startTime: number
  /** The inode of `/proc/self/ns/pid` (a uint32); 0 when unknown. */
  pidNamespace: number
  /** The first 64 bits of `/proc/sys/kernel/random/boot_id`, as two int32 words; [0, 0] when unknown. */
  bootId: readonly [number, number]
}

/** This process's identity. Read once per process. */
export function selfIdentity(): Identity {
  const rt = runtime()
  if (rt.identity === undefined || rt.identity.pid !== process.pid) {
    rt.identity = {
      pid: process.pid,
      startTime: native().processStartTime(process.pid),
      pidNamespace: readPidNamespace(),
      bootId: readBootId(),
    }
  }
  return rt.identity
}

function readPidNamespace(): number {
  try {
    return statSync('/proc/self/ns/pid').ino >>> 0
  } catch {
    return 0
  }
}

function readBootId(): [number, number] {
  try {
    const hex = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').replace(/[^0-9a-f]/gi, '')
    if (hex.length < 16) return [0, 0]
    return [Number.parseInt(hex.slice(0, 8), 16) | 0, Number.parseInt(hex.slice(8, 16), 16) | 0]
  } catch {
    return [0, 0]
  }
}

/** True while the process (pid, startTime) runs; `startTime` 0 skips the reuse check. */
export function isProcessAlive(pid: number, startTime: number): boolean {
  if (pid === process.pid) return startTime <= 0 || startTime === selfIdentity().startTime
  return native().processAlive(pid, startTime)
}

/**
 * The liveness rule for a process that recorded its `Identity` (the one rule;
 * segment slots use it):
 * - another boot (both boot ids known, and different): dead; its pid is meaningless now;
 * - another PID namespace (both known, and different): alive, always. Its pid
 *   means nothing here, so it cannot be checked, and it is never reaped: only
 *   its own close (or a process of its namespace) frees its slot;
 * - otherwise alive while (pid, startTime) runs.
 *
 * `settled` is false for a record still being written (a slot in transition):
 * its namespace and boot id must then equal ours exactly before its pid is
 * checked here, since words not yet written (0), left by the slot's previous
 * holder, or half written (the boot id is two words) say nothing about the
 * writer; such a record counts as alive. (Half a boot id beside a fresh
 * slot's 0 read as another boot: a creator preempted there was judged dead
 * by every cleanup scan, which unlinked its new segment's name under it.)
 */
export function isRecordedProcessAlive(recorded: Identity, settled = true): boolean {
  const me = selfIdentity()
  const [low, high] = recorded.bootId
  const [myLow, myHigh] = me.bootId
  if (!settled) {
    if (recorded.pidNamespace !== me.pidNamespace || low !== myLow || high !== myHigh) return true
  } else {
    if ((low !== 0 || high !== 0) && (myLow !== 0 || myHigh !== 0) && (low !== myLow || high !== myHigh)) return false
    if (recorded.pidNamespace !== 0 && me.pidNamespace !== 0 && recorded.pidNamespace !== me.pidNamespace) return true
  }
  return isProcessAlive(recorded.pid, recorded.startTime)
}

/**
 * The start time of `pid`; -1 if it has exited (or never ran), -2 if /proc
 * could not answer (this process is out of file descriptors, say).
 */
export function processStartTime(pid: number): number {
  return native().processStartTime(pid)
}

/** The kernel id of the calling thread (unique among live threads of the machine). */
export function threadId(): number {
  return native().threadId()
}

let threadsVisible: boolean | undefined

/** True unless /proc proves that thread `tid` of process `pid` has ended (where /proc lists threads). */
function threadMayRun(pid: number, tid: number): boolean {
  if (tid === pid || tid <= 0) return true // the main thread lives as long as its process
  threadsVisible ??= existsSync(`/proc/${process.pid}/task/${process.pid}`)
  return !threadsVisible || existsSync(`/proc/${pid}/task/${tid}`)
}

/**
 * The one liveness rule for an attachment of a segment (the object attached
 * at `slot`): alive while the slot is claimed (by the thread `tid`, when the
 * caller recorded one, compared on its low `tidBits` bits), its process runs
 * (`Segment.slotAlive`: pid + start time, namespace and boot rules above),
 * and the thread that attached it still exists: a worker stopped by
 * `worker.terminate()` never detaches its objects. A holder in another PID
 * namespace is alive (its tid names no thread in our /proc).
 *
 * With `thorough` false, only memory is read (no syscall): a freed or
 * re-claimed slot is seen, a killed process is not.
 * @throws {CorruptError} when `slot` (a word read from shared memory) is out of range.
 */
export function attachmentAlive(
  segment: Segment,
  slot: number,
  thorough: boolean,
  tid?: number,
  tidBits = 32,
): boolean {
  const owner = segment.slotOwner(slot)
  if (owner === undefined) return false
  if (tid !== undefined) {
    const mask = tidBits >= 32 ? -1 : (1 << tidBits) - 1
    if ((owner.tid & mask) !== (tid & mask)) return false
  }
  if (!thorough) return true
  if (!segment.slotAlive(slot)) return false
  return !owner.visible || threadMayRun(owner.pid, owner.tid)
}
