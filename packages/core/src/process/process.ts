/**
 * Process: Python's `multiprocessing.Process` for Node.js. It runs a named
 * export of a module in a child process (`child_process.fork`) or in a worker
 * thread, with the given arguments; @ipc primitives among the arguments arrive
 * attached in the child.
 *
 * Protocol (see child-entry.ts for the child's side):
 * 1. `start()` turns the arguments into a payload: every primitive (an object
 *    with a `[TRANSFER]()` method, at the top level or nested in arrays and
 *    plain objects) is replaced by `null` and listed as
 *    `{ descriptor, paths }`; the rest is serialized with structured-clone
 *    semantics (v8). A value that cannot be cloned throws `DataCloneError`
 *    before anything starts.
 * 2. The payload goes to the child in an IPC message (process mode) or in
 *    `workerData` (thread mode). The child revives the primitives, imports the
 *    module, calls the export and awaits it.
 * 3. The child sends back one result message (`ok`, or the error's name,
 *    message and stack). After an error it flushes stdout and stderr and
 *    exits 1; after success it lives on until its event loop empties and
 *    exits 0. Revived primitives close at exit.
 * 4. The parent settles `join()` when the child has exited and its IPC channel
 *    has closed ('close'), so the result message is always read first.
 */

import { type ChildProcess, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { constants } from 'node:os'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { finished, type Readable } from 'node:stream'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { inspect } from 'node:util'
import { Worker } from 'node:worker_threads'
import { serialize } from '../codec/codec.js'
import { IpcError, invalidArgType, invalidArgValue, ProcessError, ValueError } from '../errors.js'
import { checkOptionsObject, optionNames } from '../option-names.js'
import { isTransferable, TRANSFER, type TransferDescriptor } from '../primitive/handle.js'
import { runtime } from '../runtime.js'
import {
  afterTimeout,
  checkWaitOptions,
  onAbort,
  throwIfAborted,
  WAIT_OPTIONS,
  type WaitOptions,
} from '../waiting/signal.js'

/** Where a `Process` runs its function. */
export type ProcessMode = 'process' | 'thread'

/** Options of `new Process(module, options)`. */
export interface ProcessOptions {
  /**
   * The arguments the export is called with. Primitives (`Queue`, `Lock`, …)
   * arrive attached, at the top level or nested in arrays and plain objects;
   * everything else is copied with structured-clone semantics.
   * @default []
   */
  args?: readonly unknown[]
  /**
   * The export of `module` to call.
   * @default 'default'
   */
  exportName?: string
  /**
   * `'process'` forks a child process; `'thread'` starts a worker thread in this process.
   * @default 'process'
   */
  mode?: ProcessMode
  /**
   * The child's environment variables.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv
  /**
   * Node.js options of the child (`['--import', 'tsx']`, …).
   * @default process.execArgv (so a parent started with `node --import tsx` can run .ts modules)
   */
  execArgv?: readonly string[]
  /**
   * A name for logs and `util.inspect`; the child sees it as `process.argv[3]` (process mode).
   * @default 'Process-N', N counting the processes made in this thread (as in Python)
   */
  name?: string
  /**
   * A daemon child does not keep this process alive, and is sent SIGTERM when
   * this process exits normally (Python's `daemon = True`). A non-daemon child
   * keeps this process running until it ends, as Python joins non-daemon
   * children at exit.
   * @default false
   */
  daemon?: boolean
}

const PROCESS_OPTIONS = optionNames<ProcessOptions>({
  args: true,
  exportName: true,
  mode: true,
  env: true,
  execArgv: true,
  name: true,
  daemon: true,
})

/** The result message a child sends before it exits. */
export interface ProcessResultMessage {
  type: typeof RESULT_TYPE
  ok: boolean
  /** The error's name, message, stack and code, when `ok` is false. */
  error?: { name: string | undefined; message: string; stack: string | undefined; code: unknown }
}

/** What the parent sends to the child: where the function is and what to call it with. */
export interface ProcessPayload {
  module: string
  exportName: string
  name: string
  /** The arguments, with each primitive replaced by `null`. */
  args: unknown[]
  /** Each distinct primitive, and where it goes in `args`. */
  transfers: { descriptor: TransferDescriptor; paths: (string | number)[][] }[]
}

/** The most characters the parent keeps of each string in a child's result (64 Ki). */
export const MAX_RESULT_FIELD = 64 * 1024
/** What `join()` reports for a result message of any other shape than `ProcessResultMessage`. */
export const MALFORMED_RESULT = 'the child sent a malformed result'
/** The message of a thrown value that cannot be read or turned into a string. */
const UNPRINTABLE = 'an unprintable error'

/** A child's result as the parent keeps it: checked, each string at most MAX_RESULT_FIELD characters (then marked cut). */
export type ProcessOutcome =
  | { ok: true }
  | { ok: false; what: string; name: string | undefined; stack: string | undefined }

/** Marks the messages between `Process` and child-entry. */
export const RESULT_TYPE = '@ipc/process-result'
/** The first argv of a forked child-entry; the name follows it. */
export const CHILD_MARK = '@ipc/process'
/** The words that name the fix in the missing-main-guard error (child-entry prints that error). */
export const MAIN_GUARD_HINT = 'if (!currentProcess().isChild)'

const MODES: readonly ProcessMode[] = ['process', 'thread']
/**
 * How long a thread's end waits for its last stdout and stderr output to flow
 * out of the parent-side streams (they end a few ms after the 'exit' event).
 */
const STDIO_DRAIN_MS = 1000

/** Resolves once `stream` has ended (its data all emitted), failed or closed (`finished`), or after `ms`. */
function drained(stream: Readable, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    finished(stream, () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Per-thread state, on globalThis so that the ESM and CJS copies share it. */
interface ProcessRuntime {
  count: number
  daemons: Set<Process>
  exitHook: boolean
}

function processRuntime(): ProcessRuntime {
  const holder = globalThis as unknown as Record<symbol, ProcessRuntime | undefined>
  const key = Symbol.for('@ipc/core/process')
  let state = holder[key]
  if (state === undefined) {
    state = { count: 0, daemons: new Set(), exitHook: false }
    holder[key] = state
  }
  return state
}

/** dist/child-entry.js of this package (also when this file runs from src/ under a test runner). */
function childEntryPath(): string {
  // dist/index.js holds this code one level below the root; src/process/process.ts two levels.
  const here = dirname(fileURLToPath(import.meta.url))
  const root = basename(here) === 'process' ? dirname(dirname(here)) : dirname(here)
  return join(root, 'dist', 'child-entry.js')
}

/** A module given as a path (relative to the working directory or absolute) or a URL, as a URL string. */
export function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href
  if (typeof module === 'function')
    throw invalidArgType(
      'The "module" argument must be a path or a URL, received a function. A child cannot receive a function: ' +
        `export it and name it, e.g. new Process(import.meta.url, { exportName: '${(module as { name?: string }).name || 'worker'}' })`,
    )
  if (typeof module !== 'string')
    throw invalidArgType(
      `The "module" argument must be a path or a URL, received ${module === null ? 'null' : typeof module}`,
    )
  if (module.length === 0) throw invalidArgValue('The "module" argument must be a path or a URL, received ""')
  if (/^(file|data):/i.test(module)) return new URL(module).href
  return pathToFileURL(isAbsolute(module) ? module : resolve(process.cwd(), module)).href
}

/** The name of signal `number` (`9` → `'SIGKILL'`), or `null` for a number no signal has. */
export function signalName(number: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(constants.signals)) if (value === number) return name as NodeJS.Signals
  return null
}

function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 0)
      throw invalidArgValue(`The "signal" argument must be a signal name or number, received ${signal}`)
    return signal
  }
  const number = (constants.signals as Record<string, number | undefined>)[signal]
  if (number === undefined)
    throw invalidArgValue(`The "signal" argument must be a signal name or number, received ${inspect(signal)}`)
  return number
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Replaces every primitive in `args` (top level, arrays, plain objects) by
 * `null` and lists it with the paths where it goes. Containers are copied, so
 * the caller's arrays and objects stay as they were; a primitive seen twice is
 * revived once.
 */
export function extractTransfers(args: readonly unknown[]): Pick<ProcessPayload, 'args' | 'transfers'> {
  const transfers: ProcessPayload['transfers'] = []
  const index = new Map<object, number>()
  const copies = new Map<object, unknown>()
  const walk = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value !== 'object' || value === null) return value
    if (isTransferable(value)) {
      let i = index.get(value)
      if (i === undefined) {
        i = transfers.length
        index.set(value, i)
        transfers.push({ descriptor: checkDescriptor(value[TRANSFER]()), paths: [] })
      }
      transfers[i]?.paths.push(path)
      return null
    }
    const seen = copies.get(value)
    if (seen !== undefined) return seen
    if (Array.isArray(value)) {
      const out: unknown[] = []
      copies.set(value, out)
      for (let i = 0; i < value.length; i++) out[i] = walk(value[i], [...path, i])
      return out
    }
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {}
      copies.set(value, out)
      for (const key of Object.keys(value)) out[key] = walk((value as Record<string, unknown>)[key], [...path, key])
      return out
    }
    return value
  }
  const out = args.map((arg, i) => walk(arg, [i]))
  return { args: out, transfers }
}

/** Puts a revived primitive `value` at `path` (indexes and keys, from `extractTransfers`) inside `root`. */
export function placeTransfer(root: unknown[], path: readonly (string | number)[], value: unknown): void {
  let target = root as unknown as Record<string | number, unknown>
  for (let i = 0; i < path.length - 1; i++)
    target = target[path[i] as string | number] as Record<string | number, unknown>
  target[path[path.length - 1] as string | number] = value
}

/** Whether `error` is the refusal of a `start()` made while a child imports its module (the missing main guard). */
export function isMainGuardError(error: unknown): error is ProcessError {
  return error instanceof ProcessError && error.message.includes(MAIN_GUARD_HINT)
}

/**
 * Imports a child's module with `importingModule` set, so a `start()` at
 * its top level (a missing main guard) throws instead of starting a child
 * that imports the module again, without end. The refusal is printed too:
 * the parent may never join this child to see it. Used by child-entry and by
 * other runners of user modules in a child (@ipc/pool's workers).
 */
export async function importModule(module: string): Promise<Record<string, unknown>> {
  const rt = runtime()
  rt.importingModule = true
  try {
    return (await import(module)) as Record<string, unknown>
  } catch (error) {
    if (isMainGuardError(error)) console.error(error.message)
    throw error
  } finally {
    rt.importingModule = false
  }
}

function checkDescriptor(descriptor: TransferDescriptor): TransferDescriptor {
  if (
    typeof descriptor !== 'object' ||
    descriptor === null ||
    typeof descriptor.module !== 'string' ||
    typeof descriptor.export !== 'string' ||
    typeof descriptor.handle !== 'object' ||
    descriptor.handle === null
  )
    throw invalidArgType('A [TRANSFER]() method must return { module, export, handle }')
  return { module: descriptor.module, export: descriptor.export, handle: descriptor.handle }
}

function installDaemonHook(): void {
  const state = processRuntime()
  if (state.exitHook) return
  state.exitHook = true
  process.on('exit', () => {
    for (const child of state.daemons) child.kill('SIGTERM')
  })
}

/**
 * Runs a module's export in a child process or a worker thread: Python's
 * `multiprocessing.Process`, with a module and export name in place of `target`.
 *
 * Guarantees:
 * - The child calls `module[exportName](...args)` once and awaits it; primitives
 *   among `args` arrive attached, even if the child's module never imports
 *   their package. Other arguments are copied (structured clone).
 * - When the function returns, the child reports success and lives on while
 *   work it started is pending, then exits with code 0 (the primitives it was
 *   given close at exit); when it throws or rejects
 *   (or an exception goes uncaught), it exits with code 1 and `join()` rejects
 *   with a `ProcessError` carrying the child's error name, message and stack.
 * - A child ended by a signal has exit code `-signal` (Python's `exitcode`).
 * - The child's result message is checked: a malformed one fails `join()`
 *   with `ProcessError`. The channel itself is Node's IPC: a forked child
 *   that writes raw bytes to it (fd 3) can crash this process, as any
 *   `child_process.fork` child can.
 *
 * @throws {TypeError} when `module` or an option has the wrong type.
 * @example
 * ```ts
 * const child = new Process('./worker.mjs', { args: [42] })
 * child.start()
 * await child.join() // => 0
 * ```
 */
export class Process {
  /** The name given in the options, or `Process-N`. */
  readonly name: string
  /** Where the function runs. */
  readonly mode: ProcessMode
  /** Whether this process kills the child when it exits (see the `daemon` option). */
  readonly daemon: boolean
  /** The module's URL (a path given as a string is resolved against the working directory at construction). */
  readonly module: string
  /** The export called in the child. */
  readonly exportName: string
  readonly #args: readonly unknown[]
  readonly #env: NodeJS.ProcessEnv | undefined
  readonly #execArgv: readonly string[] | undefined
  #child: ChildProcess | undefined
  #worker: Worker | undefined
  #started = false
  #ended = false
  #exitCode: number | null = null
  #killedBy: number | undefined
  #failure: ProcessError | undefined
  #result: ProcessOutcome | undefined
  #spawnError: Error | undefined
  #onEnd: (() => void)[] = []

  constructor(module: string | URL, options: ProcessOptions = {}) {
    this.module = moduleUrl(module)
    checkOptionsObject(options, PROCESS_OPTIONS)
    const { args = [], exportName = 'default', mode = 'process', env, execArgv, name, daemon = false } = options
    if (!Array.isArray(args)) throw invalidArgType(`The "args" option must be an array, received ${typeof args}`)
    if (typeof exportName !== 'string' || exportName.length === 0)
      throw invalidArgType(`The "exportName" option must be a non-empty string, received ${inspect(exportName)}`)
    if (!MODES.includes(mode))
      throw invalidArgValue(`The "mode" option must be 'process' or 'thread', received ${inspect(mode)}`)
    if (env !== undefined && (typeof env !== 'object' || env === null))
      throw invalidArgType(`The "env" option must be an object, received ${env === null ? 'null' : typeof env}`)
    if (execArgv !== undefined && (!Array.isArray(execArgv) || !execArgv.every((a) => typeof a === 'string')))
      throw invalidArgType('The "execArgv" option must be an array of strings')
    if (name !== undefined && typeof name !== 'string')
      throw invalidArgType(`The "name" option must be a string, received ${typeof name}`)
    if (typeof daemon !== 'boolean')
      throw invalidArgType(`The "daemon" option must be a boolean, received ${typeof daemon}`)
    this.name = name ?? `Process-${++processRuntime().count}`
    this.mode = mode
    this.daemon = daemon
    this.exportName = exportName
    this.#args = args
    this.#env = env
    this.#execArgv = execArgv
  }

  /** The child's process id once started; in thread mode, this process's id. */
  get pid(): number | undefined {
    if (this.#child !== undefined) return this.#child.pid
    return this.#worker === undefined ? undefined : process.pid
  }

  /**
   * `null` until the child has exited; then its exit code, or `-signal` when a
   * signal ended it (in thread mode, `kill(signal)` also reports `-signal`).
   */
  get exitCode(): number | null {
    return this.#exitCode
  }

  /** True from `start()` until the child has exited (Python's `is_alive()`). */
  get alive(): boolean {
    return this.#started && !this.#ended
  }

  /**
   * Starts the child. The arguments are serialized now: later changes to them
   * do not reach the child.
   *
   * @throws {ValueError} when the process was started already.
   * @throws {ProcessError} when called in a child while its module is being
   *   imported: the module starts processes at top level without a main guard
   *   (`if (!currentProcess().isChild) { … }`), which would start children
   *   without end.
   * @throws {DataCloneError} when an argument cannot be cloned; nothing is started.
   * @example
   * ```ts
   * const child = new Process('./worker.mjs').start()
   * ```
   */
  start(): this {
    if (this.#started) throw new ValueError(`Cannot start process "${this.name}": it was started already`)
    if (runtime().importingModule) throw mainGuardError(this.name)
    const entry = childEntryPath()
    if (!existsSync(entry))
      throw new IpcError(`Cannot start process "${this.name}": ${entry} is missing (build @ipc/core first)`)
    const { args, transfers } = extractTransfers(this.#args)
    const payload: ProcessPayload = {
      module: this.module,
      exportName: this.exportName,
      name: this.name,
      args,
      transfers,
    }
    const bytes = serialize(payload)
    this.#started = true
    if (this.mode === 'thread') this.#startThread(entry, bytes)
    else this.#startProcess(entry, bytes)
    if (this.daemon) {
      processRuntime().daemons.add(this)
      installDaemonHook()
    }
    return this
  }

  #startProcess(entry: string, bytes: Uint8Array): void {
    const child = fork(entry, [CHILD_MARK, this.name], {
      env: this.#env ?? process.env,
      execArgv: [...(this.#execArgv ?? process.execArgv)],
      serialization: 'advanced',
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    })
    this.#child = child
    child.on('message', (message: unknown) => this.#onMessage(message))
    child.on('error', (error) => {
      // Spawning failed (no 'close' follows when there is no pid), or sending the payload failed.
      if (child.pid === undefined) {
        this.#spawnError = error
        this.#end(null)
      }
    })
    child.on('close', (code, signal) => {
      this.#end(code ?? (signal === null ? null : -signalNumber(signal)))
    })
    // fork() that hits EMFILE or ENFILE returns at once, before it sets up the IPC channel: the
    // child has no pid and no `send`, and the errno comes in its 'error' event on the next tick,
    // handled above as any failed spawn (join() rejects with ProcessError, the errno as `cause`).
    // Nothing was started, so there is nothing to send the payload to or to unref.
    if (typeof child.send !== 'function') return
    child.send({ type: '@ipc/process-start', payload: bytes }, (error) => {
      // The child died before reading its payload; 'close' reports how.
      if (error) return
    })
    if (this.daemon) {
      child.unref()
      child.channel?.unref()
    }
  }

  #startThread(entry: string, bytes: Uint8Array): void {
    const worker = new Worker(entry, {
      workerData: { [CHILD_MARK]: true, payload: bytes },
      env: this.#env ?? process.env,
      ...(this.#execArgv === undefined ? {} : { execArgv: [...this.#execArgv] }),
    })
    this.#worker = worker
    worker.on('message', (message: unknown) => this.#onMessage(message))
    worker.on('error', (error) => {
      // child-entry reports the function's errors itself; this is an error outside it.
      this.#result ??= checkResult({ type: RESULT_TYPE, ok: false, error: errorFields(error) })
    })
    worker.on('exit', (code) => {
      const exitCode = this.#killedBy === undefined ? code : -this.#killedBy
      // Node emits 'exit' before the worker's last output has flowed out of its parent-side
      // stdout and stderr: join() resolves after that output, as it does for a child process.
      void Promise.all([drained(worker.stdout, STDIO_DRAIN_MS), drained(worker.stderr, STDIO_DRAIN_MS)]).then(() =>
        this.#end(exitCode),
      )
    })
    if (this.daemon) worker.unref()
  }

  #onMessage(message: unknown): void {
    if (typeof message !== 'object' || message === null || (message as ProcessResultMessage).type !== RESULT_TYPE)
      return
    this.#result ??= checkResult(message)
  }

  #end(code: number | null): void {
    if (this.#ended) return
    this.#ended = true
    this.#exitCode = code
    processRuntime().daemons.delete(this)
    const result = this.#result
    if (this.#spawnError !== undefined) {
      this.#failure = new ProcessError(`Cannot start process "${this.name}": ${this.#spawnError.message}`, {
        exitCode: code,
        cause: this.#spawnError,
      })
    } else if (result !== undefined && !result.ok) {
      this.#failure = new ProcessError(`Process "${this.name}" failed: ${result.what}`, {
        exitCode: code,
        ...(result.name === undefined ? {} : { childName: result.name }),
        ...(result.stack === undefined ? {} : { childStack: result.stack }),
      })
    }
    for (const listener of this.#onEnd.splice(0)) listener()
  }

  /**
   * Waits for the child to exit and resolves its exit code (`-signal` when a
   * signal ended it), or `null` if it is still running when `timeout` ms pass.
   * Never blocks the event loop. May be called any number of times.
   *
   * @throws {ProcessError} (rejects) when the function threw or rejected in the
   *   child; `error.exitCode`, `error.childName` and `error.childStack` tell how.
   *   Also when the child could not be started (the spawn failed, e.g. too many
   *   open files): `error.cause` is Node's error, with its `code` (`'EMFILE'`, …).
   * @throws {ValueError} (rejects) when the process was never started.
   * @example
   * ```ts
   * const code = await child.join({ timeout: 1000 }) // null if still running
   * ```
   */
  async join(options?: WaitOptions): Promise<number | null> {
    if (!this.#started) throw new ValueError(`Cannot join process "${this.name}": it was never started`)
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    throwIfAborted(signal)
    if (!this.#ended) {
      if (timeout === 0) return null
      const ended = await new Promise<boolean>((resolve, reject) => {
        let cancelTimer = () => {}
        let removeAbort = () => {}
        const cleanUp = () => {
          cancelTimer()
          removeAbort()
          const i = this.#onEnd.indexOf(listener)
          if (i >= 0) this.#onEnd.splice(i, 1)
        }
        const listener = () => {
          cleanUp()
          resolve(true)
        }
        this.#onEnd.push(listener)
        cancelTimer = afterTimeout(timeout, () => {
          cleanUp()
          resolve(false)
        })
        removeAbort = onAbort(signal, () => {
          cleanUp()
          reject(signal?.reason)
        })
      })
      if (!ended) return null
    }
    if (this.#failure !== undefined) throw this.#failure
    return this.#exitCode
  }

  /**
   * Sends `signal` to the child (Python's `terminate()` is `kill()`, its
   * `kill()` is `kill('SIGKILL')`). In thread mode any signal terminates the
   * worker thread and `exitCode` becomes `-signal`. Returns false when the
   * child has exited already.
   *
   * @throws {ValueError} when the process was never started.
   * @throws {TypeError} when `signal` is not a signal name or number.
   * @example
   * ```ts
   * child.kill('SIGKILL')
   * await child.join() // => -9
   * ```
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const number = signalNumber(signal)
    if (!this.#started) throw new ValueError(`Cannot kill process "${this.name}": it was never started`)
    if (this.#ended) return false
    if (this.#worker !== undefined) {
      this.#killedBy ??= number
      void this.#worker.terminate()
      return true
    }
    // No pid: the fork failed (EMFILE, EAGAIN, …; its 'error' event comes on the next tick), and
    // nothing runs. Node would still pass the kill on without a pid, which signals the caller's
    // whole process group.
    const child = this.#child
    if (child === undefined || child.pid === undefined) return false
    return child.kill(signal)
  }

  [inspect.custom](): string {
    const fields = { name: this.name, mode: this.mode, pid: this.pid, alive: this.alive, exitCode: this.exitCode }
    return `Process ${inspect(fields, { breakLength: Number.POSITIVE_INFINITY })}`
  }
}

/**
 * The name, message, stack and code of a thrown value, for the result message.
 * Never throws: a field that cannot be read or turned into a string is
 * replaced ('Error', 'an unprintable error', or left out). Each string is
 * cut to MAX_RESULT_FIELD characters, as `checkResult` cuts it (a cut string
 * cuts to itself): an error with a 10 MiB message sends 64 KiB.
 */
export function errorFields(error: unknown): NonNullable<ProcessResultMessage['error']> {
  const fields: NonNullable<ProcessResultMessage['error']> = {
    name: undefined,
    message: UNPRINTABLE,
    stack: undefined,
    code: undefined,
  }
  let errorLike: boolean
  try {
    errorLike = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)
  } catch {
    // A proxy whose traps throw.
    return fields
  }
  if (!errorLike) {
    fields.message = attempt(() => cut(inspect(error)), UNPRINTABLE)
    return fields
  }
  const e = error as Partial<Error> & { code?: unknown }
  fields.name = attempt(() => {
    const name = e.name
    return typeof name === 'string' ? cut(name) : 'Error'
  }, 'Error')
  fields.message = attempt(() => {
    const message = e.message
    try {
      return cut(String(message))
    } catch {
      return attempt(() => cut(inspect(message)), UNPRINTABLE)
    }
  }, UNPRINTABLE)
  fields.stack = attempt(() => {
    const stack = e.stack
    return typeof stack === 'string' ? cut(stack) : undefined
  }, undefined)
  fields.code = attempt(() => {
    const code = e.code
    return typeof code === 'number' ? code : typeof code === 'string' ? cut(code) : undefined
  }, undefined)
  return fields
}

/** `read()`, or `fallback` if it throws. */
function attempt<T>(read: () => T, fallback: T): T {
  try {
    return read()
  } catch {
    return fallback
  }
}

/**
 * What a child's result message reports: `ok` must be `true` or `false`,
 * and a failure's `error` must have a string `message`, a string or no
 * `name` and `stack`, a string, number or no `code`. Any other shape gives
 * MALFORMED_RESULT. Strings are cut to MAX_RESULT_FIELD characters. Never
 * throws: the message comes from the child, a peer.
 */
export function checkResult(message: unknown): ProcessOutcome {
  try {
    const { ok, error } = message as { ok?: unknown; error?: unknown }
    if (ok === true) return { ok: true }
    if (ok === false && typeof error === 'object' && error !== null) {
      const { name, message: text, stack, code } = error as Record<string, unknown>
      if (
        (name === undefined || typeof name === 'string') &&
        typeof text === 'string' &&
        (stack === undefined || typeof stack === 'string') &&
        (code === undefined || typeof code === 'string' || typeof code === 'number')
      ) {
        const kept = name === undefined ? undefined : cut(name)
        return {
          ok: false,
          what: kept === undefined ? `threw ${cut(text)}` : `${kept}: ${cut(text)}`,
          name: kept,
          stack: stack === undefined ? undefined : cut(stack),
        }
      }
    }
  } catch {
    // Not readable as an object: malformed.
  }
  return { ok: false, what: MALFORMED_RESULT, name: undefined, stack: undefined }
}

function cut(text: string): string {
  return text.length > MAX_RESULT_FIELD ? `${text.slice(0, MAX_RESULT_FIELD)}… (cut)` : text
}

/** What `currentProcess()` tells about the running process or thread. */
export interface CurrentProcess {
  /** The `name` given to the `Process` that started this one, or `'MainProcess'`. */
  name: string
  pid: number
  /** True inside a process or thread started by `Process`. */
  isChild: boolean
}

/**
 * Python's `multiprocessing.current_process()`. A module passed to `Process`
 * is imported again in the child, so guard the parent's code with it — the
 * `if __name__ == '__main__'` of @ipc.
 *
 * @example
 * ```ts
 * if (!currentProcess().isChild) {
 *   // parent-only code: create primitives, start children
 * }
 * ```
 */
export function currentProcess(): CurrentProcess {
  const name = runtime().childName
  return { name: name ?? 'MainProcess', pid: process.pid, isChild: name !== undefined }
}

/**
 * The error of a `start()` at the top level of a child's module: without the
 * guard, every child would import the module, start another child, and so on.
 * Python refuses the same mistake during bootstrapping.
 */
function mainGuardError(name: string): ProcessError {
  return new ProcessError(
    `Cannot start process "${name}": the module starts it at its top level.\n` +
      'A child imports its module to find its function, so without a main guard\n' +
      'every child would start another, without end. Put the code that starts\n' +
      `processes under the guard:\n\n  ${MAIN_GUARD_HINT} {\n    // new Process(…).start(), new Queue(), …\n  }\n\n` +
      "(Python's `if __name__ == '__main__':`.)",
  )
}
