/**
 * Who is alive. A process is identified by (pid, start time) so that a reused
 * pid is never mistaken for the process that died.
 */
import { native } from './native.js'
import { runtime } from './runtime.js'

/** This process's identity: its pid and its start time (kernel clock ticks). */
export function selfIdentity(): { pid: number; startTime: number } {
  const rt = runtime()
  if (rt.identity === undefined || rt.identity.pid !== process.pid) {
    rt.identity = { pid: process.pid, startTime: native().processStartTime(process.pid) }
  }
  return rt.identity
}

/** True while the process (pid, startTime) runs; `startTime` 0 skips the reuse check. */
export function isProcessAlive(pid: number, startTime: number): boolean {
  if (pid === process.pid) return startTime <= 0 || startTime === selfIdentity().startTime
  return native().processAlive(pid, startTime)
}

/** The start time of `pid`, or -1 if there is no such process. */
export function processStartTime(pid: number): number {
  return native().processStartTime(pid)
}

/** The kernel id of the calling thread (unique among live threads of the machine). */
export function threadId(): number {
  return native().threadId()
}
