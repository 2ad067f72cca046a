/**
 * A test-only segment ("board") where children count what they see: how
 * many are inside the semaphore at once, how many operations each did, and a
 * stop flag. Word indexes (Int32, from the data area): see below.
 */
import { Segment } from '@ipc/core/internal'
import { prng } from '@ipc/test-utils'

export { prng }

export const BOARD_KIND = { kind: 'semaphore-test-board', version: 1 }
/** Holders inside the guarded section now. */
export const INSIDE = 0
/** The most holders ever seen inside at once. */
export const MAX_INSIDE = 1
/** Times a holder saw more holders inside than the semaphore's value. */
export const VIOLATIONS = 2
/** Set to 1 to make children finish. */
export const STOP = 3
/** Children that attached and are ready. */
export const READY = 4
/** Set to 1 to let the children start. */
export const GO = 5
/** From here, one word per child: operations done. */
export const OPS = 16

export interface Board {
  segment: Segment
  name: string
  get(word: number): number
  set(word: number, value: number): void
  close(): void
}

export function createBoard(): Board {
  const segment = Segment.create(BOARD_KIND, 4096)
  const base = segment.dataOffset / 4
  return {
    segment,
    name: segment.name,
    get: (word) => Atomics.load(segment.i32, base + word),
    set: (word, value) => void Atomics.store(segment.i32, base + word, value),
    close: () => segment.close(),
  }
}
