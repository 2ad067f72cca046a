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
import {
  type Attachment,
  type CreationSpec,
  MPMC_RING_HEADER_BYTES,
  MpmcRing,
  mpmcRingBytes,
  type PrimitiveKind,
  type Segment,
} from '@ipc/core/internal'

/**
 * Layout version of queue segments; bump when the table above or the ring's layout changes.
 * 2: word 1 no longer holds maxsize (layout 1 checked it against the ring at attach).
 * 3: items may carry codec tag 8 (packed plain data), which layout-2 readers refuse.
 * 4: the ring's producers announce the room they wait for (ring layout 4, words 41-42).
 */
export const LAYOUT_VERSION = 4
export const MAGIC = 0x51435049

/** i32 indexes from the data area's first word. */
export const W_MAGIC = 0
export const W_TASKS_DONE = 2
export const W_JOIN_EVENT = 3
export const W_JOIN_WAITERS = 4
/** Byte offset of the ring from the data area (64-byte aligned). */
export const RING_OFFSET = 64

/** A queue's validated creation options. */
export interface QueueSpec extends CreationSpec {
  capacity: number
  maxsize: number
}

/** An attached queue segment: the segment, its ring, the word index of the data area, and which flavor it is. */
export interface Attached extends Attachment {
  segment: Segment
  ring: MpmcRing
  /** i32 index of the data area's first word. */
  base: number
  flavor: Flavor
}

/**
 * What distinguishes Queue, JoinableQueue and SimpleQueue: the segment kind
 * ('queue', 'joinable-queue', 'simple-queue'; also the handle's kind), the
 * label in messages and the class name (inspect, `Process`).
 */
export type Flavor = PrimitiveKind<Attached, QueueSpec> & {
  readonly segment: { kind: 'queue' | 'joinable-queue' | 'simple-queue'; label: string; minDataBytes: number }
  readonly className: 'Queue' | 'JoinableQueue' | 'SimpleQueue'
}

function attachRing(segment: Segment, flavor: Flavor): Attached {
  const label = flavor.segment.label
  const base = segment.dataOffset / 4
  const corrupt = (detail: string) =>
    new CorruptError(`Cannot open ${label} "${segment.name}": its shared memory is corrupt (${detail})`)
  // The segment's kind and version matched, so a wrong magic is damage, not
  // another layout. (A data area too short for these words and the ring's
  // header was refused by Segment.open: minDataBytes.)
  const magic = Atomics.load(segment.i32, base + W_MAGIC)
  if (magic !== MAGIC) throw corrupt(`magic ${magic}, not ${MAGIC}`)
  const ring = new MpmcRing(segment, segment.dataOffset + RING_OFFSET, label)
  const joinWaiters = Atomics.load(segment.i32, base + W_JOIN_WAITERS)
  if (joinWaiters < 0) throw corrupt(`${joinWaiters} join waiters`)
  return { segment, ring, base, flavor }
}

function flavor(kind: Flavor['segment']['kind'], label: string, className: Flavor['className']): Flavor {
  const self: Flavor = {
    segment: { kind, version: LAYOUT_VERSION, label, minDataBytes: RING_OFFSET + MPMC_RING_HEADER_BYTES },
    className,
    // Every class is bundled into the package's one entry file, which exports them all.
    module: import.meta.url,
    dataBytes: (spec) => RING_OFFSET + mpmcRingBytes(spec.capacity),
    init(created, spec) {
      const base = created.dataOffset / 4
      MpmcRing.init(created, created.dataOffset + RING_OFFSET, { capacity: spec.capacity, maxItems: spec.maxsize })
      created.i32[base + W_MAGIC] = MAGIC
    },
    attach: (segment) => attachRing(segment, self),
    // A dead attacher's locks and sleeper counts are released before its slot is freed.
    // When a full table makes an open take over a dead slot, this runs before the ring
    // is attached and does nothing for it: the ring's attach then abandons the locks its
    // slot holds and reclaims the slot's sleeper shares.
    onReap: (slot, _segment, attached) => attached?.ring.reclaimSlot(slot),
  }
  return self
}

export const QUEUE: Flavor = flavor('queue', 'queue', 'Queue')
export const JOINABLE_QUEUE: Flavor = flavor('joinable-queue', 'joinable queue', 'JoinableQueue')
export const SIMPLE_QUEUE: Flavor = flavor('simple-queue', 'simple queue', 'SimpleQueue')
