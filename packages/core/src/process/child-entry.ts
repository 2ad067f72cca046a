/**
 * The child's side of `Process` (built as dist/child-entry.js; process.ts
 * describes the protocol). Forked with argv `[CHILD_MARK, name]`, it waits for
 * one start message on the IPC channel; started as a worker thread, it reads
 * `workerData`. Then it revives the primitives, imports the module, calls the
 * export, reports the outcome, closes the primitives, flushes stdout and
 * stderr and exits.
 *
 * Loaded any other way (imported), it does nothing.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { deserialize } from '../codec/codec.js'
import { revive } from '../primitive/handle.js'
import { runtime } from '../runtime.js'
import { within } from '../waiting/signal.js'
import {
  CHILD_MARK,
  errorFields,
  importModule,
  isMainGuardError,
  type ProcessPayload,
  type ProcessResultMessage,
  placeTransfer,
  RESULT_TYPE,
} from './process.js'

interface StartMessage {
  type: '@ipc/process-start'
  payload: Uint8Array
}

const threadData = workerData as { [CHILD_MARK]?: boolean; payload?: Uint8Array } | null | undefined
const inThread = parentPort !== null && threadData?.[CHILD_MARK] === true
const inProcess = !inThread && process.argv[2] === CHILD_MARK && typeof process.send === 'function'

/** How long a child waits for its primitives' async closes (a Redis server that does not answer) before it exits, ms. */
const CLOSE_BOUND_MS = 2000

/** Set once the outcome is known; later errors (during exit) are ignored. */
let finished = false
/** Set while a failure is reported: the child then exits with its code, whatever else fails meanwhile. */
let failing = false
/** The 'beforeExit' listeners of this file (run's); more means the program has its own. */
const OWN_BEFORE_EXIT_LISTENERS = 1
const revived: unknown[] = []

if (inThread) void run(threadData?.payload as Uint8Array)
else if (inProcess) {
  process.once('message', (message: StartMessage) => {
    // From here on the channel must not keep the child alive: the function's
    // own work does, and the child exits when it is done.
    process.channel?.unref()
    void run(message.payload)
  })
}

async function run(bytes: Uint8Array): Promise<void> {
  // An exception that nothing catches fails the function, unless the module
  // installed its own handler (then it is the module's business).
  process.on('uncaughtException', (error) => {
    if (process.listenerCount('uncaughtException') > 1 || failing) return
    if (!finished) return void finish(error)
    // After the function succeeded, work it left running failed: die as Node would.
    console.error(error)
    process.exit(1)
  })
  // The event loop emptied while the function's promise was pending: it can
  // never settle. Node's own exit code for that case (unsettled await) is 13.
  process.on('beforeExit', () => {
    if (!finished)
      void finish(libraryError('The function returned a promise that never settled (the event loop emptied)'), 13)
  })
  try {
    const payload = deserialize<ProcessPayload>(bytes)
    runtime().childName = payload.name
    for (const { descriptor, paths } of payload.transfers) {
      const value = await revive(descriptor)
      revived.push(value)
      for (const path of paths) placeTransfer(payload.args, path, value)
    }
    const module = await importModule(payload.module)
    const fn = module[payload.exportName]
    if (typeof fn !== 'function')
      throw new TypeError(
        `Cannot run process "${payload.name}": ${payload.module} has no export "${payload.exportName}" that is a function (found ${typeof fn})`,
      )
    await fn(...payload.args)
  } catch (error) {
    return finish(error)
  }
  return succeed()
}

/**
 * The function returned: report it, then live on like any Node program while
 * work it started is pending (as Python joins a child's non-daemon threads),
 * and exit 0 when the event loop empties. Then, nothing left to use them, the
 * revived primitives close (a Redis one leaves the server now, not 3 leases
 * later); their closing may keep the loop busy, and the next empty loop exits.
 * A program with 'beforeExit' listeners of its own may do more work there
 * with them: then they stay open, closed at exit as Node leaves them.
 */
async function succeed(): Promise<void> {
  if (finished) return
  finished = true
  await report({ type: RESULT_TYPE, ok: true })
  process.once('beforeExit', () => {
    if (process.listenerCount('beforeExit') <= OWN_BEFORE_EXIT_LISTENERS) void closeRevived()
  })
}

/** Closes what was revived for the function, each once; waits at most CLOSE_BOUND_MS for async closes. */
async function closeRevived(): Promise<void> {
  const closing: Promise<unknown>[] = []
  for (const value of revived.splice(0)) {
    try {
      const result = (value as { close?: () => unknown }).close?.()
      if (result instanceof Promise) closing.push(result.catch(() => {}))
    } catch {
      // Closing is best effort: shared memory is released at exit anyway, a Redis object lapses after its lease.
    }
  }
  if (closing.length === 0) return
  await within(Promise.all(closing), CLOSE_BOUND_MS, () => {})
}

/** Reports that the function failed (also by throwing `undefined`), then exits with `code`. */
async function finish(error: unknown, code = 1): Promise<void> {
  if (finished) return
  finished = true
  failing = true
  try {
    // The outcome first: a close that waits on a server must not hold it back.
    const fields = errorFields(error)
    await report({ type: RESULT_TYPE, ok: false, error: fields })
    printFailure(error, fields)
    await closeRevived()
    await flush(process.stdout)
    await flush(process.stderr)
  } finally {
    // Whatever failed above, the child exits with `code`: a failure never passes for success.
    process.exit(code)
  }
}

/**
 * Prints the failure on the child's stderr, as Python prints a child's
 * traceback: it shows even when the parent never calls join() (it waits on
 * a queue the child would have filled, say). A main-guard error was printed
 * when it was thrown (importModule).
 */
function printFailure(error: unknown, fields: ReturnType<typeof errorFields>): void {
  if (isMainGuardError(error)) return
  const heading = `Process "${runtime().childName ?? 'Process'}" failed:`
  try {
    console.error(heading, error)
  } catch {
    // inspect threw (an error whose [inspect.custom] or stack getter throws): print what the
    // parent is told, which errorFields read without throwing.
    process.stderr.write(`${heading} ${fields.name ?? 'Error'}: ${fields.message}\n`)
  }
}

function report(result: ProcessResultMessage): Promise<void> {
  if (inThread) {
    parentPort?.postMessage(result)
    return Promise.resolve()
  }
  return new Promise((resolve) => {
    try {
      // The parent may be gone: then there is nobody to tell.
      // The callback runs once the message is written, or with an error when the channel is closed.
      if (process.send === undefined) resolve()
      else process.send(result, undefined, {}, () => resolve())
    } catch {
      resolve()
    }
  })
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve()
    stream.write('', () => resolve())
  })
}

/** An error this file makes about the function, not thrown by it: its stack (this file's frames) would say nothing. */
function libraryError(message: string): Error {
  const error = new Error(message)
  error.stack = `Error: ${message}`
  return error
}
