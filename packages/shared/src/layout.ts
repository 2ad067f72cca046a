/**
 * Shared-memory layouts of @ipc/shared. Offsets are bytes from the segment's
 * data area (`segment.dataOffset`, 64-byte aligned); the segment header before
 * it (kind, layout version, attached objects) belongs to @ipc/core.
 *
 * SharedValue ('shared-value') and SharedArray ('shared-array'), version 2
 * (version 1 kept a RobustLock at offset 32; the lock now has its own segment):
 *
 * | offset | size        | field     | written by                 | meaning                                              |
 * |--------|-------------|-----------|----------------------------|------------------------------------------------------|
 * | 0      | 4           | magic     | creator, in init           | 0x31524853 ('SHR1')                                  |
 * | 4      | 4           | type      | creator, in init           | element type id (element-types.ts, never renumbered) |
 * | 8      | 4           | flags     | creator, in init           | bit 0: has a lock; bit 1: the lock was made for this |
 * |        |             |           |                            | object (`lock: true`) and is unlinked with it        |
 * | 12     | 4           | lockKind  | creator, in init           | 0 none, 1 Lock ('lock'), 2 RLock ('rlock')           |
 * | 16     | 8           | length    | creator, in init           | float64: number of elements (1 for a value)          |
 * | 24     | 4           | lockBytes | creator, in init           | length of lockName in bytes: 1 to 200 (0: no lock)   |
 * | 28     | 4           | reserved  | —                          | 0                                                    |
 * | 32     | 200         | lockName  | creator, in init           | UTF-8 name of the lock's own segment                 |
 * | 232    | 24          | reserved  | —                          | 0                                                    |
 * | 256    | length × n  | data      | users: Atomics / the view  | the elements, little-endian, naturally aligned       |
 *
 * Every header field is range-checked on open: a lock kind outside 0..2, a
 * name length outside 1..200 (or not 0 without a lock) or a name that is not
 * a valid name makes `open` throw CorruptError.
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
import { checkName, type Segment, type SegmentKind } from '@ipc/core/internal'

export const VALUE_KIND: SegmentKind = { kind: 'shared-value', version: 2, label: 'shared value' }
export const ARRAY_KIND: SegmentKind = { kind: 'shared-array', version: 2, label: 'shared array' }
export const MEMORY_KIND: SegmentKind = { kind: 'shared-memory', version: 1, label: 'shared memory' }

export const SHARED_MAGIC = 0x31524853
export const MEMORY_MAGIC = 0x314d4853

export const OFFSET_MAGIC = 0
export const OFFSET_TYPE = 4
export const OFFSET_FLAGS = 8
const OFFSET_LOCK_KIND = 12
export const OFFSET_LENGTH = 16
const OFFSET_LOCK_BYTES = 24
const OFFSET_LOCK_NAME = 32
/** The longest lock name, in UTF-8 bytes (as every segment name). */
const MAX_LOCK_NAME_BYTES = 200
/** Where a value's or array's elements start: 64-byte aligned. */
export const OFFSET_ELEMENTS = 256
/** Where SharedMemory's bytes start: 64-byte aligned. */
export const OFFSET_DATA = 64
export const OFFSET_SIZE = 8

const FLAG_LOCK = 1
const FLAG_OWNS_LOCK = 2

/** The lock kinds a header may name, by their stored number. */
const LOCK_KINDS = [undefined, 'lock', 'rlock'] as const

/** The lock a value or array segment names: its segment kind and name, and whether it was made for the object. */
export interface LockRecord {
  kind: 'lock' | 'rlock'
  name: string
  /** Made by `lock: true` for this object: unlinked with it, re-created if it vanished. */
  owned: boolean
}

/** What a value or array segment's header says. */
export interface SharedHeader {
  typeId: number
  length: number
  lock: LockRecord | undefined
}

/** Writes the header of a value or array segment (in Segment.create's init). */
export function writeSharedHeader(segment: Segment, header: SharedHeader): void {
  const base = segment.dataOffset
  const view = new DataView(segment.buffer, base, OFFSET_ELEMENTS)
  view.setUint32(OFFSET_TYPE, header.typeId, true)
  const { lock } = header
  if (lock !== undefined) {
    view.setUint32(OFFSET_FLAGS, FLAG_LOCK | (lock.owned ? FLAG_OWNS_LOCK : 0), true)
    view.setUint32(OFFSET_LOCK_KIND, LOCK_KINDS.indexOf(lock.kind), true)
    const written = Buffer.from(segment.buffer, base + OFFSET_LOCK_NAME, MAX_LOCK_NAME_BYTES).write(lock.name, 'utf8')
    view.setUint32(OFFSET_LOCK_BYTES, written, true)
  }
  view.setFloat64(OFFSET_LENGTH, header.length, true)
  view.setUint32(OFFSET_MAGIC, SHARED_MAGIC, true)
}

/**
 * Reads the header of a value or array segment; undefined when the magic is
 * wrong (not ours). `corrupt(what)` builds the error for a field out of range.
 */
export function readSharedHeader(segment: Segment, corrupt: (what: string) => Error): SharedHeader | undefined {
  if (segment.dataBytes < OFFSET_ELEMENTS) return undefined
  const base = segment.dataOffset
  const view = new DataView(segment.buffer, base, OFFSET_ELEMENTS)
  if (view.getUint32(OFFSET_MAGIC, true) !== SHARED_MAGIC) return undefined
  const flags = view.getUint32(OFFSET_FLAGS, true)
  const kindId = view.getUint32(OFFSET_LOCK_KIND, true)
  const bytes = view.getUint32(OFFSET_LOCK_BYTES, true)
  if ((flags & ~(FLAG_LOCK | FLAG_OWNS_LOCK)) !== 0) throw corrupt(`its flags word is ${flags}`)
  let lock: LockRecord | undefined
  if ((flags & FLAG_LOCK) === 0) {
    if (kindId !== 0 || bytes !== 0 || flags !== 0) throw corrupt('it names a lock but has none')
  } else {
    const kind = kindId === 1 || kindId === 2 ? LOCK_KINDS[kindId] : undefined
    if (kind === undefined) throw corrupt(`its lock kind is ${kindId}, outside 1 to 2`)
    if (!(bytes >= 1 && bytes <= MAX_LOCK_NAME_BYTES))
      throw corrupt(`its lock name is ${bytes} bytes long, outside 1 to ${MAX_LOCK_NAME_BYTES}`)
    const name = Buffer.from(segment.buffer, base + OFFSET_LOCK_NAME, bytes).toString('utf8')
    // The rules of every name (checkName: not '.' or '..', no '/' or NUL), and bytes that were UTF-8.
    if (Buffer.byteLength(name) !== bytes || !isValidName(name)) throw corrupt('its lock name is not a valid name')
    lock = { kind, name, owned: (flags & FLAG_OWNS_LOCK) !== 0 }
  }
  return { typeId: view.getUint32(OFFSET_TYPE, true), length: view.getFloat64(OFFSET_LENGTH, true), lock }
}

/** Whether `name` passes checkName (it was read from shared memory: its failure is the memory's, not an argument's). */
function isValidName(name: string): boolean {
  try {
    checkName(name)
    return true
  } catch {
    return false
  }
}
