/**
 * @ipc/core/internal: the building blocks of the @ipc packages (segments,
 * futex words, rings, the codec). For @ipc packages only; covered by semver
 * like the rest of @ipc/core.
 */
export { decodePayload, type Encoded, encode, TAG_BUFFER, TAG_BYTES, TAG_LATIN1, TAG_UTF8, TAG_V8, writePayload } from './codec.js'
export { invalidArgType, invalidArgValue, outOfRange, systemError } from './errors.js'
export { cancelWaitsOn, notifyWord, waitWord, waitWordSync } from './futex.js'
export { checkHandle, type Handle, isTransferable, revive, TRANSFER, type Transferable, type TransferDescriptor } from './handle.js'
export { isProcessAlive, processStartTime, selfIdentity, threadId } from './liveness.js'
export {
  type CreateOptions,
  checkName,
  HEADER_BYTES,
  randomName,
  reclaimDeadSegments,
  SHM_PREFIX,
  Segment,
  type SegmentKind,
  type SegmentOptions,
} from './segment.js'
export { checkTimeout, checkWaitOptions, deadlineOf, onAbort, remaining, throwIfAborted } from './signal.js'
