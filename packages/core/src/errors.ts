/**
 * Error classes of @ipc. Every class has a stable `name` and `code`, and
 * `instanceof` works across duplicate copies of the package (ESM and CJS, or
 * two installed versions): membership is decided by a global marker and the
 * `code`, not by prototype identity.
 */
import { getSystemErrorName, inspect } from 'node:util'

const MARK = Symbol.for('@ipc/error')

/** Options accepted by every @ipc error constructor. */
export interface IpcErrorOptions {
  /** The underlying error (for OS failures, an Error with `code` and `syscall`). */
  cause?: unknown
}

/** Base class of every error that @ipc throws for a runtime condition. */
export class IpcError extends Error {
  /** The stable code of this class; instances carry it as `error.code`. */
  static readonly code: string = 'IPC_ERROR'
  override name = 'IpcError'
  /** A stable, machine-readable code such as `'IPC_EMPTY'`. */
  readonly code: string

  constructor(message: string, options?: IpcErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = (new.target as typeof IpcError).code
    Object.defineProperty(this, MARK, { value: true })
  }

  /** True when `error` is an @ipc error, optionally of the given code. */
  static is(error: unknown, code?: string): error is IpcError {
    return isMarked(error, code)
  }

  // The class body never names IpcError: esbuild renames a class that refers
  // to itself inside its body (`class _IpcError`), and the built class would
  // then print as `_IpcError`.
  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class on the right of instanceof: IpcError itself (whose
    // parent is Error) matches every @ipc error, a subclass only its code.
    // biome-ignore lint/complexity/noThisInStatic: the subclass is the point
    return isMarked(value, Object.getPrototypeOf(this) === Error ? undefined : this.code)
  }
}

function isMarked(error: unknown, code: string | undefined): error is IpcError {
  if (typeof error !== 'object' || error === null || !(MARK in error)) return false
  return code === undefined || (error as { code?: unknown }).code === code
}

/** No primitive exists with the name that was opened. */
export class NotFoundError extends IpcError {
  static override readonly code: string = 'IPC_NOT_FOUND'
  override name = 'NotFoundError'
}

/** A primitive with that name exists already. */
export class ExistsError extends IpcError {
  static override readonly code: string = 'IPC_EXISTS'
  override name = 'ExistsError'
}

/** The named segment is of another kind or of another layout version. */
export class IncompatibleError extends IpcError {
  static override readonly code: string = 'IPC_INCOMPATIBLE'
  override name = 'IncompatibleError'
}

/** The primitive was closed in this process. */
export class ClosedError extends IpcError {
  static override readonly code: string = 'IPC_CLOSED'
  override name = 'ClosedError'
}

/** A value cannot be cloned (a function, a symbol, a class with private state…). */
export class DataCloneError extends IpcError {
  static override readonly code: string = 'IPC_DATA_CLONE'
  override name = 'DataCloneError'
}

/** A call was made with a value that is right in type but wrong in state (Python's ValueError). */
export class ValueError extends IpcError {
  static override readonly code: string = 'IPC_VALUE'
  override name = 'ValueError'
}

/**
 * A `timeout` passed before the call could complete, and the call had no
 * effect: nothing was sent, taken or acquired. (Calls that answer a timeout
 * with `false`, as Python's `acquire` does, do not throw it.)
 */
export class TimeoutError extends IpcError {
  static override readonly code: string = 'IPC_TIMEOUT'
  override name = 'TimeoutError'
}

/**
 * The object belongs to another user, or is open to group or other: it was
 * refused and never mapped, trusted, changed or removed.
 */
export class PermissionError extends IpcError {
  static override readonly code: string = 'IPC_PERMISSION'
  override name = 'PermissionError'
}

/**
 * A word read from shared memory broke its layout's rules (a length, offset,
 * count, capacity or state out of range). The primitive is unusable in this
 * process from then on; `close()` still works.
 */
export class CorruptError extends IpcError {
  static override readonly code: string = 'IPC_CORRUPT'
  override name = 'CorruptError'
}

/**
 * The connection to a server (Redis, for the `/redis` subpaths) was lost or
 * could not be made, or the server did not answer within the call's timeout.
 * The call had no effect that outlives the connection: a permit granted in
 * the meantime is a lease that lapses. Calls work again once the server is
 * back; the client reconnects by itself.
 */
export class ConnectionError extends IpcError {
  static override readonly code: string = 'IPC_CONNECTION'
  override name = 'ConnectionError'
}

/** The native addon could not be loaded; the message lists what was tried. */
export class NativeUnavailableError extends IpcError {
  static override readonly code: string = 'IPC_NATIVE_UNAVAILABLE'
  override name = 'NativeUnavailableError'
}

/** Details that a failed child process reports back. */
export interface ProcessErrorDetails extends IpcErrorOptions {
  /** The exit code of the child, or `-signal` when a signal ended it. */
  exitCode?: number | null
  /** The `name` of the error thrown in the child. */
  childName?: string
  /** The stack of the error thrown in the child, as the child printed it. */
  childStack?: string
}

/** The function run by a `Process` threw or rejected; carries the child's stack. */
export class ProcessError extends IpcError {
  static override readonly code: string = 'IPC_PROCESS'
  override name = 'ProcessError'
  /** The exit code of the child, or `-signal` when a signal ended it. */
  readonly exitCode: number | null
  /** The `name` of the error thrown in the child (e.g. `'TypeError'`). */
  readonly childName: string | undefined
  /** The child's own stack trace. */
  readonly childStack: string | undefined

  constructor(message: string, details: ProcessErrorDetails = {}) {
    super(message, details)
    this.exitCode = details.exitCode ?? null
    this.childName = details.childName
    this.childStack = details.childStack
    if (typeof details.childStack === 'string' && details.childStack !== '')
      this.stack = `${this.name}: ${message}\n--- in the child process ---\n${details.childStack}`
  }
}

/** How a worker ended: its exit code, or the signal that killed it. */
export interface WorkerExitDetails extends IpcErrorOptions {
  /** The worker's exit code, or `null` when a signal ended it. */
  exitCode?: number | null
  /** The signal that ended the worker (`'SIGKILL'`, …), or `null` when it exited by itself. */
  signal?: NodeJS.Signals | null
}

/**
 * The worker running a task died before it answered (it exited, crashed or
 * was killed, even by SIGKILL): only that task fails with this error; the
 * pool replaces the worker and goes on.
 */
export class WorkerExitError extends IpcError {
  static override readonly code: string = 'IPC_WORKER_EXIT'
  override name = 'WorkerExitError'
  /** The worker's exit code, or `null` when a signal ended it. */
  readonly exitCode: number | null
  /** The signal that ended the worker, or `null` when it exited by itself. */
  readonly signal: NodeJS.Signals | null

  constructor(message: string, details: WorkerExitDetails = {}) {
    super(message, details)
    this.exitCode = details.exitCode ?? null
    this.signal = details.signal ?? null
  }
}

/**
 * `value` as an argument error shows it: a string quoted and escaped (cut
 * after 100 characters), a bigint with its `n`, anything else `String(value)`, or, for
 * a value that cannot be converted (a null-prototype object, a throwing
 * `toString`), a look at it that runs none of its code. Never throws.
 */
export function shown(value: unknown): string {
  // A string or a bigint shown bare reads as a number ('10', 10n): quoted and escaped, and with its n.
  if (typeof value === 'string' || typeof value === 'bigint') return inspect(value, { maxStringLength: 100 })
  try {
    return String(value)
  } catch {
    try {
      return inspect(value, { customInspect: false, depth: 0, breakLength: Number.POSITIVE_INFINITY })
    } catch {
      // A getter inspect reads (Symbol.toStringTag) threw too.
      return `a value of type ${typeof value} that cannot be shown`
    }
  }
}

/** A `TypeError` with a Node-style `code`, for arguments of the wrong type. */
export function invalidArgType(message: string): TypeError & { code: string } {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' })
}

/** A `RangeError` with a Node-style `code`, for arguments out of range. */
export function outOfRange(message: string): RangeError & { code: string } {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' })
}

/** An Error describing an errno from the native layer, for `cause`. */
export function systemError(
  errno: number,
  syscall: string,
  path?: string,
): Error & { code: string; errno: number; syscall: string; path: string | undefined } {
  const code = errnoName(errno)
  const where = path === undefined ? '' : ` '${path}'`
  return Object.assign(new Error(`${code}: ${syscall}${where} failed (errno ${errno})`), { code, errno, syscall, path })
}

/** The symbolic name of an errno (`2` → `'ENOENT'`), as libuv knows it; `E<n>` for one it does not. */
function errnoName(errno: number): string {
  if (!Number.isInteger(errno) || errno <= 0) return `E${errno}`
  const name = getSystemErrorName(-errno)
  // Unknown numbers come back as "Unknown system error -n".
  return name.startsWith('E') ? name : `E${errno}`
}

/** A `TypeError` with a Node-style `code`, for argument values that are not allowed. */
export function invalidArgValue(message: string): TypeError & { code: string } {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' })
}
