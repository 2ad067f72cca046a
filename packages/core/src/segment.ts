/**
 * Named shared-memory segments with a common header: what kind of primitive
 * lives in it, its layout version, and the table of attached processes that
 * decides when the segment is removed.
 *
 * Header (bytes from the start of the mapping; little-endian):
 *
 * | offset | size | field      | written by              | meaning                                       |
 * |--------|------|------------|-------------------------|-----------------------------------------------|
 * | 0      | 4    | magic      | creator, before `state` | 0x31435049 ('IPC1')                            |
 * | 4      | 4    | state      | creator, last           | 0 initialising, 1 ready (openers wait for 1)  |
 * | 8      | 4    | version    | creator                 | layout version of the kind                    |
 * | 12     | 4    | dataOffset | creator                 | where the kind's data starts (= HEADER_BYTES) |
 * | 16     | 8    | dataBytes  | creator                 | float64: size of the data area                |
 * | 24     | 32   | kind       | creator                 | ASCII, NUL-padded ('queue', 'semaphore', …)   |
 * | 64     | 2048 | slots      | each attacher its own   | 128 × { pid i32, tid i32, startTime f64 }     |
 * | 2112   | …    | data       | the kind                | see the kind's layout table                   |
 *
 * A slot's `pid` says its state: 0 free; > 0 attached by that process; < 0 in
 * transition (being claimed or reaped) by process `-pid`. A claimer CASes 0 →
 * -pid, writes startTime and tid, then stores pid; so a reader that sees a
 * positive pid also sees its startTime. A tid of -1 means the slot's JS
 * thread ended without closing (the addon stores it at thread teardown):
 * the slot is dead and is reaped like a dead process's. A slot belongs to one Segment object
 * (one `open` or `create`), not to a whole process.
 *
 * The segment is unlinked when its last live attacher detaches; a segment
 * whose attachers all died is unlinked by the next create/open in any process
 * (`reclaimDeadSegments`).
 */
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import {
  ClosedError,
  ExistsError,
  IncompatibleError,
  IpcError,
  invalidArgType,
  invalidArgValue,
  NotFoundError,
  outOfRange,
  systemError,
} from './errors.js'
import { cancelWaitsOn, notifyWord, waitWordSync } from './futex.js'
import { isProcessAlive, selfIdentity } from './liveness.js'
import { type MappedSegment, native } from './native.js'
import { runtime } from './runtime.js'

export const MAGIC = 0x31435049
export const SLOT_COUNT = 128
const SLOTS_OFFSET = 64
const SLOT_BYTES = 16
/** Where every kind's data starts: 64-byte aligned. */
export const HEADER_BYTES = SLOTS_OFFSET + SLOT_COUNT * SLOT_BYTES
const KIND_OFFSET = 24
const KIND_BYTES = 32
const STATE_READY = 1
/** Stored in a slot's tid word when its JS thread ended without closing it. */
const THREAD_GONE = -1
/** Prefix of every segment this library creates, in /dev/shm. */
export const SHM_PREFIX = 'ipc-'
const MAX_NAME = 200
const ENOENT = 2
const EEXIST = 17

// i32 indexes of header words.
const I_MAGIC = 0
const I_STATE = 1
const I_VERSION = 2
const I_DATA_OFFSET = 3

/** What a kind of primitive declares about its segments. */
export interface SegmentKind {
  /** Short ASCII name stored in the header: 'queue', 'semaphore', … */
  kind: string
  /** Layout version; opening a segment with another version throws IncompatibleError. */
  version: number
  /** Human name used in error messages ("queue", "shared value"). */
  label?: string
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
}

/** Validates a user-given name: a non-empty string without '/' or NUL, at most 200 characters. */
export function checkName(name: unknown, what = 'name'): string {
  if (typeof name !== 'string') throw invalidArgType(`The "${what}" must be a string, received ${typeof name}`)
  if (name.length === 0 || name.length > MAX_NAME)
    throw invalidArgValue(`The "${what}" must have 1 to ${MAX_NAME} characters, received ${name.length}`)
  if (name.includes('/') || name.includes('\0') || name === '.' || name === '..')
    throw invalidArgValue(`The "${what}" must not contain "/" or NUL characters, received ${JSON.stringify(name)}`)
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
    runtime().openSegments.add(this)
    installExitHook()
  }

  /** Creates a segment of `kind` with `dataBytes` of zeroed data. Throws ExistsError if the name is taken. */
  static create(kind: SegmentKind, dataBytes: number, options: CreateOptions = {}): Segment {
    const name = options.name === undefined ? randomName() : checkName(options.name)
    if (!Number.isSafeInteger(dataBytes) || dataBytes < 0)
      throw outOfRange(`The segment size must be a non-negative integer, received ${dataBytes}`)
    reclaimDeadSegments()
    const shm = shmNameOf(name)
    const mapped = native().shmCreate(shm, HEADER_BYTES + Math.ceil(Math.max(dataBytes, 8) / 8) * 8, 0o600)
    if (typeof mapped === 'number') {
      if (mapped === -EEXIST)
        throw new ExistsError(`Cannot create ${labelOf(kind)} "${name}": a segment with that name exists`)
      throw new IpcError(`Cannot create ${labelOf(kind)} "${name}": shared memory is not available`, {
        cause: systemError(-mapped, 'shm_open', shm),
      })
    }
    const i32 = new Int32Array(mapped.buffer)
    const slot = claimSlot(i32, new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8))
    // slot cannot be -1 here: the table of a new segment is empty.
    const segment = new Segment(name, kind.kind, mapped, slot, options)
    i32[I_VERSION] = kind.version
    i32[I_DATA_OFFSET] = HEADER_BYTES
    segment.#f64[2] = segment.dataBytes
    const ascii = Buffer.from(kind.kind, 'latin1')
    segment.u8.set(ascii.subarray(0, KIND_BYTES - 1), KIND_OFFSET)
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
    const mapped = native().shmOpen(shm, 0)
    if (typeof mapped === 'number') {
      if (mapped === -ENOENT) throw new NotFoundError(`Cannot open ${what}: no segment with that name exists`)
      if (mapped === -22) throw new IncompatibleError(`Cannot open ${what}: the segment is not an @ipc segment`)
      throw new IpcError(`Cannot open ${what}: shared memory is not available`, {
        cause: systemError(-mapped, 'shm_open', shm),
      })
    }
    const fail = (error: Error): never => {
      releaseMapping(mapped.buffer)
      throw error
    }
    if (mapped.size < HEADER_BYTES)
      fail(new IncompatibleError(`Cannot open ${what}: the segment is not an @ipc segment`))
    const i32 = new Int32Array(mapped.buffer)
    if (Atomics.load(i32, I_STATE) !== STATE_READY) waitWordSync(i32, I_STATE, 0, 2000)
    if (Atomics.load(i32, I_STATE) !== STATE_READY || Atomics.load(i32, I_MAGIC) !== MAGIC)
      fail(new IncompatibleError(`Cannot open ${what}: the segment is not an @ipc segment, or was never initialised`))
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
    const f64 = new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8)
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
    // The last attacher may have unlinked the name while we were opening it.
    const stat = native().shmStat(shm)
    if (typeof stat === 'number' || stat.inode !== mapped.inode) {
      segment.close()
      throw new NotFoundError(`Cannot open ${what}: no segment with that name exists`)
    }
    return segment
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Throws ClosedError when this object was closed. */
  assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot use ${what}: it was closed`)
  }

  /** Process id, thread id and start time of the holder of `slot`, or undefined when free. */
  slotOwner(slot: number): { pid: number; tid: number; startTime: number } | undefined {
    const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
    const pid = Atomics.load(this.i32, base)
    if (pid <= 0) return undefined
    return { pid, tid: Atomics.load(this.i32, base + 1), startTime: this.#f64[base / 2 + 1] as number }
  }

  /** True while the object attached at `slot` may still use the segment. */
  slotAlive(slot: number): boolean {
    return slotAliveIn(this.i32, this.#f64, slot)
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
    const shm = shmNameOf(this.name)
    const stat = native().shmStat(shm)
    if (typeof stat !== 'number' && stat.inode === this.#inode) native().shmUnlink(shm)
  }

  /** Detaches: frees the slot, unlinks when no live object is left attached, releases the mapping. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    runtime().openSegments.delete(this)
    const base = (SLOTS_OFFSET + this.slot * SLOT_BYTES) / 4
    native().disarmStore(this.#armId)
    Atomics.store(this.i32, base, 0)
    let anyAlive = false
    for (let s = 0; s < SLOT_COUNT && !anyAlive; s++) anyAlive = slotAliveIn(this.i32, this.#f64, s)
    if (!anyAlive) this.unlink()
    cancelWaitsOn(this.buffer)
    releaseMapping(this.buffer)
  }

  [Symbol.dispose](): void {
    this.close()
  }
}

function claimSlot(i32: Int32Array, f64: Float64Array): number {
  const me = selfIdentity()
  for (let s = 0; s < SLOT_COUNT; s++) {
    const base = (SLOTS_OFFSET + s * SLOT_BYTES) / 4
    if (Atomics.load(i32, base) !== 0) continue
    if (Atomics.compareExchange(i32, base, 0, -me.pid) !== 0) continue
    finishClaim(i32, f64, s)
    return s
  }
  return -1
}

/** Puts this thread's identity in `slot`, which it holds in transition (pid = -ours); the pid goes last. */
function finishClaim(i32: Int32Array, f64: Float64Array, slot: number): void {
  const me = selfIdentity()
  const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
  f64[base / 2 + 1] = me.startTime
  Atomics.store(i32, base + 1, native().threadId())
  Atomics.store(i32, base, me.pid)
}

/** Moves the first dead slot into transition (pid = -ours) without freeing it; -1 when none is dead. */
function takeDeadSlot(i32: Int32Array, f64: Float64Array): number {
  const myPid = selfIdentity().pid
  for (let s = 0; s < SLOT_COUNT; s++) if (seizeIfDead(i32, f64, s, myPid)) return s
  return -1
}

/**
 * Moves `slot` into transition (pid = -myPid) when its holder is dead; false
 * when it is free, ours already, alive, or another reaper won the CAS.
 */
function seizeIfDead(i32: Int32Array, f64: Float64Array, slot: number, myPid: number): boolean {
  const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
  const pid = Atomics.load(i32, base)
  if (pid === 0 || pid === -myPid || slotAliveIn(i32, f64, slot)) return false
  return Atomics.compareExchange(i32, base, pid, -myPid) === pid
}

function slotAliveIn(i32: Int32Array, f64: Float64Array, slot: number): boolean {
  const base = (SLOTS_OFFSET + slot * SLOT_BYTES) / 4
  const pid = Atomics.load(i32, base)
  if (pid === 0) return false
  // In transition: alive while the claiming or reaping process lives.
  if (pid < 0) return isProcessAlive(-pid, 0)
  if (Atomics.load(i32, base + 1) === THREAD_GONE) return false
  return isProcessAlive(pid, f64[base / 2 + 1] as number)
}

function reapSlots(i32: Int32Array, f64: Float64Array, onReap: ((slot: number) => void) | undefined): number {
  const myPid = selfIdentity().pid
  let reaped = 0
  for (let s = 0; s < SLOT_COUNT; s++) {
    if (!seizeIfDead(i32, f64, s, myPid)) continue
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
 * died, and segments whose creator died before finishing them. Cheap: one
 * directory read and a header read per segment. Linux only; elsewhere a no-op.
 */
export function reclaimDeadSegments(): number {
  let names: string[]
  try {
    names = readdirSync('/dev/shm').filter((n) => n.startsWith(SHM_PREFIX))
  } catch {
    return 0
  }
  const bin = native()
  let reclaimed = 0
  for (const file of names) {
    const shm = `/${file}`
    const mapped = bin.shmOpen(shm, HEADER_BYTES)
    if (typeof mapped === 'number') continue
    try {
      const i32 = new Int32Array(mapped.buffer)
      const f64 = new Float64Array(mapped.buffer, 0, HEADER_BYTES / 8)
      let dead: boolean
      if (Atomics.load(i32, I_MAGIC) !== MAGIC || Atomics.load(i32, I_STATE) !== STATE_READY) {
        // A creator that died before finishing; give a live one 30 s.
        const stat = bin.shmStat(shm)
        dead = typeof stat !== 'number' && Date.now() - stat.mtimeMs > 30_000 && !anySlotAlive(i32, f64)
      } else {
        let occupied = false
        for (let s = 0; s < SLOT_COUNT && !occupied; s++)
          occupied = Atomics.load(i32, (SLOTS_OFFSET + s * SLOT_BYTES) / 4) !== 0
        dead = occupied && !anySlotAlive(i32, f64)
      }
      if (dead) {
        const stat = bin.shmStat(shm)
        if (typeof stat !== 'number' && stat.inode === mapped.inode && bin.shmUnlink(shm) === 0) reclaimed++
      }
    } finally {
      releaseMapping(mapped.buffer)
    }
  }
  return reclaimed
}

/**
 * Unmaps now. The ArrayBuffer is detached first, so views on it read as empty
 * instead of touching freed memory; the addon ties its finalizer to the
 * mapping record, not to the address, so a later collection of the buffer
 * never unmaps a new mapping placed at the same address.
 */
function releaseMapping(buffer: ArrayBuffer): void {
  native().unmap(buffer)
}

function anySlotAlive(i32: Int32Array, f64: Float64Array): boolean {
  for (let s = 0; s < SLOT_COUNT; s++) if (slotAliveIn(i32, f64, s)) return true
  return false
}

/** Closes this thread's open segments when it exits, so normal exits leak nothing. */
function installExitHook(): void {
  const rt = runtime() as { exitHook?: boolean }
  if (rt.exitHook) return
  rt.exitHook = true
  process.on('exit', () => {
    for (const segment of [...runtime().openSegments]) segment.close()
  })
}
