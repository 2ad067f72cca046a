/**
 * @ipc/core/internal: the building blocks of the @ipc packages (segments,
 * futex words, rings, the codec). For @ipc packages only; covered by semver
 * like the rest of @ipc/core.
 */
export {
  decodePayload,
  type Encoded,
  encode,
  isLatin1Tag,
  TAG_BUFFER,
  TAG_BYTES,
  TAG_JSON_LATIN1,
  TAG_JSON_UTF8,
  TAG_LATIN1,
  TAG_MAX,
  TAG_UTF8,
  TAG_V8,
  writePayload,
} from './codec.js'
export { invalidArgType, invalidArgValue, outOfRange, systemError } from './errors.js'
export { asyncWaitMode, cancelWaitsOn, notifyWord, waitWord, waitWordSync } from './futex.js'
export {
  checkHandle,
  type Handle,
  isTransferable,
  revive,
  TRANSFER,
  type Transferable,
  type TransferDescriptor,
} from './handle.js'
export { isProcessAlive, processStartTime, selfIdentity, threadId } from './liveness.js'
export {
  checkMpmcCapacity,
  MPMC_EMPTY,
  MPMC_PUT_FULL,
  MPMC_PUT_OK,
  MPMC_PUT_SHUTDOWN,
  MPMC_RING_HEADER_BYTES,
  MPMC_RING_MAX_CAPACITY,
  MPMC_RING_MIN_CAPACITY,
  MPMC_RING_VERSION,
  MPMC_SHUTDOWN,
  type MpmcPutStatus,
  MpmcRing,
  type MpmcRingInit,
  mpmcRingBytes,
} from './mpmc-ring.js'
export { ROBUST_LOCK_BYTES, RobustLock, type RobustLockOptions, type SyncWaitOptions } from './robust-lock.js'
export {
  type CreateOptions,
  checkName,
  HEADER_BYTES,
  randomName,
  reclaimDeadSegments,
  Segment,
  type SegmentKind,
  type SegmentOptions,
  SHM_PREFIX,
} from './segment.js'
export { checkTimeout, checkWaitOptions, deadlineOf, onAbort, remaining, throwIfAborted } from './signal.js'
export {
  initSpscRing,
  RING_CLOSED,
  RING_EMPTY,
  type RingWaitResult,
  SPSC_HEADER_BYTES,
  SPSC_MAGIC,
  SpscRing,
  type SpscRingOptions,
  spscRingBytes,
} from './spsc-ring.js'
