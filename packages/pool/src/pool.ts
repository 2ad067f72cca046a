/**
 * Pool: Python's `multiprocessing.Pool` for Node.js, on @ipc/core's `Process`
 * and @ipc/queue's `Queue` (protocol.ts describes the messages).
 *
 * The parent assigns every task (a `run`, or a chunk of `map`/`imap`) to one
 * worker, so it always knows which tasks a worker holds, oldest first. When a
 * worker exits, the parent first reads the replies already in its reply
 * queue, then the requests still in its request queue (those never started),
 * fails the one task the worker had taken and not answered with
 * `WorkerExitError`, and gives the others to other workers. Aborting a running task kills its worker, which is the
 * same path. Worker deaths are seen through `Process` exit events, never by
 * polling.
 *
 * Pipelining: a worker holds up to about `QUEUED_WORK_MS` of work (by the
 * measured time per task, between 2 and `MAX_DEPTH` tasks), so it finds its
 * next request in its queue while the parent handles replies, and the
 * parent handles many replies per wake-up when tasks are tiny; long tasks
 * stay 2 deep, so the work stays balanced between workers. Tiny tasks
 * (under `TOP_UP_MS`) refill a worker when it is down to half its depth, in
 * one burst (one wake-up for many); longer ones top it up at every reply, so
 * it always holds about `QUEUED_WORK_MS` of work: that is the time the parent
 * has to be scheduled and answer before the worker would idle, and on busy
 * cores a woken process can wait a scheduler slice (1.5 ms or more) for a
 * CPU. Topping up also keeps the workers' loads within one task of each
 * other at the end of a map. A task that can
 * be cancelled (a `signal` or `timeout`) goes only to an idle worker: it
 * starts at once, so cancelling it never kills another task.
 */
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { inspect } from 'node:util'
import {
  ClosedError,
  CorruptError,
  DataCloneError,
  Process,
  ProcessError,
  TimeoutError,
  ValueError,
  WorkerExitError,
} from '@ipc/core'
import {
  afterTimeout,
  checkOptionsObject,
  checkTimeout,
  checkWaitOptions,
  closeAtExit,
  EXIT_PRIMITIVES,
  extractTransfers,
  forgetAtExit,
  invalidArgType,
  invalidArgValue,
  moduleUrl,
  onAbort,
  outOfRange,
  signalName,
} from '@ipc/core/internal'
import { Full, Queue, ShutDown } from '@ipc/queue'
import {
  IMAP_OPTIONS,
  type ImapOptions,
  MAP_OPTIONS,
  type MapOptions,
  POOL_OPTIONS,
  type PoolOptions,
  RUN_OPTIONS,
  type RunOptions,
} from './options.js'
import {
  type ErrorFields,
  FAILED,
  isValues,
  MAP,
  NO_EXPORT,
  OK,
  PART,
  packNumbers,
  type Reply,
  type Request,
  type RequestKind,
  RING_BYTES,
  RUN,
  TOO_LARGE,
  type Transfers,
  UNCLONABLE,
  UNREADABLE,
  type Values,
} from './protocol.js'

/** Tasks a worker holds at least when it has any to hold (one running, one waiting). */
const MIN_DEPTH = 2
/** Tasks a worker holds at most. */
const MAX_DEPTH = 64
/** How much work (ms, by the measured time per task) a worker may hold. */
const QUEUED_WORK_MS = 3
/** Tasks at least this long (ms) top their worker up at every reply instead of refilling it in bursts. */
const TOP_UP_MS = 0.2

/** How long (ms) a worker sent its stop message may take to exit once idle before it is killed. */
const STOP_GRACE_MS = 5000
/** The first delay (ms) before replacing a worker that failed before it was ready; doubles per failure in a row. */
const RESPAWN_MS = 100
/** The longest such delay (ms). */
const RESPAWN_MAX_MS = 5000
/** Error codes of a start that failed for lack of resources, which may come back: its tasks can wait for a live worker. */
const OUT_OF_RESOURCES = new Set(['EAGAIN', 'EMFILE', 'ENFILE', 'ENOMEM'])
/** Workers whose request queue failed as a task was sent to them (see `#send`) before the task fails. */
const QUEUE_FAILURES = 2
/** Restarts after workers killed by a signal before they were ready (none ever was) before the waiting tasks fail. */
const SIGNALLED_STARTS = 3

/** What an imap's wait for its source's next step resolves with when a result can be yielded first. */
const RESULTS: unique symbol = Symbol('results')

/** Chunks an `imap` keeps submitted or finished-but-not-yet-consumed, per worker. */
const IMAP_AHEAD_PER_WORKER = 2

/** One task: a `run`, or a chunk of a `map`/`imap`. */
interface Task {
  readonly id: number
  readonly exportName: string
  readonly kind: RequestKind
  readonly payload: unknown[]
  readonly transfers: Transfers | undefined
  /** Inputs this task counts in `pool.pending` (1 for a run, the chunk's length). */
  readonly count: number
  /** Sent only to an idle worker (it has a signal or timeout). */
  readonly cancellable: boolean
  /** Called once, with the result or the error. */
  readonly settle: (error: Error | undefined, result: unknown) => void
  worker: Worker | undefined
  /** `performance.now()` when it was sent to its worker. */
  sentAt: number
  /** Times a worker's request queue failed as this task was sent to it (see `#send`). */
  queueFailures: number
  done: boolean
  /** The halves it was split into (it was too large to send); they settle it. */
  parts: Task[] | undefined
  /** Results of a chunk that came in PART replies before its final one. */
  partial: unknown[] | undefined
  /** Aborted or timed out while its reply may be on its way (see #cancel): a failure settles it with this reason. */
  cancelled: { reason: unknown } | undefined
}

/** One worker and the tasks it holds. */
interface Worker {
  readonly number: number
  readonly process: Process
  readonly requests: Queue<Request | null>
  /** Its replies (only it puts, only the parent gets). */
  readonly replies: Queue<Reply | null>
  /** A `get()` of its replies is pending. */
  pumping: boolean
  exited: boolean
  /** Tasks sent and not answered, oldest (running) first. */
  readonly held: Task[]
  /**
   * The id of the task whose PART replies it is sending (from the empty PART
   * that opens them to its final reply), else 0: a reply the parent cannot
   * revive meanwhile is one of them (see `#onUnrevived`).
   */
  partsOf: number
  given: number
  /** `performance.now()` of its last reply. */
  lastReplyAt: number
  /** Takes no more tasks; gets its stop message (`stopSent`) as soon as its request queue has room. */
  retiring: boolean
  stopSent: boolean
  /** Kills it if it has not exited `STOP_GRACE_MS` after its stop message and last reply. */
  stopTimer: NodeJS.Timeout | undefined
  /** Imported the module (its ready reply was read): a failure from now on is a crash, not a failed start. */
  ready: boolean
  /** Cancels its idle timer (`idleTimeout`), while one is armed. */
  cancelIdle: (() => void) | undefined
  /** Sent a reply that breaks the protocol: killed, and nothing more it sent is read. */
  broken: boolean
  /** The pool killed it (`#kill`): an exit before it was ready is then no failed start. */
  killed: boolean
  /** Failed starts in a row when it was started: workers started together and killed together count once. */
  round: number
}

type State = 'running' | 'closed' | 'terminated'

const MODES = ['process', 'thread'] as const

/** dist/worker.js of this package (also when this file runs from src/ under a test runner). */
function workerUrl(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  // dist/index.js and src/pool.ts both sit one level below the package root.
  return pathToFileURL(join(dirname(here), 'dist', 'worker.js')).href
}

/**
 * The largest `size`. All workers start with the pool, synchronously (a fork
 * takes about 8 ms, so 1,024 already block the constructor for seconds), each
 * a Node.js process of its own (tens of MB) with two 4 MiB queues, and in
 * process mode each holds a descriptor of this process, whose default soft
 * limit is 1,024 open files. Workers beyond the cores only share them: a
 * larger `size` is a mistake (a count of tasks passed for a count of workers).
 */
const MAX_SIZE = 1024

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  const problem =
    max === Number.MAX_SAFE_INTEGER
      ? `The "${name}" option must be a positive integer, received ${inspect(value)}`
      : `The "${name}" option must be an integer from 1 to ${max}, received ${inspect(value)}`
  if (typeof value !== 'number') throw invalidArgType(problem)
  if (!Number.isInteger(value) || value < 1 || value > max) throw outOfRange(problem)
  return value
}

function checkExportName(exportName: unknown): string {
  if (typeof exportName !== 'string' || exportName.length === 0)
    throw invalidArgType(`The "exportName" argument must be a non-empty string, received ${inspect(exportName)}`)
  return exportName
}

/** Python's `Pool.map` rule: ceil(length / (4 × size)), at least 1. */
export function autoChunksize(length: number, size: number): number {
  return Math.max(1, Math.ceil(length / (4 * size)))
}

/** The length of an input that knows it (an array, a typed array, a Set, a Map), else undefined. */
function knownLength(iterable: object): number | undefined {
  if (Array.isArray(iterable) || ArrayBuffer.isView(iterable)) return (iterable as { length: number }).length
  if (iterable instanceof Set || iterable instanceof Map) return iterable.size
  return undefined
}

/**
 * A pool of worker processes (or threads) that run the exports of one
 * module: Python's `multiprocessing.Pool`, without its hangs.
 *
 * Guarantees:
 * - Each task runs once, in one worker; `map` results come in input order,
 *   as do `imap`'s unless `ordered: false`.
 * - A task that throws or rejects fails with `ProcessError` (the worker's
 *   error name, message and stack); the worker goes on.
 * - A worker that dies while running a task (it exits, crashes, or is
 *   killed, even by SIGKILL) fails that task only, with `WorkerExitError`;
 *   the tasks queued behind it run in other workers, and a new worker takes
 *   its place.
 * - After `terminate()`, or `close()` and `join()`, no worker process or
 *   thread is left and the pool's shared memory is freed.
 * - A worker process exits when this process dies, even by SIGKILL (once
 *   the task it runs lets its event loop turn), and removes its queues.
 *
 * Workers import `module` under the main-guard rule of `Process`: guard the
 * code that creates pools (`if (!currentProcess().isChild)`).
 *
 * @throws {RangeError} when `size` (1 to 1,024), `maxTasksPerChild` or `idleTimeout` is out of range.
 * @throws {TypeError} when `module` or an option has the wrong type.
 * @throws {ProcessError} when created at the top level of a module a worker is importing (a missing main guard).
 * @example
 * ```ts
 * await using pool = new Pool(new URL('./tasks.mjs', import.meta.url), { size: 4 })
 * await pool.run('add', [1, 2]) // => 3
 * await pool.map('square', [1, 2, 3]) // => [1, 4, 9]
 * ```
 */
export class Pool {
  /** The module's URL (a path is resolved against the working directory). */
  readonly module: string
  /** Where the workers run. */
  readonly mode: 'process' | 'thread'
  readonly #size: number
  readonly #maxTasksPerChild: number | undefined
  readonly #idleTimeout: number | undefined
  readonly #env: NodeJS.ProcessEnv | undefined
  readonly #execArgv: readonly string[] | undefined
  readonly #workers = new Set<Worker>()
  /** Tasks waiting for a worker, in order; done ones are skipped. */
  #queue: Task[] = []
  #queueHead = 0
  /** Tasks held by workers, by id. */
  readonly #held = new Map<number, Task>()
  #nextId = 1
  #workerCount = 0
  #pending = 0
  #state: State = 'running'
  /** Moving average of the time a worker spends per task, in ms (sets the pipelining depth). */
  #taskMs = QUEUED_WORK_MS / 10
  #depth = 10
  #keepAlive: NodeJS.Timeout | undefined
  #joiners: (() => void)[] = []
  #freed = false
  /** Some worker has imported the module: a worker failing before it is ready is not the module's fault. */
  #everReady = false
  /** Workers in a row that failed before they were ready (sets the respawn delay). */
  #startFailures = 0
  /** Set while no worker may be started (the delay after a failed start). */
  #respawnTimer: NodeJS.Timeout | undefined
  /** What runs at a normal exit of this process if the pool was not closed: see the constructor. */
  readonly #atExit = {
    close: () => {
      for (const worker of this.#workers) {
        worker.process.kill('SIGKILL')
        unlinkQuietly(worker.requests)
        unlinkQuietly(worker.replies)
      }
    },
  }

  constructor(module: string | URL, options: PoolOptions = {}) {
    this.module = moduleUrl(module)
    checkOptionsObject(options, POOL_OPTIONS)
    const {
      size = Math.min(availableParallelism(), MAX_SIZE),
      mode = 'process',
      maxTasksPerChild,
      idleTimeout,
      env,
      execArgv,
    } = options
    this.#size = positiveInteger('size', size, MAX_SIZE)
    if (!MODES.includes(mode))
      throw invalidArgValue(`The "mode" option must be 'process' or 'thread', received ${inspect(mode)}`)
    this.mode = mode
    this.#maxTasksPerChild =
      maxTasksPerChild === undefined ? undefined : positiveInteger('maxTasksPerChild', maxTasksPerChild)
    // Checked as every timeout of the library is: NaN is a TypeError, as for `run`'s `timeout`.
    const idleMs = checkTimeout(idleTimeout, 'idleTimeout')
    this.#idleTimeout = idleMs === Number.POSITIVE_INFINITY ? undefined : idleMs
    if (env !== undefined && (typeof env !== 'object' || env === null))
      throw invalidArgType(`The "env" option must be an object, received ${env === null ? 'null' : typeof env}`)
    if (execArgv !== undefined && (!Array.isArray(execArgv) || !execArgv.every((a) => typeof a === 'string')))
      throw invalidArgType('The "execArgv" option must be an array of strings')
    this.#env = env
    this.#execArgv = execArgv
    // Registered before the queues, so at exit it runs before they close: the
    // workers (daemons) are killed and the queues' names removed, rather than
    // left for a later process's cleanup scan.
    closeAtExit(this.#atExit, EXIT_PRIMITIVES)
    try {
      for (let i = 0; i < this.#size; i++) this.#spawn()
    } catch (error) {
      this.#killAll()
      // Their queues' names are removed now, not in `#onExit`: `#free` drops the exit hook, and
      // their exit events may never come (this process can exit first: they are unref'd daemons).
      for (const worker of this.#workers) {
        unlinkQuietly(worker.requests)
        unlinkQuietly(worker.replies)
      }
      this.#free()
      throw error
    }
  }

  /** The most workers the pool runs at once (the `size` option). */
  get size(): number {
    return this.#size
  }

  /**
   * Inputs submitted and not yet settled, queued or running: a `run` counts
   * 1, a `map`/`imap` counts each input. Drives a progress bar.
   */
  get pending(): number {
    return this.#pending
  }

  /**
   * Runs `module[exportName](...args)` in a worker and resolves its result
   * (awaited when it returns a promise). @ipc primitives in `args` arrive
   * attached (at the top level or nested in arrays and plain objects), and are
   * closed in the worker when the task ends; everything else is copied with
   * structured-clone semantics, and so is the result.
   *
   * Aborting `signal` (or `timeout` passing) drops a queued task, or kills
   * and replaces the worker running it, and rejects with `signal.reason`
   * (with `TimeoutError`).
   *
   * @throws {ProcessError} (rejects) when the function throws or rejects in the worker.
   * @throws {WorkerExitError} (rejects) when the worker dies while running the task.
   * @throws {TypeError} (rejects) when the module has no such export, or it is not a function.
   * @throws {DataCloneError} (rejects) when an argument or the result cannot be cloned
   *   (a function, a symbol, …); the worker goes on.
   * @throws (rejects) what reading an argument throws: a getter, a Proxy trap, or a handle's
   *   transfer (a closed pipe `Connection`: `ClosedError`); nothing is sent.
   * @throws {ValueError} when the pool was closed or terminated.
   * @example
   * ```ts
   * const sum = await pool.run('add', [1, 2], { timeout: 1000 })
   * ```
   */
  run<R = unknown>(exportName: string, args: readonly unknown[] = [], options?: RunOptions): Promise<R> {
    checkExportName(exportName)
    if (!Array.isArray(args)) throw invalidArgType(`The "args" argument must be an array, received ${typeof args}`)
    const { timeout, signal } = checkWaitOptions(options, RUN_OPTIONS)
    this.#assertRunning('run')
    if (signal?.aborted) return Promise.reject(signal.reason)
    let prepared: ReturnType<typeof transfersOf>
    try {
      prepared = transfersOf(args)
    } catch (error) {
      // Reading an argument threw (a getter, a Proxy trap, a closed handle's transfer): the task
      // rejects, as for a value that cannot be cloned (it never throws at the call).
      return Promise.reject(error)
    }
    const { args: copied, transfers } = prepared
    return new Promise<R>((resolve, reject) => {
      let removeAbort = () => {}
      let cancelTimer = () => {}
      const task = this.#makeTask(
        exportName,
        RUN,
        copied,
        transfers,
        1,
        signal !== undefined || timeout !== Number.POSITIVE_INFINITY,
        (error, result) => {
          removeAbort()
          cancelTimer()
          if (error === undefined) resolve(result as R)
          else reject(error)
        },
      )
      removeAbort = onAbort(signal, () => this.#cancel(task, signal?.reason))
      cancelTimer = afterTimeout(timeout, () =>
        this.#cancel(
          task,
          new TimeoutError(`Task "${exportName}" did not finish within ${timeout} ms (its worker was stopped)`),
        ),
      )
      this.#submit(task)
    })
  }

  /**
   * Calls `module[exportName](item)` for each item of `iterable` in the
   * workers, `chunksize` items per message, and resolves the results in
   * input order (Python's `Pool.map`). The input is read into an array first;
   * use `imap` for long or endless inputs.
   *
   * If a call fails, the promise rejects with its error (`ProcessError`, or
   * `WorkerExitError` when a worker died running its chunk); chunks still
   * queued are dropped. Aborting `signal` rejects with `signal.reason`, drops
   * the queued chunks and kills the workers running chunks of this call.
   *
   * @throws {ProcessError} (rejects) when a call throws or rejects in a worker.
   * @throws {WorkerExitError} (rejects) when a worker dies while running a chunk.
   * @throws {DataCloneError} (rejects) when an item or a result cannot be cloned.
   * @throws {ValueError} when the pool was closed or terminated.
   * @example
   * ```ts
   * await pool.map('square', [1, 2, 3], { chunksize: 2 }) // => [1, 4, 9]
   * ```
   */
  map<R = unknown>(exportName: string, iterable: Iterable<unknown>, options: MapOptions = {}): Promise<R[]> {
    checkExportName(exportName)
    checkIterable(iterable, false)
    checkOptionsObject(options, MAP_OPTIONS)
    const signal = checkSignal(options.signal)
    this.#assertRunning('map')
    if (signal?.aborted) return Promise.reject(signal.reason)
    // An array is only read (sliced into chunks), never changed: no copy.
    const items: readonly unknown[] = Array.isArray(iterable) ? iterable : Array.from(iterable)
    const chunksize =
      options.chunksize === undefined
        ? autoChunksize(items.length, this.#size)
        : positiveInteger('chunksize', options.chunksize)
    const results = new Array<R>(items.length)
    if (items.length === 0) return Promise.resolve(results)
    return new Promise<R[]>((resolve, reject) => {
      const tasks: Task[] = []
      let left = 0
      let failed = false
      const fail = (error: unknown, kill: boolean) => {
        if (failed) return
        failed = true
        removeAbort()
        for (const task of tasks) if (!task.done) this.#drop(task, kill)
        reject(error)
      }
      for (let start = 0; start < items.length; start += chunksize) {
        const chunk = items.slice(start, start + chunksize)
        const { args, transfers } = transfersOf(chunk)
        left++
        tasks.push(
          this.#makeTask(exportName, MAP, args, transfers, chunk.length, signal !== undefined, (error, result) => {
            if (failed) return
            if (error !== undefined) return fail(error, false)
            const values = result as R[]
            for (let i = 0; i < values.length; i++) results[start + i] = values[i] as R
            if (--left === 0) {
              removeAbort()
              resolve(results)
            }
          }),
        )
      }
      const removeAbort = onAbort(signal, () => fail(signal?.reason, true))
      for (const task of tasks) this.#enqueue(task)
      this.#dispatch()
    })
  }

  /**
   * Calls `module[exportName](item)` for each item of `iterable` in the
   * workers and yields the results as they are ready: in input order, or
   * in completion order with `ordered: false` (Python's `imap` and
   * `imap_unordered`). Works with endless inputs, sync or async: the input is
   * read only as workers free up, so at most `2 × size` chunks are read
   * ahead of what the loop has consumed.
   *
   * A failed call makes the iteration throw its error there (`ProcessError`
   * or `WorkerExitError`). Leaving the loop early drops the chunks still
   * queued (the running ones finish). Aborting `signal` makes the iteration
   * throw `signal.reason` and kills the workers running chunks of this call.
   *
   * @throws {ProcessError} when a call throws or rejects in a worker.
   * @throws {WorkerExitError} when a worker dies while running a chunk.
   * @throws {DataCloneError} when an item or a result cannot be cloned.
   * @throws {ValueError} when the pool was closed or terminated.
   * @example
   * ```ts
   * for await (const square of pool.imap('square', naturals(), { ordered: false })) {
   *   if (square > 100) break
   * }
   * ```
   */
  imap<R = unknown>(
    exportName: string,
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    options: ImapOptions = {},
  ): AsyncIterableIterator<R> {
    checkExportName(exportName)
    checkIterable(iterable, true)
    checkOptionsObject(options, IMAP_OPTIONS)
    const signal = checkSignal(options.signal)
    const ordered = options.ordered ?? true
    if (typeof ordered !== 'boolean')
      throw invalidArgType(`The "ordered" option must be a boolean, received ${typeof ordered}`)
    const length = knownLength(iterable)
    const chunksize =
      options.chunksize === undefined
        ? length === undefined
          ? 1
          : autoChunksize(length, this.#size)
        : positiveInteger('chunksize', options.chunksize)
    this.#assertRunning('imap')
    return this.#imap<R>(exportName, iterable, ordered, chunksize, signal)
  }

  async *#imap<R>(
    exportName: string,
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    ordered: boolean,
    chunksize: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<R, void, undefined> {
    const source =
      Symbol.asyncIterator in iterable
        ? (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (iterable as Iterable<unknown>)[Symbol.iterator]()
    const limit = IMAP_AHEAD_PER_WORKER * this.#size
    const tasks = new Set<Task>()
    // Finished chunks not yet yielded: by chunk index (ordered), or in completion order.
    const finished = new Map<number, { error: Error | undefined; values: R[] }>()
    const arrived: { error: Error | undefined; values: R[] }[] = []
    let submitted = 0
    let nextToYield = 0
    let outstanding = 0
    let exhausted = false
    let aborted = false
    let wake: (() => void) | undefined
    // The chunk being filled, and a `next()` of an async source not settled yet: kept while the
    // results that arrived meanwhile are yielded (a slow source holds none back).
    let chunk: unknown[] = []
    let pendingStep: Promise<IteratorResult<unknown>> | undefined
    // False while the source's last `next()` has not settled (see `finally`).
    let stepSettled = true
    // Ends the wait for a pending step with the abort's reason (a source that never yields again).
    let interruptStep: ((reason: unknown) => void) | undefined
    const removeAbort = onAbort(signal, () => {
      aborted = true
      for (const task of tasks) this.#drop(task, true)
      wake?.()
      interruptStep?.(signal?.reason)
    })
    const yieldable = (): boolean => (ordered ? finished.has(nextToYield) : arrived.length > 0)
    /** The step, or RESULTS once a result can be yielded first (the step stays pending). */
    const untilStep = (step: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown> | typeof RESULTS> =>
      new Promise<IteratorResult<unknown> | typeof RESULTS>((resolve, reject) => {
        interruptStep = reject
        wake = () => {
          if (yieldable()) resolve(RESULTS)
        }
        step.then(resolve, reject)
      }).finally(() => {
        interruptStep = undefined
        wake = undefined
      })
    try {
      if (signal?.aborted) throw signal.reason
      for (;;) {
        fill: while (!exhausted && outstanding < limit) {
          this.#assertRunning('imap')
          while (chunk.length < chunksize) {
            let step: IteratorResult<unknown> | Promise<IteratorResult<unknown>> | undefined = pendingStep
            pendingStep = undefined
            if (step === undefined) {
              step = source.next()
              if (step instanceof Promise) {
                stepSettled = false
                const settle = () => {
                  stepSettled = true
                }
                step.then(settle, settle)
              }
            }
            if (step instanceof Promise) {
              const settled = yieldable() ? RESULTS : await untilStep(step)
              if (settled === RESULTS) {
                pendingStep = step
                break fill
              }
              step = settled
            }
            if ((step as IteratorResult<unknown>).done) {
              exhausted = true
              break
            }
            chunk.push((step as IteratorResult<unknown>).value)
          }
          if (aborted) throw signal?.reason
          if (chunk.length === 0) break
          const index = submitted++
          outstanding++
          const { args, transfers } = transfersOf(chunk)
          const size = chunk.length
          chunk = []
          const task = this.#makeTask(exportName, MAP, args, transfers, size, signal !== undefined, (error, result) => {
            tasks.delete(task)
            const entry = { error, values: result as R[] }
            if (ordered) finished.set(index, entry)
            else arrived.push(entry)
            wake?.()
          })
          tasks.add(task)
          this.#submit(task)
        }
        for (;;) {
          if (aborted) throw signal?.reason
          let entry: { error: Error | undefined; values: R[] } | undefined
          if (ordered) {
            entry = finished.get(nextToYield)
            if (entry !== undefined) {
              finished.delete(nextToYield)
              nextToYield++
            }
          } else entry = arrived.shift()
          if (entry === undefined) break
          outstanding--
          if (entry.error !== undefined) throw entry.error
          for (const value of entry.values) {
            // Aborted while the caller handled the previous value: the rest of the chunk is not yielded.
            if (aborted) throw signal?.reason
            yield value
          }
        }
        if (aborted) throw signal?.reason
        if (exhausted && outstanding === 0) return
        // Back to the source's pending step, or to filling a chunk there is room for.
        if (pendingStep !== undefined || (outstanding < limit && !exhausted)) continue
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        wake = undefined
      }
    } finally {
      removeAbort()
      for (const task of tasks) this.#drop(task, false)
      if (!exhausted) {
        const closing = source.return?.()
        // A step still pending (an abort ended the wait for it, or the iteration ended while
        // results were yielded): an async generator runs its return after that step, whenever
        // that comes, so the iteration does not wait for it.
        if (closing instanceof Promise) {
          if (stepSettled) await closing.catch(() => {})
          else closing.catch(() => {})
        }
      }
    }
  }

  /**
   * Stops taking tasks (Python's `close()`): `run`, `map` and `imap` throw
   * `ValueError` from now on. Tasks already submitted finish, then the
   * workers exit, even if the module keeps their event loop alive (one still
   * alive 5 s after its stop message is killed). Idempotent. Call `join()` to wait for that. An `imap` still
   * being read submits nothing more: it throws `ValueError` when it would
   * next read its input.
   *
   * @example
   * ```ts
   * pool.close()
   * await pool.join()
   * ```
   */
  close(): void {
    if (this.#state !== 'running') return
    this.#state = 'closed'
    this.#maybeFinish()
  }

  /**
   * Stops every worker now (SIGKILL; a thread is terminated) and rejects the
   * tasks not yet settled with `ClosedError`. Resolves when the workers are
   * gone and the pool's shared memory is freed. Idempotent.
   *
   * @example
   * ```ts
   * await pool.terminate()
   * ```
   */
  async terminate(): Promise<void> {
    if (this.#state !== 'terminated') {
      this.#state = 'terminated'
      const error = new ClosedError('The pool was terminated before the task finished')
      for (const task of [...this.#held.values(), ...this.#queue.slice(this.#queueHead)]) this.#finish(task, error)
      this.#queue = []
      this.#queueHead = 0
      if (this.#respawnTimer !== undefined) clearTimeout(this.#respawnTimer)
      this.#respawnTimer = undefined
      this.#killAll()
      // No worker left (all gone in the delay after a failed start): no exit will wake the joiners.
      if (this.#workers.size === 0) this.#maybeFinish()
    }
    await this.join()
  }

  /**
   * Waits until every worker has exited after `close()` or `terminate()`
   * (Python's `join()`), then frees the pool's shared memory.
   *
   * @throws {ValueError} (rejects) when the pool is still running (call `close()` first).
   * @example
   * ```ts
   * pool.close()
   * await pool.join()
   * ```
   */
  async join(): Promise<void> {
    if (this.#state === 'running') throw new ValueError('Cannot join a running pool: call close() or terminate() first')
    // Tasks still queued with no worker (a respawn delay after a failed start) are waited for too,
    // as #maybeFinish does: a worker started after that delay runs them.
    if (this.#workers.size > 0 || this.#queueHead < this.#queue.length) {
      this.#refKeepAlive(true)
      await new Promise<void>((resolve) => this.#joiners.push(resolve))
    }
    this.#free()
  }

  /** `close()` then `join()`: `await using pool = new Pool(…)` lets queued tasks finish (ProcessPoolExecutor's `with`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close()
    await this.join()
  }

  [inspect.custom](): string {
    const fields = {
      module: this.module,
      mode: this.mode,
      size: this.#size,
      workers: this.#workers.size,
      pending: this.#pending,
      state: this.#state,
    }
    return `Pool ${inspect(fields, { breakLength: Number.POSITIVE_INFINITY })}`
  }

  #assertRunning(what: string): void {
    if (this.#state !== 'running') throw new ValueError(`Cannot ${what}: the pool is ${this.#state} (Pool not running)`)
  }

  #makeTask(
    exportName: string,
    kind: RequestKind,
    payload: unknown[],
    transfers: Transfers,
    count: number,
    cancellable: boolean,
    settle: Task['settle'],
  ): Task {
    return {
      id: this.#nextId++,
      exportName,
      kind,
      payload,
      transfers: transfers.length === 0 ? undefined : transfers,
      count,
      cancellable,
      settle,
      worker: undefined,
      sentAt: 0,
      queueFailures: 0,
      done: false,
      parts: undefined,
      partial: undefined,
      cancelled: undefined,
    }
  }

  #submit(task: Task): void {
    this.#enqueue(task)
    this.#dispatch()
  }

  #enqueue(task: Task): void {
    this.#queue.push(task)
    this.#pending += task.count
    this.#refKeepAlive(true)
  }

  /** Settles `task` once and takes it out of the count; it stays where it is (queue or worker) until passed over. */
  #finish(task: Task, error: Error | undefined, result?: unknown): void {
    if (task.done) return
    task.done = true
    // Whatever ends a cancelled task otherwise (terminate, its worker's exit) rejects it with the cancel's reason.
    if (error !== undefined && task.cancelled !== undefined) error = task.cancelled.reason as Error
    this.#pending -= task.count
    if (this.#pending === 0) this.#refKeepAlive(false)
    task.settle(error, result)
  }

  /** Aborted or timed out: a queued task is dropped, a running one's worker killed. */
  #cancel(task: Task, reason: unknown): void {
    if (task.done || this.#settledByReply(task)) return
    // The pump's get() may hold this task's reply already, taken by its spin
    // inside the call that sent the task (run() itself) and handed over by
    // continuations queued then: look again once they ran (all microtasks run
    // before setImmediate). A reply taken by a wake-up is handed over in the
    // same turn, before any user code can abort.
    if (task.worker?.pumping === true) {
      task.cancelled = { reason }
      setImmediate(() => this.#cancelNow(task, reason))
    } else this.#cancelNow(task, reason)
  }

  #cancelNow(task: Task, reason: unknown): void {
    if (task.done || this.#settledByReply(task)) return
    this.#finish(task, reason as Error)
    if (task.worker !== undefined) this.#kill(task.worker)
  }

  /** A task no longer wanted (its map failed, or its imap ended): dropped if queued; killed if running and `kill`. */
  #drop(task: Task, kill: boolean): void {
    if (task.parts !== undefined) {
      for (const part of task.parts) this.#drop(part, kill)
      return
    }
    if (task.done) return
    if (task.worker !== undefined && (!kill || this.#settledByReply(task))) return
    this.#finish(task, new ClosedError('The task was dropped'))
    if (task.worker !== undefined) this.#kill(task.worker)
  }

  /** Reads the replies waiting from `task`'s worker: true if that settled `task` (then its worker is not killed). */
  #settledByReply(task: Task): boolean {
    if (task.worker === undefined || task.worker.exited) return false
    this.#drainReplies(task.worker)
    return task.done
  }

  #refKeepAlive(on: boolean): void {
    // Workers are daemons (unreferenced): this interval keeps the process
    // alive while tasks are pending or a join waits, and only then.
    if (on && this.#keepAlive === undefined) this.#keepAlive = setInterval(() => {}, 1 << 30)
    else if (!on && this.#keepAlive !== undefined && this.#joiners.length === 0) {
      clearInterval(this.#keepAlive)
      this.#keepAlive = undefined
    }
  }

  #spawn(): Worker {
    const number = ++this.#workerCount
    const requests = new Queue<Request | null>({ capacity: RING_BYTES })
    let replies: Queue<Reply | null>
    try {
      replies = new Queue<Reply | null>({ capacity: RING_BYTES })
    } catch (error) {
      // Out of file descriptors or memory: the first queue goes too.
      removeQueues(requests)
      throw error
    }
    let process: Process
    try {
      process = new Process(workerUrl(), {
        exportName: 'poolWorker',
        args: [this.module, number, requests, replies],
        mode: this.mode,
        name: `PoolWorker-${number}`,
        daemon: true,
        ...(this.#env === undefined ? {} : { env: this.#env }),
        ...(this.#execArgv === undefined ? {} : { execArgv: this.#execArgv }),
      }).start()
    } catch (error) {
      removeQueues(requests, replies)
      throw error
    }
    const worker: Worker = {
      number,
      process,
      requests,
      replies,
      pumping: false,
      exited: false,
      held: [],
      partsOf: 0,
      given: 0,
      lastReplyAt: 0,
      retiring: false,
      stopSent: false,
      stopTimer: undefined,
      ready: false,
      broken: false,
      killed: false,
      round: this.#startFailures,
      cancelIdle: undefined,
    }
    this.#workers.add(worker)
    process.join().then(
      (code) => this.#onExit(worker, code, undefined),
      (error: unknown) => this.#onExit(worker, (error as ProcessError).exitCode ?? null, error as Error),
    )
    this.#startIdleTimer(worker)
    return worker
  }

  /** Sends queued tasks to workers: idle ones first, then new ones (up to `size`), then behind a running task. */
  #dispatch(): void {
    while (this.#queueHead < this.#queue.length) {
      const task = this.#queue[this.#queueHead] as Task
      if (task.done) {
        this.#queueHead++
        continue
      }
      let worker = this.#pick(task)
      if (worker === undefined) {
        if (this.#liveWorkers() >= this.#size || this.#state === 'terminated' || this.#respawnTimer !== undefined) break
        try {
          worker = this.#spawn()
        } catch (error) {
          // Out of descriptors or memory for a new worker's queues or process: while a ready worker
          // lives, the task waits for it, and the next start waits a little (back-off); else it fails.
          if (this.#canWait(error)) {
            this.#respawnLater()
            break
          }
          this.#queueHead++
          this.#finish(task, error as Error)
          continue
        }
      }
      if (!this.#send(worker, task)) break
      this.#queueHead++
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = []
      this.#queueHead = 0
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead)
      this.#queueHead = 0
    }
    this.#maybeFinish()
  }

  /**
   * Workers that count toward `size`: those not retiring, and a retiring one
   * while it still runs tasks (maxTasksPerChild retires a worker as its last
   * task is sent; its successor starts once it is done, not beside it).
   */
  #liveWorkers(): number {
    let live = 0
    for (const worker of this.#workers)
      if (!worker.retiring || (!worker.exited && !worker.broken && worker.held.length > 0)) live++
    return live
  }

  #pick(task: Task): Worker | undefined {
    let best: Worker | undefined
    for (const worker of this.#workers) {
      if (worker.retiring) continue
      const load = worker.held.length
      if (load === 0) return worker
      if (task.cancellable || load >= this.#depth || (worker.held[0] as Task).cancellable) continue
      if (best === undefined || load < best.held.length) best = worker
    }
    // Prefer starting a new worker (below `size`) to queueing behind a running task.
    if (best !== undefined && this.#liveWorkers() < this.#size) return undefined
    return best
  }

  /** Puts `task` in `worker`'s request queue; false when the queue is full now (the task stays queued). */
  #send(worker: Worker, task: Task): boolean {
    const request: Request =
      task.transfers === undefined
        ? [task.id, task.exportName, task.kind, task.kind === MAP ? packNumbers(task.payload) : task.payload]
        : [task.id, task.exportName, task.kind, task.payload, task.transfers]
    try {
      worker.requests.putNowait(request)
    } catch (error) {
      const full = error instanceof Full
      if (full && worker.held.length > 0) return false
      if (full || error instanceof ShutDown || error instanceof ClosedError || error instanceof CorruptError) {
        // The request queue itself failed (closed under us, scribbled on, shut down by another
        // process: the pool never shuts one down; or full with nothing sent): this worker is
        // given no more work. It is killed now if it runs nothing, else once
        // it has answered every task it holds (`#sendStop` cannot put its stop message either). The task
        // stays queued for the next worker, unless a second worker failed it too: a fault every
        // new worker meets then fails the task rather than start and kill workers without end.
        // A put that throws put nothing (a corrupt word its wake-up meets after the commit faults
        // the queue for its next call instead), so the task cannot run twice.
        this.#takeOutOfService(worker)
        if (worker.held.length === 0) this.#kill(worker)
        if (++task.queueFailures < QUEUE_FAILURES) return false
        this.#finish(
          task,
          new CorruptError(
            `Task "${task.exportName}" could not be sent: the request queues of ${QUEUE_FAILURES} workers in a row failed`,
            { cause: error },
          ),
        )
        return true
      }
      if (error instanceof RangeError && task.kind === MAP && task.payload.length > 1) this.#split(task)
      else if (error instanceof RangeError) this.#finish(task, tooLarge(task, 'arguments', error))
      // Cannot be cloned: this task fails, nothing was sent.
      else this.#finish(task, error as Error)
      return true
    }
    task.worker = worker
    task.sentAt = performance.now()
    worker.held.push(task)
    this.#held.set(task.id, task)
    worker.given++
    worker.cancelIdle?.()
    worker.cancelIdle = undefined
    if (this.#maxTasksPerChild !== undefined && worker.given >= this.#maxTasksPerChild) this.#retire(worker)
    if (!worker.pumping) void this.#pump(worker)
    return true
  }

  /**
   * Replaces a chunk too large for a request by its two halves, queued right
   * after it (the dispatch loop passes over `task`); they settle it together.
   */
  #split(task: Task): void {
    const length = task.payload.length
    const values = new Array<unknown>(length)
    let left = 2
    const half = (start: number, end: number): Task =>
      this.#makeTask(
        task.exportName,
        MAP,
        task.payload.slice(start, end),
        sliceTransfers(task.transfers, start, end),
        0, // `task` counts the inputs in `pending`.
        task.cancellable,
        (error, result) => {
          if (task.done) return
          if (error !== undefined) {
            this.#finish(task, error)
            for (const part of parts) this.#drop(part, false)
            return
          }
          const results = result as unknown[]
          for (let i = 0; i < results.length; i++) values[start + i] = results[i]
          if (--left === 0) this.#finish(task, undefined, values)
        },
      )
    const parts = [half(0, length >>> 1), half(length >>> 1, length)]
    task.parts = parts
    this.#queue.splice(this.#queueHead + 1, 0, ...parts)
  }

  /** Tells `worker` to exit after the tasks it holds. Never blocks, never kills a healthy worker. */
  #retire(worker: Worker): void {
    if (worker.retiring) return
    this.#takeOutOfService(worker)
    this.#sendStop(worker)
  }

  /** Puts the stop message if there is room now; else `#onReply` tries again (each reply frees a request's room). */
  #sendStop(worker: Worker): void {
    if (worker.stopSent || worker.exited) return
    try {
      worker.requests.putNowait(null)
    } catch (error) {
      // Full: later. Anything else (closed, corrupt): the worker cannot be told, so it is killed,
      // but only once it holds no task (never a healthy worker's running or queued task): each
      // reply calls this again, and the one for its last task finds `held` empty. A worker that
      // dies first is handled by `#onExit` as any crash.
      if (!(error instanceof Full) && worker.held.length === 0) this.#kill(worker)
      return
    }
    worker.stopSent = true
    this.#armStopTimer(worker)
  }

  /** Backstop for a module that keeps its worker alive after the stop message. */
  #armStopTimer(worker: Worker): void {
    if (!worker.stopSent || worker.exited || worker.held.length > 0 || worker.stopTimer !== undefined) return
    worker.stopTimer = setTimeout(() => this.#kill(worker), STOP_GRACE_MS)
    worker.stopTimer.unref()
  }

  #startIdleTimer(worker: Worker): void {
    if (this.#idleTimeout === undefined || worker.retiring) return
    worker.cancelIdle = afterTimeout(
      this.#idleTimeout,
      () => {
        worker.cancelIdle = undefined
        if (worker.held.length === 0) this.#retire(worker)
      },
      true,
    )
  }

  /** Reads `worker`'s replies while it holds tasks; one pending `get()` at a time. */
  async #pump(worker: Worker): Promise<void> {
    worker.pumping = true
    try {
      while (worker.held.length > 0 && !worker.exited) {
        let reply: Reply | null
        try {
          reply = await worker.replies.get()
        } catch (error) {
          if (!(error instanceof DataCloneError)) throw error
          this.#onUnrevived(worker, error)
          continue
        }
        if (reply !== null) this.#onReply(worker, reply)
      }
    } catch (error) {
      // Closed because the worker exited (its tasks are handled there), or
      // corrupt: then nothing more can be answered by this worker.
      if (!worker.exited) {
        this.#takeOutOfService(worker)
        // The pool never shuts a reply queue down: one that says so was scribbled on, as a corrupt one.
        const fault =
          error instanceof ShutDown
            ? new CorruptError(
                `The reply queue of pool worker "${worker.process.name}" was shut down by another process`,
                { cause: error },
              )
            : (error as Error)
        for (const task of worker.held) this.#finish(task, fault)
        this.#kill(worker)
      }
    } finally {
      worker.pumping = false
    }
  }

  /**
   * A reply from `worker` that the parent cannot revive (nested too deep for
   * its stack; the queue dropped it and threw `error`) fails its task: the
   * one whose PART replies are coming (a task failed by an earlier part is no
   * longer held, and this is ignored), else the oldest the worker holds (see
   * protocol.ts, Order). None when it holds none (then it was no task's).
   */
  #onUnrevived(worker: Worker, error: DataCloneError): void {
    const id = worker.partsOf !== 0 ? worker.partsOf : worker.held[0]?.id
    if (id === undefined) return
    const fields = {
      name: error.name,
      message: `its result cannot be revived by the pool (${error.message})`,
      stack: undefined,
      code: undefined,
    }
    this.#onReply(worker, [id, UNCLONABLE, fields], false)
  }

  #onReply(worker: Worker, reply: Reply, revived = true): void {
    if (worker.broken) return
    if (!Array.isArray(reply) || reply.length !== 3 || typeof reply[0] !== 'number') {
      const named = Array.isArray(reply) ? this.#held.get(reply[0] as number) : undefined
      this.#brokeProtocol(
        worker,
        `a reply that is not [id, status, value]: ${inspect(reply, { depth: 1 })}`,
        named?.worker === worker ? named : undefined,
      )
      return
    }
    const [id, status, value] = reply
    // Revived replies only (not those of #onUnrevived): where a PART series starts and ends.
    if (revived && status === PART) worker.partsOf = id
    else if (revived && id === worker.partsOf) worker.partsOf = 0
    if (id < 0) {
      worker.ready = true
      this.#everReady = true
      this.#startFailures = 0
      return
    }
    // UNREADABLE names no id: it is the oldest task the worker holds (see protocol.ts, Order).
    const task = id === 0 && status === UNREADABLE ? worker.held[0] : this.#held.get(id)
    // A reply to a task it no longer holds (dropped when cancelled) is ignored.
    if (task === undefined || task.worker !== worker) return
    const problem = replyProblem(task, status, value)
    if (problem !== undefined) {
      this.#brokeProtocol(worker, problem, task)
      return
    }
    if (status === PART) {
      task.partial ??= []
      for (const result of value as Values) task.partial.push(result)
      return
    }
    this.#held.delete(task.id)
    if (worker.held[0] === task) worker.held.shift()
    else worker.held.splice(worker.held.indexOf(task), 1)
    // The worker began this task when it was sent or when the previous reply came, whichever is later.
    const now = performance.now()
    this.#taskMs += (now - Math.max(task.sentAt, worker.lastReplyAt) - this.#taskMs) / 8
    worker.lastReplyAt = now
    this.#depth = Math.max(MIN_DEPTH, Math.min(MAX_DEPTH, Math.floor(QUEUED_WORK_MS / this.#taskMs)))
    // Its own reply settles it, whatever it says, also after a cancel that looked too early.
    task.cancelled = undefined
    if (status === OK && task.partial !== undefined) for (const result of value as Values) task.partial.push(result)
    if (status === OK) this.#finish(task, undefined, task.partial === undefined ? value : task.partial)
    else if (status === TOO_LARGE) this.#finish(task, tooLarge(task, 'result', undefined))
    else if (status === UNCLONABLE)
      this.#finish(
        task,
        new DataCloneError(`Task "${task.exportName}" cannot reply: ${(value as ErrorFields).message}`),
      )
    else if (status === UNREADABLE)
      this.#finish(
        task,
        new DataCloneError(
          `Task "${task.exportName}" cannot start: the worker cannot revive its arguments (${(value as ErrorFields).message})`,
        ),
      )
    else if (status === NO_EXPORT)
      this.#finish(
        task,
        invalidArgValue(
          `Cannot run "${task.exportName}": ${this.module} has no export "${task.exportName}" that is a function (found ${String(value)})`,
        ),
      )
    else if (status === FAILED) this.#finish(task, taskError(task.exportName, value as ErrorFields))
    if (worker.retiring) {
      this.#sendStop(worker)
      this.#armStopTimer(worker)
    } else if (worker.held.length === 0) this.#startIdleTimer(worker)
    // Tiny tasks refill in bursts: only once the worker is down to half its
    // depth. The first request of a burst may wake it (a futex wake); the rest
    // find it awake and cost no system call, and its replies come back in
    // bursts too. Longer tasks top up at once (see the module comment).
    const refillAt = this.#taskMs >= TOP_UP_MS ? this.#depth - 1 : this.#depth >> 1
    if (worker.held.length <= refillAt || this.#queueHead >= this.#queue.length) this.#dispatch()
  }

  /**
   * A reply that breaks the protocol (a bug or corruption in the worker):
   * the task it answered (`task`, when the reply named one) fails with
   * ProcessError, and the worker takes no more work (`retiring`, so a new
   * one can start), is killed, and nothing more it sent is read. Its other
   * tasks are then handled as after any crash (`#onExit`): the one it had
   * taken fails with WorkerExitError, the ones it never took run elsewhere.
   */
  #brokeProtocol(worker: Worker, problem: string, task?: Task): void {
    worker.broken = true
    this.#takeOutOfService(worker)
    if (task !== undefined) {
      // Out of `held` first: `#onExit` must not take it for the task the worker was running.
      this.#held.delete(task.id)
      worker.held.splice(worker.held.indexOf(task), 1)
      this.#finish(
        task,
        new ProcessError(`Pool worker "${worker.process.name}" sent a malformed reply (${problem}); it was killed`),
      )
    }
    this.#kill(worker)
  }

  /** No task is sent to `worker` from now on, and it counts no more toward `size` once it has none. */
  #takeOutOfService(worker: Worker): void {
    worker.retiring = true
    worker.cancelIdle?.()
    worker.cancelIdle = undefined
  }

  /** Kills `worker` (SIGKILL), marked as the pool's doing. */
  #kill(worker: Worker): void {
    worker.killed = true
    worker.process.kill('SIGKILL')
  }

  #onExit(worker: Worker, code: number | null, loopFailure: Error | undefined): void {
    // Out of service first: dispatching from the replies read below must not pick it.
    worker.exited = true
    this.#takeOutOfService(worker)
    if (worker.stopTimer !== undefined) clearTimeout(worker.stopTimer)
    // Replies the worker put before it died are results, not losses: read them first.
    this.#drainReplies(worker)
    const notStarted = this.#takeRequests(worker)
    this.#workers.delete(worker)
    const held = worker.held.splice(0)
    for (const task of held) {
      this.#held.delete(task.id)
      task.worker = undefined
    }
    // Closing the reply queue also ends the pump's pending get() (ClosedError, ignored there).
    removeQueues(worker.requests, worker.replies)
    // Gone before it was ready, and not by the pool's hand: a failed start. An exit (a code) is one
    // as the worker loop's own error is (a process.exit at the module's top level, a Node that
    // could not start: a bad execArgv or loader), so its tasks fail instead of a restart without end.
    // (A stop message cannot be why: a worker reads its requests only after its ready reply,
    // which the drain above has read, and maxTasksPerChild sends one to a worker still starting.)
    const unasked = !worker.ready && !worker.killed && this.#state !== 'terminated'
    // The first of its start round to go so: workers started together and killed together (one OOM
    // event) are one failed start, not several.
    const unaskedFirstOfRound = unasked && worker.round === this.#startFailures
    // How it ended: a negative code is a signal's number.
    const signal = code !== null && code < 0 ? signalName(-code) : null
    const how = signal === null ? `exited with code ${code}` : `was killed by ${signal}`
    const failure =
      loopFailure === undefined && unasked && code !== null && code >= 0
        ? new Error(`it exited with code ${code} before it was ready`)
        : loopFailure
    if (failure !== undefined && !worker.ready && this.#state !== 'terminated') {
      // The worker loop itself failed before the module was imported.
      const error = new ProcessError(`Pool worker "${worker.process.name}" could not start: ${failure.message}`, {
        exitCode: code,
        ...((failure as ProcessError).childName === undefined
          ? {}
          : { childName: (failure as ProcessError).childName as string }),
        ...((failure as ProcessError).childStack === undefined
          ? {}
          : { childStack: (failure as ProcessError).childStack as string }),
        cause: failure,
      })
      if (!this.#everReady) {
        // No worker could ever import it (or it starts processes at its top
        // level): every waiting task would meet the same fate.
        for (const task of [...held, ...this.#queue.slice(this.#queueHead)]) this.#finish(task, error)
        this.#queue = []
        this.#queueHead = 0
      } else if (this.#canWait(failure)) {
        // Its process never ran (fork failed for lack of descriptors, processes or memory): none of
        // its tasks started. They go back to the front of the queue for the live workers.
        this.#requeue(held)
        this.#respawnLater()
      } else {
        // Others could: this start failed alone. Its tasks fail; the next start waits a little.
        for (const task of held) this.#finish(task, error)
        this.#respawnLater()
      }
    } else if (unaskedFirstOfRound && !this.#everReady && this.#startFailures >= SIGNALLED_STARTS) {
      // Killed by a signal from outside before it was ready, start after start, and no worker ever
      // was (a machine that kills every new process): every waiting task would meet the same fate.
      const error = new ProcessError(
        `Pool worker "${worker.process.name}" could not start: the workers of ${this.#startFailures + 1} starts in a row ended before they were ready (the last one ${how})`,
        { exitCode: code },
      )
      for (const task of [...held, ...this.#queue.slice(this.#queueHead)]) this.#finish(task, error)
      this.#queue = []
      this.#queueHead = 0
    } else {
      // Held, not answered, and no longer in its request queue: those it took (one, unless it broke
      // the protocol: then its later replies went unread). Each fails (WorkerExitError, as after
      // any crash: an answer read after a broken one is not trusted); none runs again.
      for (const task of held) {
        if (notStarted.has(task.id) || task.done) continue
        this.#finish(
          task,
          new WorkerExitError(
            `Pool worker "${worker.process.name}" (pid ${worker.process.pid}) ${how} while running task "${task.exportName}"`,
            { exitCode: signal === null ? code : null, signal, ...(failure === undefined ? {} : { cause: failure }) },
          ),
        )
      }
      // The rest never started: back to the front of the queue, in order.
      this.#requeue(held.filter((task) => notStarted.has(task.id)))
      // Killed from outside before it was ready: the next start waits a little (back-off).
      if (unaskedFirstOfRound) this.#respawnLater()
    }
    if (this.#state !== 'terminated') this.#dispatch()
    this.#maybeFinish()
  }

  /** Puts `tasks` (never started) back at the front of the queue, in order; settled ones are dropped. */
  #requeue(tasks: Task[]): void {
    const waiting = tasks.filter((task) => !task.done)
    if (waiting.length === 0) return
    this.#queue = [...waiting, ...this.#queue.slice(this.#queueHead)]
    this.#queueHead = 0
  }

  /**
   * Whether a failed start (`error`: thrown by `#spawn`, or the failure its
   * process reported) leaves its tasks to other workers: it was for lack of
   * resources (descriptors, processes, memory: they may come back), and a
   * worker that was ready still runs. Else its tasks fail.
   */
  #canWait(error: unknown): boolean {
    if (!this.#everReady || this.#state === 'terminated') return false
    if (![...this.#workers].some((worker) => worker.ready && !worker.exited && !worker.retiring)) return false
    for (let cause = error; cause instanceof Error; cause = cause.cause)
      if (OUT_OF_RESOURCES.has((cause as { code?: unknown }).code as string)) return true
    return false
  }

  /** No worker starts for a while (doubling from RESPAWN_MS to RESPAWN_MAX_MS per failed start in a row). */
  #respawnLater(): void {
    if (this.#respawnTimer !== undefined) clearTimeout(this.#respawnTimer)
    const delay = Math.min(RESPAWN_MAX_MS, RESPAWN_MS * 2 ** this.#startFailures++)
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = undefined
      if (this.#state !== 'terminated') this.#dispatch()
    }, delay)
    this.#respawnTimer.unref()
  }

  #drainReplies(worker: Worker): void {
    for (;;) {
      let reply: Reply | null
      try {
        reply = worker.replies.getNowait()
      } catch (error) {
        if (!(error instanceof DataCloneError)) return
        this.#onUnrevived(worker, error)
        continue
      }
      if (reply !== null) this.#onReply(worker, reply)
    }
  }

  /**
   * The ids of the requests left in a dead worker's request queue: it never
   * took them. One too deep to revive here (DataCloneError, dropped) is known
   * by its place: the requests left are the last ones sent, so the last ones
   * it holds, in order (see protocol.ts, Order).
   */
  #takeRequests(worker: Worker): Set<number> {
    const left: (number | undefined)[] = []
    for (;;) {
      let request: Request | null
      try {
        request = worker.requests.getNowait()
      } catch (error) {
        if (error instanceof DataCloneError) {
          left.push(undefined)
          continue
        }
        break
      }
      if (Array.isArray(request) && typeof request[0] === 'number') left.push(request[0])
    }
    const first = worker.held.length - left.length
    // By place only when the places agree with every id that could be read.
    const placed = first >= 0 && left.every((id, i) => id === undefined || worker.held[first + i]?.id === id)
    const ids = new Set<number>()
    left.forEach((id, i) => {
      if (id !== undefined) ids.add(id)
      else if (placed) ids.add((worker.held[first + i] as Task).id)
    })
    return ids
  }

  /** After close(): retire idle workers once nothing is queued; wake joiners when all are gone. */
  #maybeFinish(): void {
    if (this.#state === 'running') return
    if (this.#queueHead >= this.#queue.length)
      for (const worker of this.#workers) if (worker.held.length === 0) this.#retire(worker)
    if (this.#workers.size === 0 && this.#queueHead >= this.#queue.length) {
      for (const joiner of this.#joiners.splice(0)) joiner()
      this.#refKeepAlive(false)
    }
  }

  #killAll(): void {
    for (const worker of this.#workers) this.#kill(worker)
  }

  /** Once every worker is gone (each took its queues with it): nothing is left to do at exit. */
  #free(): void {
    if (this.#freed) return
    this.#freed = true
    forgetAtExit(this.#atExit, EXIT_PRIMITIVES)
  }
}

/** Removes each queue's name and closes it here. */
function removeQueues(...queues: Queue<unknown>[]): void {
  for (const queue of queues) {
    unlinkQuietly(queue)
    queue.close()
  }
}

/** Removes a queue's name; it may be gone already. */
function unlinkQuietly(queue: Queue<unknown> | undefined): void {
  try {
    queue?.unlink()
  } catch {
    // Unlinked or closed already.
  }
}

const NO_TRANSFERS: Transfers = []

/**
 * The primitives among `values` (see core's `extractTransfers`); values with
 * no object among them (numbers, strings, …) are passed as they are, without
 * the walk.
 */
function transfersOf(values: readonly unknown[]): { args: unknown[]; transfers: Transfers } {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (typeof value === 'object' && value !== null) return extractTransfers(values)
  }
  return { args: values as unknown[], transfers: NO_TRANSFERS }
}

/** The task's arguments (or result) do not fit in one message, even alone. */
function tooLarge(task: Task, what: 'arguments' | 'result', cause: Error | undefined): RangeError {
  const error = outOfRange(
    what === 'arguments'
      ? `Task "${task.exportName}" cannot be sent: its arguments take more than the ${RING_BYTES} bytes a pool message may hold (encoded)`
      : `Task "${task.exportName}" cannot reply: its result takes more than the ${RING_BYTES} bytes a pool message may hold (encoded)`,
  )
  if (cause !== undefined) error.cause = cause
  return error
}

/** The transfers of `payload.slice(start, end)`, their paths re-indexed. */
function sliceTransfers(transfers: Transfers | undefined, start: number, end: number): Transfers {
  const sliced: Transfers = []
  for (const { descriptor, paths } of transfers ?? []) {
    const inside = paths
      .filter((path) => (path[0] as number) >= start && (path[0] as number) < end)
      .map((path) => [(path[0] as number) - start, ...path.slice(1)])
    if (inside.length > 0) sliced.push({ descriptor, paths: inside })
  }
  return sliced
}

/**
 * Why a worker's reply to `task` breaks the protocol (protocol.ts), or
 * undefined when it does not. Replies come from another process: a bad one
 * must fail its task, not throw in the reply loop or leave the task unsettled.
 */
function replyProblem(task: Task, status: unknown, value: unknown): string | undefined {
  const had = task.partial?.length ?? 0
  // A MAP's items (`count` is 0 for the halves of a split chunk: the chunk counts them).
  const items = task.payload.length
  switch (status) {
    case OK:
      if (task.kind !== MAP) return undefined
      if (!isValues(value)) return `results of a map chunk that are not an array: ${inspect(value, { depth: 0 })}`
      if (had + value.length !== items) return `${had + value.length} results for a chunk of ${items} items`
      return undefined
    case PART:
      if (task.kind !== MAP) return 'partial results of a task that is not a map chunk'
      if (!isValues(value)) return `partial results that are not an array: ${inspect(value, { depth: 0 })}`
      if (had + value.length > items) return `more than ${items} results for a chunk of ${items} items`
      return undefined
    case FAILED:
    case UNCLONABLE:
    case UNREADABLE: {
      const error = value as Partial<ErrorFields> | null
      if (
        typeof error !== 'object' ||
        error === null ||
        typeof error.message !== 'string' ||
        !(error.name === undefined || typeof error.name === 'string') ||
        !(error.stack === undefined || typeof error.stack === 'string')
      )
        return `a failure without an error: ${inspect(value, { depth: 0 })}`
      return undefined
    }
    case NO_EXPORT:
      return typeof value === 'string' ? undefined : `a missing export described by ${inspect(value, { depth: 0 })}`
    case TOO_LARGE:
      return undefined
    default:
      return `an unknown status ${inspect(status, { depth: 0 })}`
  }
}

function taskError(exportName: string, error: ErrorFields): ProcessError {
  const what = error.name === undefined ? `threw ${error.message}` : `${error.name}: ${error.message}`
  return new ProcessError(`Task "${exportName}" failed: ${what}`, {
    ...(error.name === undefined ? {} : { childName: error.name }),
    ...(error.stack === undefined ? {} : { childStack: error.stack }),
  })
}

/** `map` takes a sync iterable (it reads it whole); `imap` an async one too. */
function checkIterable(iterable: unknown, allowAsync: boolean): void {
  const isObject = typeof iterable === 'object' && iterable !== null
  if (isObject && typeof (iterable as Iterable<unknown>)[Symbol.iterator] === 'function') return
  if (isObject && allowAsync && typeof (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return
  const what = allowAsync ? 'iterable or async iterable' : 'iterable (use imap for an async iterable)'
  throw invalidArgType(`The "iterable" argument must be ${what}, received ${inspect(iterable)}`)
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidArgType('The "signal" option must be an AbortSignal')
  return signal
}
