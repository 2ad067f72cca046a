/**
 * The shared-memory layouts of @ipc/sync: the data area of an @ipc/core
 * segment (from `segment.dataOffset`, 64-byte aligned; the header before it,
 * with the table of attached objects, is core's). Every word is an Int32
 * read and written with Atomics. Words a creator writes in `init` are
 * written before the segment is published (Segment.create's ready flag), so
 * openers read them without ordering.
 *
 * Event ('event', version 1):
 *
 * | word | name    | written by                              | meaning                                  |
 * |------|---------|-----------------------------------------|------------------------------------------|
 * | 0    | MAGIC   | creator (init)                          | 0x31545645 ('EVT1')                      |
 * | 1    | FLAG    | set() (exchange → 1), clear() (→ 0)     | 0 clear, 1 set; any other value: corrupt |
 * | 2    | EVENT   | set(), after FLAG (EventCount's event)  | a sequence waiters sleep on              |
 * | 3    | WAITERS | waiters (EventCount's waiters)          | waiters that may sleep; a hint           |
 * | 4-15 | —       | nobody                                  | reserved, 0                              |
 *
 * Condition ('condition', version 1): a header naming its lock, two words
 * kept under that lock, and a table of waiter entries.
 *
 * | word    | name      | written by                          | meaning                                                |
 * |---------|-----------|-------------------------------------|--------------------------------------------------------|
 * | 0       | MAGIC     | creator (init)                      | 0x31444e43 ('CND1')                                    |
 * | 1       | FLAGS     | creator (init)                      | bit 0: the lock was made for this condition (unlinked  |
 * |         |           |                                     | with it, created again if it vanished); others 0       |
 * | 2       | LOCK_KIND | creator (init)                      | 1 Lock ('lock'), 2 RLock ('rlock')                     |
 * | 3       | LOCK_LEN  | creator (init)                      | bytes of LOCK_NAME, 1 to 200                           |
 * | 4-53    | LOCK_NAME | creator (init)                      | UTF-8 name of the lock's segment, zero-padded          |
 * | 54-63   | —         | nobody                              | reserved, 0                                            |
 * | 64      | NEXT_SEQ  | a waiter holding the lock (+1)      | the next arrival number; wraps                         |
 * | 65      | HIGH      | holders of the lock                 | entries at HIGH and above are FREE; 0 to CAPACITY      |
 * | 66-79   | —         | nobody                              | reserved, 0                                            |
 * | 80 + 8i | entry i   | see below                           | CONDITION_CAPACITY (1024) entries of 8 words           |
 *
 * Condition entry (8 words):
 *
 * | word | name    | written by                                                  | meaning                              |
 * |------|---------|-------------------------------------------------------------|--------------------------------------|
 * | 0    | STATE   | its waiter (FREE → WAITING, holding the lock; → FREE),      | FREE 0, WAITING 1, NOTIFIED 2        |
 * |      |         | a notifier (CAS WAITING → NOTIFIED, holding the lock; CAS   |                                      |
 * |      |         | → FREE for a dead waiter), its object's close (CAS → FREE)  |                                      |
 * | 1    | SEQ     | its waiter, before STATE                                    | its arrival number (older = smaller) |
 * | 2    | SLOT    | its waiter, before STATE                                    | the waiting object's segment slot    |
 * | 3    | TID     | its waiter, before STATE                                    | that object's thread id              |
 * | 4    | EVENT   | a notifier after STATE (EventCount's event)                 | the word the waiter sleeps on        |
 * | 5    | SLEEPS  | the waiter (EventCount's waiters)                           | 1 while it may sleep                 |
 * | 6-7  | —       | nobody                                                      | reserved, 0                          |
 *
 * Barrier ('barrier', version 1): a RobustLock guards every word below it
 * but the entries' FREE stores, the EventCount, and the break of a call
 * that gives up while a live holder keeps the lock past its deadline
 * (its own entry PENDING → BROKEN by CAS, then BROKEN → 1; barrier.ts).
 *
 * | word    | name       | written by                        | meaning                                                 |
 * |---------|------------|-----------------------------------|---------------------------------------------------------|
 * | 0       | MAGIC      | creator (init)                    | 0x31524142 ('BAR1')                                     |
 * | 1       | PARTIES    | creator (init)                    | 1 to MAX_PARTIES                                        |
 * | 2       | CAPACITY   | creator (init)                    | entries in the table: barrierCapacity(PARTIES)          |
 * | 3       | —          | nobody                            | reserved, 0                                             |
 * | 4-7     | LOCK       | RobustLock (@ipc/core)            | the lock of the words below (its own table)             |
 * | 8       | GENERATION | the releaser, reset (+1)          | the generation now filling; wraps                       |
 * | 9       | COUNT      | arrivers (+1), release/break (→0) | parties arrived in this generation: 0 to PARTIES - 1    |
 * | 10      | BROKEN     | a breaker (→1; also without the   | 0 or 1                                                  |
 * |         |            | lock, see above), reset (→0)      |                                                         |
 * | 11      | EVENT      | whoever ends a generation or      | EventCount's event: every waiter sleeps on it           |
 * |         |            | breaks it (after the entries)     |                                                         |
 * | 12      | WAITERS    | waiters (EventCount's waiters)    | a hint                                                  |
 * | 13-15   | —          | nobody                            | reserved, 0                                             |
 * | 16 + 4i | entry i    | see below                         | CAPACITY entries of 4 words                             |
 *
 * Barrier entry (4 words):
 *
 * | word | name  | written by                                                   | meaning                                     |
 * |------|-------|--------------------------------------------------------------|---------------------------------------------|
 * | 0    | STATE | its waiter (FREE → PENDING holding the lock; → FREE after it | FREE 0, PENDING 1 (arrived, waiting),       |
 * |      |       | read its fate; CAS PENDING → BROKEN when it gives up without | RELEASED 2, BROKEN 3                        |
 * |      |       | the lock), the releaser or a breaker (CAS PENDING → fate,    |                                             |
 * |      |       | holding the lock)                                            |                                             |
 * | 1    | GEN   | its waiter, before STATE                                     | the generation it arrived in                |
 * | 2    | SLOT  | its waiter, before STATE                                     | the waiting object's segment slot           |
 * | 3    | TID   | its waiter, before STATE                                     | that object's thread id                     |
 *
 * Range checks: every word above is checked where it is read (CorruptError):
 * the magics, FLAG 0 or 1, the lock kind and name, HIGH and COUNT and
 * PARTIES and CAPACITY in range, BROKEN 0 or 1, entry states in their sets,
 * slots in the segment's table (core's `slotOwner`). EVENT, WAITERS,
 * SLEEPS, SEQ, GEN and TID are sequences or hints: every value is safe.
 */
import type { SegmentKind } from '@ipc/core/internal'

// Event (word indexes from the data area).
export const EVENT_MAGIC = 0x31545645
export const E_MAGIC = 0
export const E_FLAG = 1
export const E_EVENT = 2
export const E_WAITERS = 3
export const EVENT_BYTES = 64

// Condition.
export const CONDITION_MAGIC = 0x31444e43
export const C_MAGIC = 0
export const C_FLAGS = 1
export const C_LOCK_KIND = 2
export const C_LOCK_LEN = 3
export const C_LOCK_NAME = 4
/** The longest lock name, in UTF-8 bytes (as every segment name). */
export const MAX_LOCK_NAME_BYTES = 200
export const C_NEXT_SEQ = 64
export const C_HIGH = 65
export const C_ENTRIES = 80
export const C_ENTRY_WORDS = 8
/** How many waits a Condition holds at once (across every process and thread). */
export const CONDITION_CAPACITY = 1024
export const CONDITION_BYTES = (C_ENTRIES + CONDITION_CAPACITY * C_ENTRY_WORDS) * 4
export const FLAG_OWNS_LOCK = 1
/** The lock kinds a Condition header may name, by their stored number. */
export const LOCK_KINDS = [undefined, 'lock', 'rlock'] as const

// Condition entry words and states.
export const CE_STATE = 0
export const CE_SEQ = 1
export const CE_SLOT = 2
export const CE_TID = 3
export const CE_EVENT = 4
export const CE_SLEEPS = 5
export const FREE = 0
export const WAITING = 1
export const NOTIFIED = 2

// Barrier.
export const BARRIER_MAGIC = 0x31524142
export const B_MAGIC = 0
export const B_PARTIES = 1
export const B_CAPACITY = 2
export const B_LOCK = 4
export const B_GENERATION = 8
export const B_COUNT = 9
export const B_BROKEN = 10
export const B_EVENT = 11
export const B_WAITERS = 12
export const B_ENTRIES = 16
export const B_ENTRY_WORDS = 4
/** The most parties a Barrier may have. */
export const MAX_PARTIES = 1000

// Barrier entry words and states (FREE as above).
export const BE_STATE = 0
export const BE_GEN = 1
export const BE_SLOT = 2
export const BE_TID = 3
export const PENDING = 1
export const RELEASED = 2
export const BROKEN = 3

/**
 * Entries of a Barrier of `parties`: each waiting call holds one from its
 * arrival until it has read its fate, so `parties` callers need at most
 * `parties`; the rest is room for extra callers and entries of dead ones
 * not yet swept.
 */
export function barrierCapacity(parties: number): number {
  return 2 * parties + 8
}

export function barrierBytes(parties: number): number {
  return (B_ENTRIES + barrierCapacity(parties) * B_ENTRY_WORDS) * 4
}

// The segment kinds. A data area shorter than its layout's fixed part is refused at open
// (CorruptError), before a word past its end is read; a Barrier's entries are checked at attach.
export const EVENT_KIND: SegmentKind = { kind: 'event', version: 1, label: 'event', minDataBytes: EVENT_BYTES }
export const CONDITION_KIND: SegmentKind = {
  kind: 'condition',
  version: 1,
  label: 'condition',
  minDataBytes: CONDITION_BYTES,
}
export const BARRIER_KIND: SegmentKind = { kind: 'barrier', version: 1, label: 'barrier', minDataBytes: B_ENTRIES * 4 }
