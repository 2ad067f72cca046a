/**
 * Named shared-memory segments with a common header: what kind of primitive
 * lives in it, its layout version, and the table of attached processes that
 * decides when the segment is removed.
 *
 * Header (bytes from the start of the mapping; little-endian):
 *
 * | offset | size | field      | written by                  | meaning                                            |
 * |--------|------|------------|-----------------------------|----------------------------------------------------|
 * | 0      | 4    | magic      | native create, then creator | 0x69435049 ('IPCi') initialising, written before   |
 * |        |      |            |                             | the file has its size; 0x32435049 ('IPC2') ready,  |
 * |        |      |            |                             | stored by the creator before `state`               |
 * | 4      | 4    | state      | creator, last               | 0 initialising, 1 ready (openers wait for 1)       |
 * | 8      | 4    | version    | creator                     | layout version of the kind                         |
 * | 12     | 4    | dataOffset | creator                     | where the kind's data starts (= HEADER_BYTES)      |
 * | 16     | 8    | dataBytes  | creator                     | float64: size of the data area                     |
 * | 24     | 32   | kind       | creator                     | ASCII, NUL-padded ('queue', 'semaphore', …)        |
 * | 56     | 4    | flags      | creator                     | bit 0 PERSISTENT: never unlinked by a last close   |
 * |        |      |            |                             | or the cleanup scan, only by unlink(); other bits 0|
 * | 60     | 4    | life       | last closer, openers (CAS)  | lifecycle: bits 0-1 phase (0 OPEN, 1 CLOSING,     |
 * |        |      |            |                             | 2 GONE, 3 UNLINKED), bits 2-31 an epoch; see      |
 * |        |      |            |                             | "Last close"                                      |
 * | 64     | 4096 | slots      | each attacher its own       | 128 × 32-byte slot, below                          |
 * | 4160   | …    | data       | the kind                    | see the kind's layout table                        |
 *
 * Slot (32 bytes at 64 + 32 × slot):
 *
 * | offset | size | field        | meaning                                                        |
 * |--------|------|--------------|----------------------------------------------------------------|
 * | 0      | 4    | pid          | 0 free; > 0 attached; < 0 in transition by process -pid        |
 * | 4      | 4    | tid          | kernel thread id of the attaching JS thread; -1 thread gone    |
 * | 8      | 8    | startTime    | float64: the pid's start time (ticks), against pid reuse       |
 * | 16     | 4    | pidNamespace | uint32 inode of the holder's /proc/self/ns/pid; 0 unknown      |
 * | 20     | 4    | (reserved)   | 0                                                              |
 * | 24     | 8    | bootId       | 2 × int32: first 64 bits of the holder's boot id; 0, 0 unknown |
 *
 * A claimer CASes pid 0 → -pid, at once stores its pidNamespace and bootId,
 * then startTime and tid, and the pid last; so a reader that sees a positive
 * pid also sees the rest. A reaper CASes a dead holder's pid → -itself and
 * stores its own pidNamespace and bootId the same way, so the namespace words
 * of a slot in transition describe the process that holds it in transition
 * (except for the instant between the CAS and those stores; `slotAliveIn`
 * counts such a slot alive: its namespace and boot id must both be ours
 * before its pid is looked up, as `isRecordedProcessAlive` says). A tid of -1 means the slot's JS thread ended
 * without closing (the addon stores it at thread teardown): the slot is dead
 * and is reaped like a dead process's. A slot belongs to one Segment object
 * (one `open` or `create`), not to a whole process. Liveness is
 * `isRecordedProcessAlive` (liveness.ts): a holder in another PID namespace is
 * alive (never reaped from here), one from another boot is dead.
 *
 * The segment is unlinked when its last live attacher detaches; a segment
 * whose attachers all died is unlinked by the next create/open in any process
 * (`reclaimDeadSegments`). A PERSISTENT segment is neither: it stays until
 * `unlink()` (its dead attachers' slots are still reaped).
 *
 * Create-or-open (`Segment.openOrCreate`) is atomic because the native create
 * is O_CREAT|O_EXCL: of racing processes exactly one creates the name; the
 * others open it and wait for its creator to mark it ready (20 slices of
 * 100 ms while the creator lives: a stalled machine costs a slice, not the
 * whole wait).
 *
 * Last close: a closer that finds no live slot must not unlink a name that an
 * opener is attaching to at that moment (the opener would keep a segment
 * nobody else can find, and the next open would create a second one). The
 * `life` word settles it, Dekker-style, with sequentially consistent atomics:
 * - the closer CASes OPEN(e) → CLOSING(e), then looks at the slots again: a
 *   live slot (an opener's, even in transition) → CAS back to OPEN(e+1);
 *   none → CAS CLOSING(e) → GONE(e), and only if that CAS wins, unlink,
 *   then store UNLINKED(e) and wake the word;
 * - an opener claims its slot, then reads `life`: OPEN → attached for good
 *   (any later closer's rescan sees the slot); CLOSING → it CASes to OPEN(e+1)
 *   itself, which makes the closer's GONE CAS fail; GONE → the closer
 *   decided first: the opener waits for UNLINKED (so it does not find the
 *   dying name again and again), leaves, and reports the name missing.
 * The epoch stops a stale closer's CAS from hitting a later CLOSING (ABA).
 * Only one closer decides at a time (the one whose OPEN → CLOSING CAS won),
 * so the name is unlinked once. A closer that finds CLOSING takes the
 * decision over (CAS to OPEN(e+1), then decides itself). A closer SIGKILLed
 * while CLOSING leaves the segment for the next opener (which reopens it)
 * or the next closer (which takes over) or, with nobody attached, in
 * /dev/shm, as a closer killed between freeing its slot and unlinking does;
 * one killed while GONE leaves it to the next opener, which waits 2 s for it
 * and then unlinks it. The cleanup scan leaves a ready segment with every
 * slot free alone (it cannot tell a killed closer from a live one
 * mid-decision); one with dead holders it removes by this same decision
 * (`unlinkDead`), as its last closer would. One with dead holders that it
 * finds GONE it ends only after the same 2 s (GONE_GRACE_MS) as an opener:
 * sooner, a second unlinker after the decider's own unlink could remove the
 * next segment made under that name.
 *
 * Trust: a segment is opened only when its file is a regular file of this
 * process's effective uid with no group/other permission bits, at least
 * HEADER_BYTES long (checked natively on the open fd, before mmap); anything
 * else is refused with PermissionError (or IncompatibleError when too short)
 * and never mapped. The cleanup scan judges names from headers read with
 * pread, and maps (by the same checked open) only a trusted file that
 * carries one of our two magics and that it judged dead. So no other user
 * can make us map a file that they could truncate under us (a SIGBUS). A
 * process of the SAME user that truncates a segment we have mapped can still
 * crash us with SIGBUS at the next access: mmap offers no defence against the
 * file's owner, and we are that owner.
 */
import { constants as bufferConstants } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { type Dir, type Dirent, lstatSync, opendirSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { isWellFormed } from '../codec/codec.js'
import {
  ClosedError,
  CorruptError,
  ExistsError,
  IncompatibleError,
  IpcError,
  invalidArgType,
  invalidArgValue,
  NotFoundError,
  outOfRange,
  PermissionError,
  systemError,
} from '../errors.js'
import { type MappedSegment, native, type ShmStat } from '../native.js'
import { type Identity, isRecordedProcessAlive, selfIdentity } from '../ownership/liveness.js'
import { closeAtExit, EXIT_SEGMENTS, forgetAtExit, runtime } from '../runtime.js'
import { leaveWaitsOn } from '../waiting/event-count.js'
import { cancelWaitsOn, notifyWord, waitWordSync } from '../waiting/futex.js'

/** The header's first word once the creator has finished: 'IPC2'. */
export const MAGIC = 0x32435049
/** The header's first word from the native create until the creator finishes: 'IPCi'. */
export const MAGIC_INITIALISING = 0x69435049
/** The magic of the previous header layout (16-byte slots), told apart in error messages. */
const MAGIC_V1 = 0x31435049
export const SLOT_COUNT = 128
const SLOTS_OFFSET = 64
const SLOT_BYTES = 32
/** Where every kind's data starts: 64-byte aligned. */
export const HEADER_BYTES = SLOTS_OFFSET + SLOT_COUNT * SLOT_BYTES
const KIND_OFFSET = 24
const KIND_BYTES = 32
const STATE_READY = 1
/** Stored in a slot's tid word when its JS thread ended without closing it. */
const THREAD_GONE = -1
/** Prefix of every segment this library creates, in /dev/shm. */
export const SHM_PREFIX = 'ipc-'
/** The longest name, in UTF-8 bytes. */
const MAX_NAME_BYTES = 200
/** How long a segment may stay initialising with no slot taken before the scan removes it. */
const INITIALISING_GRACE_MS = 30_000
/** One cleanup scan examines at least this many names, then more until SCAN_BUDGET_MS has passed. */
const SCAN_MIN_NAMES = 64
/** How long one cleanup scan may examine names beyond SCAN_MIN_NAMES before it leaves the rest to the next call. */
const SCAN_BUDGET_MS = 0.5
/** One cleanup scan reads at most this many directory entries (ours or not). */
const SCAN_MAX_ENTRIES = 4096
const ENOENT = 2
const EACCES = 13
const EEXIST = 17
const EINVAL = 22
const EFBIG = 27

/**
 * The largest object this Node.js can map: its largest buffer
 * (buffer.constants.MAX_LENGTH, 4 GiB on Node 20). The native create and
 * open refuse anything larger (-EFBIG) before they map it.
 */
export const MAX_MAPPED_BYTES = bufferConstants.MAX_LENGTH

/** Throws the RangeError for a create of `bytes`, above MAX_MAPPED_BYTES, before anything is created. */
export function checkMappable(bytes: number, what: string): void {
  if (bytes > MAX_MAPPED_BYTES)
    throw outOfRange(
      `Cannot create ${what}: it needs ${bytes} bytes, more than the ${MAX_MAPPED_BYTES} this Node.js can map (its largest buffer)`,
    )
}

/** The error for an open that the native side refused with -EFBIG (nothing was mapped). */
export function tooLargeToMap(what: string): IncompatibleError {
  return new IncompatibleError(
    `Cannot open ${what}: it is larger than the ${MAX_MAPPED_BYTES} bytes this Node.js can map (its largest buffer)`,
  )
}

// Slot words, as i32 indexes from the slot's first word (the f64 startTime is at i32 index 2).
const S_PID = 0
const S_TID = 1
const S_START_TIME = 2
const S_PID_NAMESPACE = 4
const S_BOOT_LOW = 6
const S_BOOT_HIGH = 7

// i32 indexes of header words.
const I_MAGIC = 0
const I_STATE = 1
const I_VERSION = 2
const I_DATA_OFFSET = 3
const I_FLAGS = 14
const FLAG_PERSISTENT = 1
const I_LIFE = 15
// Phases of the life word (its low 2 bits; the rest is the epoch).
const LIFE_PHASE = 3
const LIFE_OPEN = 0
const LIFE_CLOSING = 1
const LIFE_GONE = 2
const LIFE_UNLINKED = 3
/** How long one wait for a creator to finish lasts, and how many such waits an open makes. */
const CREATOR_SLICE_MS = 100
const CREATOR_SLICES = 20
/**
 * How long a GONE decision may wait for its decider's unlink before another
 * process unlinks the name itself (an opener's `awaitUnlinked`, the scan's
 * `finishStaleGone`): the decider was killed, or stalled that long.
 */
const GONE_GRACE_MS = CREATOR_SLICES * CREATOR_SLICE_MS
/** How many unfinished GONE decisions the scan remembers at once (`finishStaleGone`). */
const GONE_SEEN_MAX = 64
/** How many create-then-open rounds openOrCreate makes while the name keeps appearing and vanishing. */
const OPEN_OR_CREATE_ROUNDS = 64

/** What a kind of primitive declares about its segments. */
export interface SegmentKind {
  /** Short ASCII name stored in the header: 'queue', 'semaphore', … */
  kind: string
  /** Layout version; opening a segment with another version throws IncompatibleError. */
  version: number
  /** Human name used in error messages ("queue", "shared value"). */
  label?: string
  /**
   * The fewest data bytes the kind's layout reads before any of its own
   * checks (its fixed words and headers). Opening a segment of this kind and
   * version with a shorter data area throws CorruptError: its file was cut short.
   */
  minDataBytes?: number
}

export interface SegmentOptions {
  /** Called (in the reaping process) for each slot whose process died, before the slot is freed. */
  onReap?: (slot: number, segment: Segment) => void
}

export interface CreateOptions extends SegmentOptions {
  /** The name; random and unguessable when omitted. */
  name?: string | undefined
  /** Initialises the data area before any other process can open the segment. */
  init?: (segment: Segment) => void
  /**
   * Keep the segment after its last attacher detaches or dies, until `unlink()`.
   * @default false
   */
  persistent?: boolean | undefined
}

/** Validates a user-given name: a non-empty string, not '.' or '..', without '/', NUL or a lone surrogate, at most 200 bytes in UTF-8. */
export function checkName(name: unknown, what = 'name'): string {
  if (typeof name !== 'string') throw invalidArgType(`The "${what}" must be a string, received ${typeof name}`)
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes === 0 || bytes > MAX_NAME_BYTES)
    throw invalidArgValue(`The "${what}" must be 1 to ${MAX_NAME_BYTES} bytes long in UTF-8, received ${bytes} bytes`)
  if (name.includes('/') || name.includes('\0') || name === '.' || name === '..')
    throw invalidArgValue(
      `The "${what}" must not be "." or ".." nor contain "/" or NUL characters, received ${JSON.stringify(name)}`,
    )
  // UTF-8 turns every lone surrogate into U+FFFD: two such names would open one file.
  if (!isWellFormed(name))
    throw invalidArgValue(
      `The "${what}" must be well-formed Unicode (no lone surrogate), received ${JSON.stringify(name)}`,
    )
  return name
}

/** A random, unguessable segment name (96 bits). */
export function randomName(): string {
  return randomBytes(12).toString('base64url')
}

function shmNameOf(name: string): string {
  return `/${SHM_PREFIX}${name}`
}

function labelOf(kind: SegmentKind): string {
  return kind.label ?? kind.kind
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`
}

/** The PermissionError for a name that shmOpen refused: whose file it is, its mode, and what to do. */
export function refused(shm: string, what: string): PermissionError {
  const stat = native().shmStat(shm)
  const me = native().effectiveUid()
  const file = process.platform === 'linux' ? `the file /dev/shm${shm}` : `the shared-memory object "${shm}"`
  let why: string
  if (typeof stat === 'number') why = `${file} belongs to another user or is not a regular file`
  else if ((stat.mode & 0o170000) !== 0o100000) why = `${file} is not a regular file`
  else if (stat.uid !== me)
    why = `${file} belongs to uid ${stat.uid} (mode ${octal(stat.mode)}), not to this process's user (uid ${me})`
  else why = `${file} has mode ${octal(stat.mode)}, which lets group or other users in`
  return new PermissionError(
    `Cannot open ${what}: ${why}. @ipc attaches only to segments of its own user with mode 0600, and did not map this one; ` +
      'if you did not expect it, remove it as its owner (another user may be trying to hijack the name)',
  )
}

/** A private word to nap on (Atomics.wait with a timeout). */
const napWord = new Int32Array(new SharedArrayBuffer(4))

/**
 * True when the short file `shm` may be one a creator is still making (so an
 * open should look again): ours (trusted) and empty, or starting with one of
 * our magics, or no longer short (its creator has just given it its size),
 * or gone (the next open reports it missing).
 * The native create writes the initialising magic before the size.
 */
function beingCreated(shm: string): boolean {
  const head = new Uint8Array(4)
  const stat = native().shmStat(shm, head)
  // Gone meanwhile (its last attacher unlinked it): look again, to report it missing.
  if (stat === -ENOENT) return true
  if (typeof stat === 'number' || !stat.trusted) return false
  if (stat.size === 0 || stat.size >= HEADER_BYTES) return true
  const magic = stat.bytesRead === 4 ? new DataView(head.buffer).getInt32(0, true) : 0
  return magic === MAGIC_INITIALISING || magic === MAGIC
}

/** A mapped, attached segment. Internal to @ipc packages. */
export class Segment {
  /** The name users see (without the /dev/shm prefix). */
  readonly name: string
  readonly kind: string
  /** The whole mapping. */
  readonly buffer: ArrayBuffer
  /** Int32 view of the whole mapping. */
  readonly i32: Int32Array
  /** Byte view of the whole mapping. */
  readonly u8: Uint8Array
  /** Where the kind's data starts, in bytes. */
  readonly dataOffset: number
  /** Size of the kind's data area, in bytes. */
  readonly dataBytes: number
  /** This object's slot in the attached-process table. */
  readonly slot: number
  readonly #inode: number
  readonly #f64: Float64Array
  readonly #onReap: SegmentOptions['onReap']
  #closed = false
  readonly #armId: number

  private constructor(name: string, kind: string, mapped: MappedSegment, slot: number, options: SegmentOptions) {
    this.name = name
    this.kind = kind
    this.buffer = mapped.buffer
    this.i32 = new Int32Array(mapped.buffer)
    this.u8 = new Uint8Array(mapped.buffer)
    this.#f64 = new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8)
    this.dataOffset = HEADER_BYTES
    this.dataBytes = mapped.size - HEADER_BYTES
    this.slot = slot
    this.#inode = mapped.inode
    this.#onReap = options.onReap
    // If this JS thread ends without close() (worker.terminate() runs no JS),
    // the addon marks the slot's tid word THREAD_GONE, so others reap it.
    this.#armId = native().armStore(this.buffer, SLOTS_OFFSET + slot * SLOT_BYTES + 4, THREAD_GONE)
    closeAtExit(this, EXIT_SEGMENTS)
  }

  /** Creates a segment of `kind` with `dataBytes` of zeroed data. Throws ExistsError if the name is taken. */
  static create(kind: SegmentKind, dataBytes: number, options: CreateOptions = {}): Segment {
    const name = options.name === undefined ? randomName() : checkName(options.name)
    if (!Number.isSafeInteger(dataBytes) || dataBytes < 0)
      throw outOfRange(`The segment size must be a non-negative integer, received ${dataBytes}`)
    reclaimDeadSegments()
    const shm = shmNameOf(name)
    const size = HEADER_BYTES + Math.ceil(Math.max(dataBytes, 8) / 8) * 8
    checkMappable(size, `${labelOf(kind)} "${name}"`)
    const mapped = native().shmCreate(shm, size, 0o600, MAGIC_INITIALISING, MAX_MAPPED_BYTES)
    if (typeof mapped === 'number') {
      if (mapped === -EEXIST)
        throw new ExistsError(`Cannot create ${labelOf(kind)} "${name}": a segment with that name exists`)
      throw new IpcError(`Cannot create ${labelOf(kind)} "${name}": shared memory is not available`, {
        cause: systemError(-mapped, 'shm_open', shm),
      })
    }
    const i32 = new Int32Array(mapped.buffer)
    const slot = claimSlot(i32, new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8))
    // slot cannot be -1 here: the table of a new segment is empty. From now on
    // the scan removes this initialising segment only once this slot is dead.
    const segment = new Segment(name, kind.kind, mapped, slot, options)
    i32[I_VERSION] = kind.version
    i32[I_DATA_OFFSET] = HEADER_BYTES
    segment.#f64[2] = segment.dataBytes
    const ascii = Buffer.from(kind.kind, 'latin1')
    segment.u8.set(ascii.subarray(0, KIND_BYTES - 1), KIND_OFFSET)
    if (options.persistent === true) i32[I_FLAGS] = FLAG_PERSISTENT
    try {
      options.init?.(segment)
    } catch (error) {
      segment.unlink()
      segment.close()
      throw error
    }
    Atomics.store(i32, I_MAGIC, MAGIC)
    Atomics.store(i32, I_STATE, STATE_READY)
    notifyWord(i32, I_STATE)
    return segment
  }

  /** Attaches to the segment called `name`. Throws NotFoundError or IncompatibleError. */
  static open(kind: SegmentKind, name: string, options: SegmentOptions = {}): Segment {
    checkName(name)
    reclaimDeadSegments()
    const shm = shmNameOf(name)
    const what = `${labelOf(kind)} "${name}"`
    // Checked natively on the fd before mmap: ours, mode 0600 (no group/other
    // bits), a regular file, at least a header long.
    let mapped = native().shmOpen(shm, HEADER_BYTES, MAX_MAPPED_BYTES)
    // Too short (EINVAL): a creator between its O_EXCL create and its
    // ftruncate. Give it the same 2 s as one that is initialising, counted
    // in 1 ms naps (a stalled machine costs one nap).
    for (let nap = 0; mapped === -EINVAL && nap < CREATOR_SLICES * CREATOR_SLICE_MS && beingCreated(shm); nap++) {
      Atomics.wait(napWord, 0, 0, 1)
      mapped = native().shmOpen(shm, HEADER_BYTES, MAX_MAPPED_BYTES)
    }
    if (typeof mapped === 'number') {
      if (mapped === -ENOENT) throw new NotFoundError(`Cannot open ${what}: no segment with that name exists`)
      if (mapped === -EACCES) throw refused(shm, what)
      if (mapped === -EINVAL)
        throw new IncompatibleError(`Cannot open ${what}: the segment is not an @ipc segment (shorter than a header)`)
      if (mapped === -EFBIG) throw tooLargeToMap(what)
      throw new IpcError(`Cannot open ${what}: shared memory is not available`, {
        cause: systemError(-mapped, 'shm_open', shm),
      })
    }
    const fail = (error: Error): never => {
      releaseMapping(mapped.buffer)
      throw error
    }
    // Every segment is a header and a multiple of 8 bytes (create rounds up);
    // another size would not even make the word views below.
    if (mapped.size % 8 !== 0)
      fail(
        new IncompatibleError(
          `Cannot open ${what}: the segment is not an @ipc segment (its size, ${mapped.size} bytes, is not a multiple of 8)`,
        ),
      )
    const i32 = new Int32Array(mapped.buffer)
    const f64 = new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8)
    const unfinished = awaitCreator(i32, f64)
    if (unfinished === CREATOR_GAVE_UP) fail(new NotFoundError(`Cannot open ${what}: no segment with that name exists`))
    if (typeof unfinished === 'string') fail(new IncompatibleError(`Cannot open ${what}: ${unfinished}`))
    const magic = Atomics.load(i32, I_MAGIC)
    if (magic === MAGIC_V1)
      fail(new IncompatibleError(`Cannot open ${what}: its header is 'IPC1', this package reads 'IPC2'`))
    const state = Atomics.load(i32, I_STATE)
    if (magic !== MAGIC || state !== STATE_READY)
      fail(
        new IncompatibleError(
          `Cannot open ${what}: the segment is not an @ipc segment (magic 0x${(magic >>> 0).toString(16)}, state ${state})`,
        ),
      )
    const u8 = new Uint8Array(mapped.buffer)
    const stored = Buffer.from(u8.subarray(KIND_OFFSET, KIND_OFFSET + KIND_BYTES))
      .toString('latin1')
      .replace(/\0.*$/s, '')
    if (stored !== kind.kind) fail(new IncompatibleError(`Cannot open ${what}: it is a ${stored}, not a ${kind.kind}`))
    const version = Atomics.load(i32, I_VERSION)
    if (version !== kind.version)
      fail(
        new IncompatibleError(
          `Cannot open ${what}: its layout version is ${version}, this package reads version ${kind.version}`,
        ),
      )
    // Kind and version matched, so a data area too short for the layout is damage (a file cut short).
    const dataBytes = mapped.size - HEADER_BYTES
    if (kind.minDataBytes !== undefined && dataBytes < kind.minDataBytes)
      fail(
        new CorruptError(
          `Cannot open ${what}: its shared memory is corrupt (a data area of ${dataBytes} bytes, too short for the layout's ${kind.minDataBytes})`,
        ),
      )
    let slot = claimSlot(i32, f64)
    let inherited = false
    if (slot < 0) {
      // Every slot is taken. Take over a dead one; its onReap runs below, once
      // this object exists for it to work on.
      slot = takeDeadSlot(i32, f64)
      inherited = slot >= 0
    }
    if (slot < 0) fail(new IpcError(`Cannot open ${what}: ${SLOT_COUNT} objects are attached to it already`))
    const segment = new Segment(name, kind.kind, mapped, slot, options)
    if (inherited) {
      // The slot stays in transition (pid = -ours) until onReap is done, so a
      // crash here leaves it to the next reaper, which runs onReap again.
      try {
        options.onReap?.(slot, segment)
      } catch (error) {
        // Frees the slot (as reapSlots does when onReap throws) and the mapping.
        segment.close()
        throw error
      }
      finishClaim(i32, f64, slot)
      segment.reap()
    }
    // A last closer deciding to unlink it: make it keep the segment, or leave
    // once its name is gone if it already decided (see "Last close" above).
    if (!stayOpen(i32)) {
      awaitUnlinked(i32, shm, mapped.inode)
      segment.close()
      throw new NotFoundError(`Cannot open ${what}: no segment with that name exists`)
    }
    // unlink() (or the scan) may have removed the name while we were opening it.
    const stat = native().shmStat(shm)
    if (typeof stat === 'number' || stat.inode !== mapped.inode) {
      segment.close()
      throw new NotFoundError(`Cannot open ${what}: no segment with that name exists`)
    }
    return segment
  }

  /**
   * Attaches to the segment called `name`, or creates it with `options` when
   * no such name exists: atomic under races (exactly one process creates it,
   * all attach to that one). `created` tells which happened. Opening a
   * segment of another kind or version throws IncompatibleError, as `open` does.
   */
  static openOrCreate(
    kind: SegmentKind,
    name: string,
    dataBytes: number,
    options: CreateOptions = {},
  ): { segment: Segment; created: boolean } {
    checkName(name)
    for (let round = 0; ; round++) {
      try {
        return { segment: Segment.open(kind, name, options), created: false }
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error
      }
      try {
        return { segment: Segment.create(kind, dataBytes, { ...options, name }), created: true }
      } catch (error) {
        // Another process created it between our open and our create: open it.
        if (!(error instanceof ExistsError) || round >= OPEN_OR_CREATE_ROUNDS) throw error
      }
    }
  }

  /** True when the segment outlives its attachers until `unlink()` (created with `persistent: true`). */
  get persistent(): boolean {
    return (Atomics.load(this.i32, I_FLAGS) & FLAG_PERSISTENT) !== 0
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Throws ClosedError when this object was closed. */
  assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot use ${what}: it was closed`)
  }

  /**
   * Process id, thread id and start time of the holder of `slot`, or undefined
   * when free. `visible` is false when the holder runs in another PID
   * namespace: its pid and tid then name no process here (never look them up
   * in /proc); `slotAlive` counts such a holder alive.
   */
  slotOwner(slot: number): { pid: number; tid: number; startTime: number; visible: boolean } | undefined {
    this.#checkSlot(slot)
    const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
    const pid = Atomics.load(this.i32, base + S_PID)
    if (pid <= 0) return undefined
    const namespace = Atomics.load(this.i32, base + S_PID_NAMESPACE) >>> 0
    const mine = selfIdentity().pidNamespace
    return {
      pid,
      tid: Atomics.load(this.i32, base + S_TID),
      startTime: this.#f64[base / 2 + 1] as number,
      visible: namespace === 0 || mine === 0 || namespace === mine,
    }
  }

  /** True while the object attached at `slot` may still use the segment. */
  slotAlive(slot: number): boolean {
    this.#checkSlot(slot)
    return slotAliveIn(this.i32, this.#f64, slot)
  }

  /**
   * Slots come from words of shared memory (a lock's owner, a ring's holder):
   * one outside the table would read the data area as a slot record.
   * @throws {CorruptError} when `slot` is not an integer in [0, SLOT_COUNT).
   */
  #checkSlot(slot: number): void {
    if (!(slot >= 0 && slot < SLOT_COUNT && Number.isInteger(slot)))
      throw new CorruptError(
        `The shared memory of ${this.kind} "${this.name}" is corrupt: it names attachment slot ${slot}, outside 0 to ${SLOT_COUNT - 1}`,
      )
  }

  /**
   * Frees the slots of dead processes, calling `onReap` for each first (in this
   * process only: a slot is reaped once). Returns how many were reaped.
   */
  reap(): number {
    if (this.#closed) return 0
    return reapSlots(this.i32, this.#f64, this.#onReap === undefined ? undefined : (s) => this.#onReap?.(s, this))
  }

  /** Removes the name now; attached objects keep working until they close. */
  unlink(): void {
    unlinkIfSame(shmNameOf(this.name), this.#inode)
  }

  /** Detaches: frees the slot, unlinks when no live object is left attached, releases the mapping. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    // This thread's async waits on the memory leave `waiters` as they found it: before the slot is
    // freed (a leave after it could take a share or a claimed flag of the slot's next owner) and
    // while the memory is mapped. A Primitive ran it already, before its kind's detach.
    leaveWaitsOn(this.buffer)
    forgetAtExit(this, EXIT_SEGMENTS)
    const base = (SLOTS_OFFSET + this.slot * SLOT_BYTES) / 4
    native().disarmStore(this.#armId)
    Atomics.store(this.i32, base, 0)
    if (!this.persistent) unlinkIfNoneAlive(this.i32, this.#f64, shmNameOf(this.name), this.#inode)
    cancelWaitsOn(this.buffer)
    releaseMapping(this.buffer)
  }

  [Symbol.dispose](): void {
    this.close()
  }
}

/**
 * Unlinks the shared-memory name `shm` if it still names the file with
 * `inode` (another object of that name made since is left alone). True when
 * this call unlinked it.
 */
export function unlinkIfSame(shm: string, inode: number): boolean {
  const stat = native().shmStat(shm)
  const same = typeof stat === 'number' ? outOfDescriptors(stat) && inodeOfName(shm) === inode : stat.inode === inode
  return same && native().shmUnlink(shm) === 0
}

/**
 * The last close's decision (see "Last close" above) on the segment mapped
 * at `i32`/`f64`, whose file is `inode`, named `shm`: made by a closer whose
 * own slot is already free, and by the cleanup scan on a segment it judged
 * dead. Unlinks the name once no holder is alive and no opener is attaching.
 * True when this call unlinked it.
 */
function unlinkIfNoneAlive(i32: Int32Array, f64: Float64Array, shm: string, inode: number): boolean {
  // A few rounds at most: each one either decides, or sees someone alive,
  // or moves the epoch on (a decider that finds CLOSING takes the decision
  // over, so one killed mid-decision cannot leave the name behind).
  for (let round = 0; round < 8; round++) {
    if (holdersOf(i32, f64) === 'alive') return false
    const life = Atomics.load(i32, I_LIFE)
    const phase = life & LIFE_PHASE
    if (phase === LIFE_GONE || phase === LIFE_UNLINKED) return false // decided
    if (phase === LIFE_CLOSING) {
      // Another decision (live or killed): reopen it, then decide ourselves.
      Atomics.compareExchange(i32, I_LIFE, life, nextEpoch(life))
      continue
    }
    const closing = life | LIFE_CLOSING
    if (Atomics.compareExchange(i32, I_LIFE, life, closing) !== life) continue
    // An opener that claimed its slot before our CAS is seen here; one that
    // claims after it sees CLOSING and reopens.
    if (holdersOf(i32, f64) === 'alive') {
      Atomics.compareExchange(i32, I_LIFE, closing, nextEpoch(life))
      return false
    }
    if (Atomics.compareExchange(i32, I_LIFE, closing, life | LIFE_GONE) !== closing) continue
    return finishGone(i32, life | LIFE_GONE, shm, inode)
  }
  return false
}

/**
 * Ends the GONE decision `gone`: unlinks the name if it still names `inode`,
 * then UNLINKED and a wake-up of the openers waiting on the life word (and of
 * those waiting for a creator that gave up: its init threw). Its decider does
 * this at once; an opener or the scan does it for a decider that has not
 * after GONE_GRACE_MS (killed, or stalled that long). GONE is final, so the
 * CAS to UNLINKED is made once, by whoever comes first. True when this call
 * unlinked the name.
 */
function finishGone(i32: Int32Array, gone: number, shm: string, inode: number): boolean {
  const unlinked = unlinkIfSame(shm, inode)
  if (Atomics.compareExchange(i32, I_LIFE, gone, gone | LIFE_UNLINKED) === gone) {
    notifyWord(i32, I_LIFE)
    notifyWord(i32, I_STATE)
  }
  return unlinked
}

/** True for -EMFILE and -ENFILE: shmStat could not open the name, as the process (or the system) has no descriptor left. */
function outOfDescriptors(errno: number): boolean {
  return errno === -osConstants.errno.EMFILE || errno === -osConstants.errno.ENFILE
}

/**
 * The inode of `/dev/shm<shm>` by path, with no descriptor (lstat: a symbolic link's own inode,
 * which names no segment): for the unlink of a process out of descriptors, which must not leave
 * the name behind. Undefined where there is no such path (not Linux) or no such file.
 */
function inodeOfName(shm: string): number | undefined {
  if (process.platform !== 'linux') return undefined
  try {
    return lstatSync(`/dev/shm${shm}`).ino
  } catch {
    return undefined
  }
}

/** OPEN in the epoch after `life`'s. */
function nextEpoch(life: number): number {
  return ((life >>> 2) + 1) << 2
}

/**
 * Called by an opener after it claimed its slot: true when the segment stays
 * (OPEN, or CLOSING reopened by our CAS), false when a last closer has
 * decided to unlink it (GONE).
 */
function stayOpen(i32: Int32Array): boolean {
  for (;;) {
    const life = Atomics.load(i32, I_LIFE)
    const phase = life & LIFE_PHASE
    if (phase === LIFE_OPEN) return true
    if (phase !== LIFE_CLOSING) return false
    if (Atomics.compareExchange(i32, I_LIFE, life, nextEpoch(life)) === life) return true
  }
}

/**
 * Waits (20 slices of 100 ms at most: GONE_GRACE_MS) until the last closer
 * that decided to unlink the segment mapped at `i32` (file `inode`, named
 * `shm`) has done so; ends the decision here if that closer has not by then
 * (`finishGone`). A decision that ended UNLINKED with the name still there
 * (its unlink did not take) is unlinked again, or every later open of the
 * name would find it, leave, and fail to create it.
 */
function awaitUnlinked(i32: Int32Array, shm: string, inode: number): void {
  for (let slice = 0; slice < CREATOR_SLICES; slice++) {
    const life = Atomics.load(i32, I_LIFE)
    if ((life & LIFE_PHASE) !== LIFE_GONE) break
    waitWordSync(i32, I_LIFE, life, CREATOR_SLICE_MS)
  }
  const life = Atomics.load(i32, I_LIFE)
  if ((life & LIFE_PHASE) === LIFE_GONE) finishGone(i32, life, shm, inode)
  else if ((life & LIFE_PHASE) === LIFE_UNLINKED) unlinkIfSame(shm, inode)
}

/**
 * Waits while the segment's creator is still initialising it: undefined once
 * it is ready (or it was never an initialising segment), else why it is not.
 * The wait is counted in slices, so a stall of the whole machine (a paused
 * VM, a loaded CI runner) uses up one slice, not the creator's whole grace.
 */
function awaitCreator(i32: Int32Array, f64: Float64Array): string | typeof CREATOR_GAVE_UP | undefined {
  for (let slice = 0; ; slice++) {
    // The creator stores the magic, then the state: 'IPC2' with state 0 is a
    // creator between those two stores, still to wait for.
    if (Atomics.load(i32, I_STATE) === STATE_READY) return undefined
    const magic = Atomics.load(i32, I_MAGIC)
    if (magic !== MAGIC_INITIALISING && magic !== MAGIC) return undefined
    // Its init threw: it unlinked the name and closed (its last close ends GONE or UNLINKED).
    if ((Atomics.load(i32, I_LIFE) & LIFE_PHASE) >= LIFE_GONE) return CREATOR_GAVE_UP
    if (slice === CREATOR_SLICES)
      return `its creator has not finished making it after ${(CREATOR_SLICES * CREATOR_SLICE_MS) / 1000} s`
    // The creator claims a slot right after the native create: a claimed slot
    // and none alive means it died before it finished.
    if (slice > 0 && holdersOf(i32, f64) === 'dead') return 'its creator died before it finished making it'
    waitWordSync(i32, I_STATE, 0, CREATOR_SLICE_MS)
  }
}

/** What awaitCreator returns when the creator gave up (its init threw): the name is gone. */
const CREATOR_GAVE_UP: unique symbol = Symbol('creator-gave-up')

/**
 * The holders of a segment's slots: 'alive' when one lives, 'dead' when some
 * slot is claimed and none lives, 'none' when no slot is claimed (an open's
 * creator check, and the scan's verdict).
 */
function holdersOf(i32: Int32Array, f64: Float64Array): 'alive' | 'dead' | 'none' {
  let claimed = false
  for (let s = 0; s < SLOT_COUNT; s++) {
    if (Atomics.load(i32, (SLOTS_OFFSET + s * SLOT_BYTES) / 4 + S_PID) === 0) continue
    if (slotAliveIn(i32, f64, s)) return 'alive'
    claimed = true
  }
  return claimed ? 'dead' : 'none'
}

function claimSlot(i32: Int32Array, f64: Float64Array): number {
  const me = selfIdentity()
  for (let s = 0; s < SLOT_COUNT; s++) {
    const base = (SLOTS_OFFSET + s * SLOT_BYTES) / 4
    if (Atomics.load(i32, base + S_PID) !== 0) continue
    if (Atomics.compareExchange(i32, base + S_PID, 0, -me.pid) !== 0) continue
    writeNamespace(i32, base, me)
    finishClaim(i32, f64, s)
    return s
  }
  return -1
}

/** Right after a CAS into transition: who holds the slot in transition (see the header comment). */
function writeNamespace(i32: Int32Array, base: number, me: Identity): void {
  Atomics.store(i32, base + S_PID_NAMESPACE, me.pidNamespace | 0)
  Atomics.store(i32, base + S_BOOT_LOW, me.bootId[0])
  Atomics.store(i32, base + S_BOOT_HIGH, me.bootId[1])
}

/** Puts this thread's identity in `slot`, which it holds in transition (pid = -ours); the pid goes last. */
function finishClaim(i32: Int32Array, f64: Float64Array, slot: number): void {
  const me = selfIdentity()
  const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
  writeNamespace(i32, base, me)
  f64[base / 2 + 1] = me.startTime
  Atomics.store(i32, base + S_TID, native().threadId())
  Atomics.store(i32, base + S_PID, me.pid)
}

/** Moves the first dead slot into transition (pid = -ours) without freeing it; -1 when none is dead. */
function takeDeadSlot(i32: Int32Array, f64: Float64Array): number {
  const me = selfIdentity()
  for (let s = 0; s < SLOT_COUNT; s++) if (seizeIfDead(i32, f64, s, me)) return s
  return -1
}

/**
 * Moves `slot` into transition (pid = -ours) when its holder is dead; false
 * when it is free, ours already, alive, or another reaper won the CAS.
 */
function seizeIfDead(i32: Int32Array, f64: Float64Array, slot: number, me: Identity): boolean {
  const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
  const pid = Atomics.load(i32, base + S_PID)
  if (pid === 0 || pid === -me.pid || slotAliveIn(i32, f64, slot)) return false
  if (Atomics.compareExchange(i32, base + S_PID, pid, -me.pid) !== pid) return false
  writeNamespace(i32, base, me)
  return true
}

/**
 * The liveness of one slot, read from `i32`/`f64` (a mapping, or a copy read
 * by the scan): `isRecordedProcessAlive` on what the slot records.
 */
function slotAliveIn(i32: Int32Array, f64: Float64Array, slot: number): boolean {
  const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
  const pid = Atomics.load(i32, base + S_PID)
  if (pid === 0) return false
  // In transition: alive while the claiming or reaping process lives.
  const settled = pid > 0
  const tid = Atomics.load(i32, base + S_TID)
  const startTime = f64[base / 2 + S_START_TIME / 2] as number
  const alive =
    !(settled && tid === THREAD_GONE) &&
    isRecordedProcessAlive(
      {
        pid: settled ? pid : -pid,
        startTime: settled ? startTime : 0,
        pidNamespace: Atomics.load(i32, base + S_PID_NAMESPACE) >>> 0,
        bootId: [Atomics.load(i32, base + S_BOOT_LOW), Atomics.load(i32, base + S_BOOT_HIGH)],
      },
      settled,
    )
  // The record is read after its pid: a slot freed and claimed again by another process meanwhile
  // gives one holder's pid with the next one's start time, a live holder that looks dead. Such a
  // slot reads differently now: someone is attaching, so it counts alive (a look later decides).
  return (
    alive ||
    Atomics.load(i32, base + S_PID) !== pid ||
    Atomics.load(i32, base + S_TID) !== tid ||
    !Object.is(f64[base / 2 + S_START_TIME / 2], startTime) // Object.is: a scribbled NaN is not a change
  )
}

function reapSlots(i32: Int32Array, f64: Float64Array, onReap: ((slot: number) => void) | undefined): number {
  const me = selfIdentity()
  let reaped = 0
  for (let s = 0; s < SLOT_COUNT; s++) {
    if (!seizeIfDead(i32, f64, s, me)) continue
    try {
      onReap?.(s)
    } finally {
      Atomics.store(i32, (SLOTS_OFFSET + s * SLOT_BYTES) / 4, 0)
    }
    reaped++
  }
  return reaped
}

/**
 * Unlinks every @ipc segment in /dev/shm whose attached processes have all
 * died, and segments whose creator died before finishing them. Each
 * `ipc-*` name costs one open, fstat, pread and close (`shmStat`), and
 * only a trusted file (ours, mode without group/other bits, regular) that
 * starts with one of our two magics is ever considered:
 * - ready ('IPC2'): removed when some slot is taken and no holder is alive;
 * - initialising ('IPCi'): removed when no holder is alive and either a slot
 *   was taken (the creator claimed it, then died) or, with no slot taken,
 *   the file is older than 30 s (the creator died inside the native create).
 * Anything else (another user's file, a file open to group/other, a file of
 * ours without a magic) is never touched. The verdict is read twice, from
 * slot tables that must be byte-for-byte the same (a torn read is not a
 * verdict). A dead verdict is then carried out as the last close's
 * decision on a mapping of that same file (`unlinkDead`): a newcomer that
 * attached after the reads keeps the segment, as it would against a last
 * closer. (The name used to be unlinked on the reads' word, leaving such a
 * newcomer on a removed name while the next open made a second segment.)
 *
 * Bounded cost, whatever is in /dev/shm: the directory is read through a
 * handle kept open between calls (a per-process cursor), so a call reads
 * at most SCAN_MAX_ENTRIES entries and examines at least SCAN_MIN_NAMES
 * `ipc-*` names, then more until SCAN_BUDGET_MS (0.5 ms) has passed. At the
 * end of the directory the handle is closed and the next read starts over;
 * a call that reaches the end early starts over at once, and stops at the
 * first name it examined already. So with up to 64 names every call covers
 * them all, and a million junk files cost a call no more than a few
 * milliseconds. Linux only; elsewhere a no-op. Returns how many segments
 * were removed.
 */
export function reclaimDeadSegments(): number {
  const rt = runtime() as { scanDir?: Dir }
  const bin = native()
  const header = new Uint8Array(HEADER_BYTES)
  const deadline = performance.now() + SCAN_BUDGET_MS
  const examined = new Set<string>()
  let entries = 0
  let restarted = false
  let reclaimed = 0
  for (;;) {
    if (entries >= SCAN_MAX_ENTRIES) break
    if (examined.size >= SCAN_MIN_NAMES && (entries & 63) === 0 && performance.now() > deadline) break
    let entry: Dirent | null
    try {
      rt.scanDir ??= opendirSync('/dev/shm', { bufferSize: 128 })
      entry = rt.scanDir.readSync()
    } catch {
      closeScanDir(rt)
      return reclaimed
    }
    if (entry === null) {
      // The end of the directory: start over next time, or now if this call is young.
      closeScanDir(rt)
      if (restarted || examined.size >= SCAN_MIN_NAMES) break
      restarted = true
      continue
    }
    entries++
    const file = entry.name
    if (!file.startsWith(SHM_PREFIX)) continue
    if (examined.has(file)) break // came round to where this call began
    examined.add(file)
    const shm = `/${file}`
    const first = bin.shmStat(shm, header)
    if (!isDeadSegment(first, header)) continue
    // Once more, from a fresh read: a newcomer may have attached meanwhile.
    // The slot table must read the same both times: pread is not atomic, so
    // one read can tear a slot being re-claimed (one holder's pid with the
    // next one's start time looks dead); two identical tears do not happen.
    const slotsBefore = header.slice(SLOTS_OFFSET, HEADER_BYTES)
    const again = bin.shmStat(shm, header)
    if (typeof first === 'number' || typeof again === 'number' || again.inode !== first.inode) continue
    if (!isDeadSegment(again, header)) continue
    if (Buffer.compare(slotsBefore, header.subarray(SLOTS_OFFSET, HEADER_BYTES)) !== 0) continue
    if (unlinkDead(shm, again)) reclaimed++
  }
  return reclaimed
}

/**
 * Removes a segment the scan judged dead from its reads. Those reads cannot
 * see an opener that attached since (its slot claimed after the second read),
 * so the name is not unlinked on their word: the scan maps the file and makes
 * the last close's decision on it, as if it were the last closer, which that
 * opener's slot, or its reopening of a CLOSING life word, stops. A decision
 * already made is finished, not made again: UNLINKED with the name still
 * there (the decider's unlink did not take) is unlinked now; GONE (a decider
 * killed before its unlink, or one about to unlink) is unlinked once the
 * same GONE has been seen for GONE_GRACE_MS, as an opener's `awaitUnlinked`
 * does (sooner, a second unlinker after the decider's could remove the next
 * segment made under that name): `finishStaleGone`. A file without a whole header (its creator
 * killed inside the native create) has no slot table and nobody attached:
 * its name goes if it still names that file. One too large for this Node.js
 * to map is left: a Node.js with a larger buffer limit may be attached to it
 * (its own scans remove it); one past the addon's limit (1 TiB), which no
 * Node.js maps, stays until removed by hand. True when this call unlinked
 * the name.
 */
function unlinkDead(shm: string, stat: ShmStat): boolean {
  if (stat.bytesRead < HEADER_BYTES) return unlinkIfSame(shm, stat.inode)
  const mapped = native().shmOpen(shm, HEADER_BYTES, MAX_MAPPED_BYTES)
  if (typeof mapped === 'number') return false
  try {
    if (mapped.inode !== stat.inode) return false
    const i32 = new Int32Array(mapped.buffer, 0, HEADER_BYTES / 4)
    const magic = Atomics.load(i32, I_MAGIC)
    if (magic !== MAGIC && magic !== MAGIC_INITIALISING) return false
    if (magic === MAGIC && (Atomics.load(i32, I_FLAGS) & FLAG_PERSISTENT) !== 0) return false
    const life = Atomics.load(i32, I_LIFE)
    if ((life & LIFE_PHASE) === LIFE_UNLINKED) return unlinkIfSame(shm, stat.inode)
    if ((life & LIFE_PHASE) === LIFE_GONE) return finishStaleGone(i32, life, shm, stat.inode)
    return unlinkIfNoneAlive(i32, new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8), shm, stat.inode)
  } finally {
    releaseMapping(mapped.buffer)
  }
}

/**
 * The scan's part in a GONE decision whose decider may be dead: the first
 * look at (inode, life) is remembered (per JS thread, in `runtime()`), and a
 * look GONE_GRACE_MS later that finds the same life word ends the decision
 * (`finishGone`). True when it unlinked the name.
 */
function finishStaleGone(i32: Int32Array, life: number, shm: string, inode: number): boolean {
  const seen = (runtime().goneSeen ??= new Map())
  const first = seen.get(inode)
  const now = performance.now()
  if (first === undefined || first.life !== life) {
    if (seen.size >= GONE_SEEN_MAX) {
      // Looks long past: their segments went, or the scan no longer reaches them.
      for (const [stale, look] of seen) if (now - look.at > 4 * GONE_GRACE_MS) seen.delete(stale)
      // Still full: the entries kept end on later looks and make room.
      if (seen.size >= GONE_SEEN_MAX) return false
    }
    seen.set(inode, { life, at: now })
    return false
  }
  if (now - first.at < GONE_GRACE_MS) return false
  seen.delete(inode)
  return finishGone(i32, life, shm, inode)
}

function closeScanDir(rt: { scanDir?: Dir }): void {
  try {
    rt.scanDir?.closeSync()
  } catch {
    // already closed
  }
  rt.scanDir = undefined
}

/** The scan's verdict on one name, from its shmStat and the header bytes read into `header`. */
function isDeadSegment(stat: ShmStat | number, header: Uint8Array): boolean {
  if (typeof stat === 'number' || !stat.trusted) return false
  if (stat.bytesRead < HEADER_BYTES) {
    // A creator killed inside the native create, after it wrote the
    // initialising magic and before the file got its size: ours (by the
    // magic), and dead once the grace has passed. An empty file carries no
    // mark, so it is not ours to remove.
    const initialising =
      stat.size < HEADER_BYTES &&
      stat.bytesRead >= 4 &&
      new DataView(header.buffer, header.byteOffset, 4).getInt32(0, true) === MAGIC_INITIALISING
    return initialising && Date.now() - stat.mtimeMs > INITIALISING_GRACE_MS
  }
  const i32 = new Int32Array(header.buffer, header.byteOffset, HEADER_BYTES / 4)
  const f64 = new Float64Array(header.buffer, header.byteOffset, HEADER_BYTES / 8)
  const magic = i32[I_MAGIC]
  if (magic !== MAGIC && magic !== MAGIC_INITIALISING) return false
  if (magic === MAGIC && ((i32[I_FLAGS] as number) & FLAG_PERSISTENT) !== 0) return false
  const holders = holdersOf(i32, f64)
  if (holders !== 'none') return holders === 'dead'
  // No slot taken: a ready segment nobody attached (not ours to judge); an
  // initialising one whose creator may still be inside the native create.
  return magic === MAGIC_INITIALISING && Date.now() - stat.mtimeMs > INITIALISING_GRACE_MS
}

/**
 * Unmaps now. The ArrayBuffer is detached first, so views on it read as empty
 * instead of touching freed memory; the addon ties its finalizer to the
 * mapping record, not to the address, so a later collection of the buffer
 * never unmaps a new mapping placed at the same address.
 */
export function releaseMapping(buffer: ArrayBuffer): void {
  native().unmap(buffer)
}
