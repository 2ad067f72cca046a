/**
 * A test-only segment ("board") where children count what they see: how
 * many are inside the semaphore at once, how many operations each did, and a
 * stop flag. Word indexes (Int32, from the data area): see below.
 */
import { Segment } from '@ipc/core/internal'

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

/** mulberry32: a small seeded PRNG, so a failing stress run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
