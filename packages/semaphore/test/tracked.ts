/**
 * The objects a test file opens, closed after each of its tests. Call once at
 * module scope; `unlink` also unlinks each first (so a victim still alive
 * after a failed test keeps the segment mapped, not named).
 */
import { afterEach } from 'vitest'
import type { SemaphoreBase } from '../src/semaphore-base.js'

export function closeAfterEach(options: { unlink?: boolean } = {}): <T extends SemaphoreBase>(sem: T) => T {
  const open: SemaphoreBase[] = []
  afterEach(() => {
    for (const sem of open.splice(0)) {
      if (options.unlink === true) sem.unlink()
      sem.close()
    }
  })
  return (sem) => {
    open.push(sem)
    return sem
  }
}
