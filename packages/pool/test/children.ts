/** Helpers of the pool tests: this process's child processes, read from /proc. */
import { readdirSync, readFileSync } from 'node:fs'

/** The pids whose parent is this process (the pool's workers in process mode). */
export function childPids(): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // Field 4 (ppid) follows the command name in parentheses, which may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid) pids.push(Number(entry))
    } catch {
      // Exited while we looked.
    }
  }
  return pids
}

/** True when `pid` is a live process (not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** The @ipc segments (names in /dev/shm) this process maps now. */
export function mappedSegments(): string[] {
  const names = new Set<string>()
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const at = line.indexOf('/dev/shm/ipc-')
    if (at >= 0) names.add(line.slice(at + '/dev/shm/'.length).replace(/ \(deleted\)$/, ''))
  }
  return [...names]
}
