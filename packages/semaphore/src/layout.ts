/**
 * The shared-memory layout of a Semaphore or BoundedSemaphore: the data
 * area of an @ipc/core segment (it starts at `segment.dataOffset`). All words
 * are Int32, little-endian, read and written with Atomics.
 *
 * Header (word index from the start of the data area):
 *
 * | word | bytes | name        | written by                          | meaning                                                     |
 * |------|-------|-------------|-------------------------------------|-------------------------------------------------------------|
 * | 0    | 0     | MAGIC       | creator (init)                      | 0x414d4553 ('SEMA')                                         |
 * | 1    | 4     | STATE       | every object, CAS only (see below)  | count << 9 \| HANDOFF (bit 8) \| tag (bits 0-7)             |
 * | 2    | 8     | WAITERS     | waiters (+1 / -1), reapers (-1)     | how many objects have a ticket (a hint: only ever too high) |
 * | 3    | 12    | NEXT_TICKET | waiters (fetch-add)                 | the next waiting ticket; wraps; 0 is skipped                |
 * | 4    | 16    | BOUND       | creator (init)                      | the highest value release may reach: the initial value for  |
 * |      |       |             |                                     | BoundedSemaphore, 0 (no bound) for Semaphore                |
 * | 5    | 20    | FLAGS       | creator (init)                      | bit 0: RECLAIM (give back the permits of dead holders)     |
 * | 6    | 24    | MAX_SLOT    | attachers (CAS, only grows)         | 1 + the highest segment slot ever attached: scan limit      |
 * | 7    | 28    | SLEEPERS    | whoever flips a SLEEP word (±1)     | how many slots have SLEEP = 1; a giver scans only if > 0    |
 * | 8-15 | 32    | —           | —                                   | reserved, zero                                              |
 *
 * Then one 64-byte record per segment slot (128 of them, one cache line each),
 * at word 16 + slot × 16:
 *
 * | word | name    | written by                                         | meaning                                                    |
 * |------|---------|----------------------------------------------------|------------------------------------------------------------|
 * | 0    | HELD    | the slot's object; its reaper after it died        | permits this object holds (taken and not given back)       |
 * | 1    | JOURNAL | the slot's object (or its reaper), before tagging  | what HELD becomes when the tagged operation completes      |
 * | 2    | TICKET  | the slot's object; its reaper                      | 0: not waiting; else its place in line (older = smaller,   |
 * |      |         |                                                    | by wrapping difference; see permit-counter.ts, "Oldest")   |
 * | 3    | WAKE    | anyone waking this slot (+1)                       | the futex word the slot's waiters sleep on                 |
 * | 4    | SLEEP   | the slot (CAS 0 → 1 before sleeping), a waker or   | 1: a waiter may be asleep on WAKE, so a waker must notify; |
 * |      |         | the slot itself (CAS 1 → 0)                        | whoever flips it also moves SLEEPERS                       |
 * | 5-15 | —       | —                                                  | reserved, zero                                             |
 *
 * WAKE, SLEEP and SLEEPERS are the words of each slot's EventCount (@ipc/core's
 * one wait loop): its event word, its claimed share and the total of waiters.
 *
 * STATE, the one word every acquire and release changes:
 * - `count` (bits 9-31, unsigned): permits available now, 0..MAX_VALUE.
 * - `HANDOFF` (bit 8): a waiter has waited longer than STARVE_MS; until it is
 *   cleared only the oldest waiter (smallest TICKET; for scribbled tickets
 *   with no smallest, largest age `NEXT_TICKET - TICKET`, see permit-counter.ts) may take a permit, and a waiter skips an older ticket
 *   that leaves a free permit untaken HANDOFF_GRACE_MS.
 * - `tag` (bits 0-7): 0, or slot + 1 of the object whose HELD is being updated
 *   together with the count. While a tag is set nobody else changes STATE (every
 *   CAS expects tag 0), so the tagger clears it with a plain store.
 *
 * Why the tag: "take a permit" and "record who holds it" are two words. The
 * taker writes JOURNAL (the HELD to come), CASes STATE (count and tag at once),
 * stores HELD, then clears the tag. If it dies in between, the tag says so, and
 * its reaper finishes the operation from JOURNAL: so HELD is always exact and a
 * dead holder's permits come back exactly once. The reaper gives them back with
 * the same tagged protocol, so a reaper that dies midway is itself repaired.
 *
 * Valid values (any other is corruption; permit-counter.ts checks each where it
 * is decoded, see "Range checks" there): tag 0..128 and never the reader's own
 * outside its operation; count <= BOUND when BOUND > 0; BOUND 0..MAX_VALUE;
 * FLAGS only RECLAIM; MAX_SLOT 0..128; reserved words 0; HELD and JOURNAL
 * 0..MAX_VALUE; SLEEP 0 or 1; TICKET 0 in a slot no object holds. WAITERS,
 * SLEEPERS, NEXT_TICKET, WAKE and the value of a TICKET are hints or wrapping
 * numbers: every value is safe (a ticket that never takes the permit it is
 * offered costs each waiter at most about 2 × PEER_CHECK_MS, once).
 */

import { SLOT_COUNT } from '@ipc/core/internal'

/** 'SEMA' */
export const MAGIC = 0x414d4553
/** Layout version of this table; opening a segment of another version throws IncompatibleError. */
export const LAYOUT_VERSION = 1

export const HEADER_WORDS = 16
export const SLOT_WORDS = 16
/**
 * One record per attachment slot of the segment: core's SLOT_COUNT (128), so
 * a tag (slot + 1) fits the 8 tag bits of STATE (layout.test.ts checks it).
 */
export { SLOT_COUNT }
/** Bytes of the data area. */
export const DATA_BYTES = (HEADER_WORDS + SLOT_COUNT * SLOT_WORDS) * 4

// Header words.
export const W_MAGIC = 0
export const W_STATE = 1
export const W_WAITERS = 2
export const W_NEXT_TICKET = 3
export const W_BOUND = 4
export const W_FLAGS = 5
export const W_MAX_SLOT = 6
export const W_SLEEPERS = 7

// Words of a slot record.
export const S_HELD = 0
export const S_JOURNAL = 1
export const S_TICKET = 2
export const S_WAKE = 3
export const S_SLEEP = 4

// STATE bits.
export const TAG_MASK = 0xff
export const HANDOFF = 0x100
export const COUNT_SHIFT = 9
/** One permit in STATE. */
export const ONE = 1 << COUNT_SHIFT
/** The largest value a semaphore can hold (23 bits). */
export const MAX_VALUE = 2 ** 23 - 1

// FLAGS bits.
export const FLAG_RECLAIM = 1

/** The Int32 index of header word `word` in a segment whose data starts at byte `dataOffset`. */
export function headerIndex(dataOffset: number, word: number): number {
  return dataOffset / 4 + word
}

/** The Int32 index of word `word` of the record of `slot`. */
export function slotIndex(dataOffset: number, slot: number, word: number): number {
  return dataOffset / 4 + HEADER_WORDS + slot * SLOT_WORDS + word
}

/** The count field of a STATE value. */
export function countOf(state: number): number {
  return state >>> COUNT_SHIFT
}
