/**
 * @ipc/core/internal: the building blocks of the @ipc packages (segments,
 * futex words, rings, the codec). For @ipc packages only; covered by semver
 * like the rest of @ipc/core.
 */
export {
  decodePayload,
  decodeUntrusted,
  type Encoded,
  encode,
  isLatin1Tag,
  isWellFormed,
  SHORT_STRING,
  TAG_BUFFER,
  TAG_BYTES,
  TAG_JSON_LATIN1,
  TAG_JSON_UTF8,
  TAG_LATIN1,
  TAG_MAX,
  TAG_PACKED,
  TAG_V8,
  writePayload,
} from './codec/codec.js'
export { arrayIndex, ElementStore } from './codec/element-store.js'
export { MAX_HASHED_CHARS, NewKeys } from './codec/heap-budget.js'
export { decodeLatin1, writeLatin1 } from './codec/latin1.js'
export { MAX_HASHED_NUMBERS } from './codec/v8-scan.js'
export { invalidArgType, invalidArgValue, outOfRange, shown } from './errors.js'
export { RawSegment } from './memory/raw-segment.js'
export {
  checkName,
  HEADER_BYTES,
  MAX_MAPPED_BYTES,
  reclaimDeadSegments,
  Segment,
  type SegmentKind,
  SHM_PREFIX,
  SLOT_COUNT,
} from './memory/segment.js'
export { checkOptionNames, checkOptionsObject, type OptionNames, optionNames } from './option-names.js'
export { attachmentAlive, isProcessAlive, processStartTime, selfIdentity, threadId } from './ownership/liveness.js'
export { LookCadence } from './ownership/look-cadence.js'
export { OWNER_WAITERS, ownerCode } from './ownership/owner-word.js'
export { ROBUST_LOCK_BYTES, RobustLock } from './ownership/robust-lock.js'
export { type SlotTagErrors, SlotTagWatch, TAG_SPINS, TAG_STALL_MS } from './ownership/slot-tag.js'
export {
  checkHandle,
  type Handle,
  lockHandleOf,
  revive,
  TRANSFER,
  type TransferDescriptor,
} from './primitive/handle.js'
export {
  type Attachment,
  attachTo,
  type CreationSpec,
  checkPersistent,
  fromHandle,
  type OpenOptions,
  openAttachment,
  openOrCreateAttachment,
  openPrimitive,
  Primitive,
  type PrimitiveKind,
} from './primitive/primitive.js'
export {
  errorFields,
  extractTransfers,
  importModule,
  moduleUrl,
  type ProcessPayload,
  type ProcessResultMessage,
  placeTransfer,
  signalName,
} from './process/process.js'
export {
  checkMpmcCapacity,
  MPMC_EMPTY,
  MPMC_PUT_FULL,
  MPMC_PUT_OK,
  MPMC_PUT_SHUTDOWN,
  MPMC_RING_HEADER_BYTES,
  MPMC_RING_VERSION,
  MPMC_SHUTDOWN,
  type MpmcPutStatus,
  MpmcRing,
  mpmcRingBytes,
  PutBatch,
} from './rings/mpmc-ring.js'
export {
  initSpscRing,
  RING_CLOSED,
  type RingWaitResult,
  SPSC_HEADER_BYTES,
  SpscRing,
  spscRingBytes,
} from './rings/spsc-ring.js'
export { closeAtExit, EXIT_PRIMITIVES, forgetAtExit } from './runtime.js'
export {
  EventCount,
  type EventCountOptions,
  NOT_YET,
  type NotYet,
  PEER_CHECK_MS,
  RECHECK_MS,
  TIMED_OUT,
  type WaitRules,
} from './waiting/event-count.js'
export { asyncWaitMode, notifyWord, waitWordSync } from './waiting/futex.js'
export {
  afterTimeout,
  checkTimeout,
  checkWaitOptions,
  deadlineOf,
  onAbort,
  remaining,
  syncTimeoutOf,
  throwIfAborted,
  WAIT_OPTIONS,
  within,
} from './waiting/signal.js'
