/**
 * Shared-memory layouts of @ipc/shared. Offsets are bytes from the segment's
 * data area (`segment.dataOffset`, 64-byte aligned); the segment header before
 * it (kind, layout version, attached objects) belongs to @ipc/core.
 *
 * SharedValue ('shared-value') and SharedArray ('shared-array'), version 2
 * (version 1 had the lock's sleeper count in its second word; the owner
 * word's WAITERS bit replaced it, so the two cannot share a lock):
 *
 * | offset | size        | field    | written by                 | meaning                                        |
 * |--------|-------------|----------|----------------------------|------------------------------------------------|
 * | 0      | 4           | magic    | creator, in init           | 0x31524853 ('SHR1')                            |
 * | 4      | 4           | type     | creator, in init           | element type id (element-types.ts, never renumbered) |
 * | 8      | 4           | flags    | creator, in init           | bit 0: created with a lock                     |
 * | 12     | 4           | reserved | —                          | 0                                              |
 * | 16     | 8           | length   | creator, in init           | float64: number of elements (1 for a value)    |
 * | 24     | 8           | reserved | —                          | 0                                              |
 * | 32     | 16          | lock     | RobustLock (see @ipc/core) | owner word (holder, WAITERS bit), 3 reserved   |
 * | 48     | 16          | reserved | —                          | 0                                              |
 * | 64     | length × n  | data     | users: Atomics / the view  | the elements, little-endian, naturally aligned |
 *
 * SharedMemory ('shared-memory'), version 1:
 *
 * | offset | size | field    | written by       | meaning                           |
 * |--------|------|----------|------------------|-----------------------------------|
 * | 0      | 4    | magic    | creator, in init | 0x314d4853 ('SHM1')               |
 * | 4      | 4    | reserved | —                | 0                                 |
 * | 8      | 8    | size     | creator, in init | float64: bytes of `buf`           |
 * | 64     | size | buf      | users            | the bytes (64-byte aligned)       |
 *
 * Everything in the header is written once by the creator before the segment
 * is published (Segment.create's init runs before the ready flag), so openers
 * read it without synchronisation.
 */
import type { Segment, SegmentKind } from '@ipc/core/internal'

export const VALUE_KIND: SegmentKind = { kind: 'shared-value', version: 2, label: 'shared value' }
export const ARRAY_KIND: SegmentKind = { kind: 'shared-array', version: 2, label: 'shared array' }
export const MEMORY_KIND: SegmentKind = { kind: 'shared-memory', version: 1, label: 'shared memory' }

export const SHARED_MAGIC = 0x31524853
export const MEMORY_MAGIC = 0x314d4853

export const OFFSET_MAGIC = 0
export const OFFSET_TYPE = 4
export const OFFSET_FLAGS = 8
export const OFFSET_LENGTH = 16
export const OFFSET_LOCK = 32
/** Where the elements (or SharedMemory's bytes) start: 64-byte aligned. */
export const OFFSET_DATA = 64
export const OFFSET_SIZE = 8

export const FLAG_LOCK = 1

/** What a value or array segment's header says. */
export interface SharedHeader {
  typeId: number
  length: number
  lock: boolean
}

/** Writes the header of a value or array segment (in Segment.create's init). */
export function writeSharedHeader(segment: Segment, header: SharedHeader): void {
  const base = segment.dataOffset
  const view = new DataView(segment.buffer, base, OFFSET_DATA)
  view.setUint32(OFFSET_TYPE, header.typeId, true)
  view.setUint32(OFFSET_FLAGS, header.lock ? FLAG_LOCK : 0, true)
  view.setFloat64(OFFSET_LENGTH, header.length, true)
  view.setUint32(OFFSET_MAGIC, SHARED_MAGIC, true)
}

/** Reads the header of a value or array segment; undefined when the magic is wrong. */
export function readSharedHeader(segment: Segment): SharedHeader | undefined {
  if (segment.dataBytes < OFFSET_DATA) return undefined
  const view = new DataView(segment.buffer, segment.dataOffset, OFFSET_DATA)
  if (view.getUint32(OFFSET_MAGIC, true) !== SHARED_MAGIC) return undefined
  return {
    typeId: view.getUint32(OFFSET_TYPE, true),
    length: view.getFloat64(OFFSET_LENGTH, true),
    lock: (view.getUint32(OFFSET_FLAGS, true) & FLAG_LOCK) !== 0,
  }
}
