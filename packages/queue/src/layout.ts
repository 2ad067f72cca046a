/**
 * The shared-memory layout of a queue segment, and how to create and attach
 * one. The segment header (magic, kind, layout version, attached slots) is
 * @ipc/core's; the kind is 'queue', 'joinable-queue' or 'simple-queue', and
 * the layout version below is checked on open (IncompatibleError).
 *
 * Data area (byte offsets from the segment's dataOffset):
 *
 * | offset | size | name         | written by                | meaning                                            |
 * |--------|------|--------------|---------------------------|----------------------------------------------------|
 * | 0      | 4    | MAGIC        | creator                   | 0x51435049 ('IPCQ')                                |
 * | 4      | 4    | (reserved)   | nobody                    | 0; layout 1 kept maxsize here (the ring's MAX_ITEMS holds it) |
 * | 8      | 4    | TASKS_DONE   | taskDone() (CAS), shutdown| JoinableQueue: tasks done ever (int32, wraps)      |
 * | 12     | 4    | JOIN_EVENT   | taskDone(), shutdown()    | event of an @ipc/core EventCount: bumped when unfinished tasks reach 0 |
 * | 16     | 4    | JOIN_WAITERS | join()/joinSync()         | its waiters: joiners registered to sleep on JOIN_EVENT |
 * | 64     | …    | ring         | see @ipc/core mpmc-ring   | MpmcRing header, then `capacity` bytes of items    |
 *
 * Unfinished tasks = the ring's TAIL_COUNT (items ever put, counted before
 * each item is published and repaired if its producer dies) − TASKS_DONE. So
 * a producer that dies after its put still counts its item, and one that dies
 * before publishing does not: `join` can neither return early nor hang
 * because of a crash.
 *
 * Checked at attach (`attachRing`, CorruptError): MAGIC, JOIN_WAITERS not
 * negative; the ring checks its own header (capacity within the segment,
 * positions, counts, states, lock owners). The segment header's kind and
 * version are checked before (IncompatibleError). TASKS_DONE may be any
 * int32 (it wraps); a joiner sleeps at most the kernel's RECHECK_MS at a
 * time, so a wrong JOIN_WAITERS (or a notifier killed between its change and
 * its wake) costs a late wake-up, never a hang. joinable-queue.ts holds the
 * protocol of the three JoinableQueue words.
 */
import { CorruptError } from '@ipc/core'
import { MpmcRing, mpmcRingBytes, Segment, type SegmentKind } from '@ipc/core/internal'

/**
 * Layout version of queue segments; bump when the table above or the ring's layout changes.
 * 2: word 1 no longer holds maxsize (layout 1 checked it against the ring at attach).
 */
export const LAYOUT_VERSION = 2
export const MAGIC = 0x51435049

/** i32 indexes from the data area's first word. */
export const W_MAGIC = 0
export const W_TASKS_DONE = 2
export const W_JOIN_EVENT = 3
export const W_JOIN_WAITERS = 4
/** Byte offset of the ring from the data area (64-byte aligned). */
export const RING_OFFSET = 64

/** What distinguishes Queue, JoinableQueue and SimpleQueue. */
export interface Flavor {
  /** Segment kind and handle kind. */
  kind: 'queue' | 'joinable-queue' | 'simple-queue'
  /** Name in messages. */
  label: string
  /** Class name, for inspect and the transfer descriptor. */
  className: 'Queue' | 'JoinableQueue' | 'SimpleQueue'
}

export const QUEUE: Flavor = { kind: 'queue', label: 'queue', className: 'Queue' }
export const JOINABLE_QUEUE: Flavor = { kind: 'joinable-queue', label: 'joinable queue', className: 'JoinableQueue' }
export const SIMPLE_QUEUE: Flavor = { kind: 'simple-queue', label: 'simple queue', className: 'SimpleQueue' }

function segmentKind(flavor: Flavor): SegmentKind {
  return { kind: flavor.kind, version: LAYOUT_VERSION, label: flavor.label }
}

/** An attached queue segment: the segment, its ring, and the word index of the data area. */
export interface Attached {
  segment: Segment
  ring: MpmcRing
  /** i32 index of the data area's first word. */
  base: number
}

function attachRing(segment: Segment, flavor: Flavor, holder: { ring?: MpmcRing }): Attached {
  const base = segment.dataOffset / 4
  const corrupt = (detail: string) =>
    new CorruptError(`Cannot open ${flavor.label} "${segment.name}": its shared memory is corrupt (${detail})`)
  // The segment's kind and version matched, so a wrong magic is damage, not another layout.
  const magic = Atomics.load(segment.i32, base + W_MAGIC)
  if (magic !== MAGIC) throw corrupt(`magic ${magic}, not ${MAGIC}`)
  const ring = new MpmcRing(segment, segment.dataOffset + RING_OFFSET, flavor.label)
  const joinWaiters = Atomics.load(segment.i32, base + W_JOIN_WAITERS)
  if (joinWaiters < 0) throw corrupt(`${joinWaiters} join waiters`)
  holder.ring = ring
  return { segment, ring, base }
}

/** Creates a queue segment (capacity already validated). */
export function createQueue(
  flavor: Flavor,
  options: { capacity: number; maxsize: number; name: string | undefined },
): Attached {
  const holder: { ring?: MpmcRing } = {}
  const segment = Segment.create(segmentKind(flavor), RING_OFFSET + mpmcRingBytes(options.capacity), {
    name: options.name,
    init(created) {
      const base = created.dataOffset / 4
      MpmcRing.init(created, created.dataOffset + RING_OFFSET, {
        capacity: options.capacity,
        maxItems: options.maxsize,
      })
      created.i32[base + W_MAGIC] = MAGIC
    },
    // A dead attacher's locks and sleeper counts are released before its slot is freed.
    onReap: (slot) => holder.ring?.reclaimSlot(slot),
  })
  return attachRing(segment, flavor, holder)
}

/** Attaches to the queue segment `name` (NotFoundError, IncompatibleError). */
export function openQueue(flavor: Flavor, name: string): Attached {
  const holder: { ring?: MpmcRing } = {}
  // When a full table makes this open take over a dead slot, onReap runs before the ring
  // is attached and does nothing for it: the attach then bumps the slot's epoch (the dead
  // owner's lock words become stale, so waiters take the locks over) and reclaims the
  // slot's sleeper shares.
  const segment = Segment.open(segmentKind(flavor), name, { onReap: (slot) => holder.ring?.reclaimSlot(slot) })
  try {
    return attachRing(segment, flavor, holder)
  } catch (error) {
    segment.close()
    throw error
  }
}
