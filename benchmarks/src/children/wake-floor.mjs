// Floors of the semaphore wake-up rows: ours-semaphore.mjs's waiter / releaser protocol
// with no semaphore. The waiter announces each round on a ready word (bare futex) and
// waits; the releaser sleeps on the ready word, sleeps `gapMs`, takes the time and wakes
// the waiter; the waiter takes the time when its wait returns. How the waiter waits:
// - 'futex': blocks in @ipc/core's native futex wait on a shared word (waitWordSync).
// - 'wait': `await wait()` of @ipc/core on that word, bare (io_uring or waiter threads).
// - 'uds': awaits a 'data' event of a Unix socket; the releaser writes one byte.
// - 'fifo': the same on a named pipe (the releaser writes with writeSync).
// - 'signal': awaits process.once('SIGUSR2'); the releaser sends it with process.kill.
import { closeSync, constants, openSync, writeSync } from 'node:fs'
import { createConnection, createServer, Socket } from 'node:net'
import { importOurs, now, serve, sleepSync } from './lib.mjs'

/** Word 0: the round the waiter is ready for; word 1: the wake-up word. */
const READY = 0
const WORD = 1
const ONE_BYTE = Buffer.from([1])

let segment
let i32
let core
let server
/** Settles when the waiter's end of a 'uds' channel is connected. */
let connected
let socket
let fifo
let waiterPid
/** Resolves the round's pending promise ('uds', 'fifo', 'signal'). */
let arrive = () => {}

async function loadCore() {
  const [{ wait }, { RawSegment, notifyWord, waitWordSync }] = await Promise.all([
    importOurs('@ipc/core'),
    importOurs('@ipc/core/internal'),
  ])
  core = { wait, notifyWord, waitWordSync, RawSegment }
}

/** Announces round `i` on the ready word. */
function announce(i) {
  Atomics.store(i32, READY, i + 1)
  core.notifyWord(i32, READY, 1)
}

serve({
  async create({ name }) {
    await loadCore()
    segment = core.RawSegment.create(name, 64, false)
    i32 = new Int32Array(segment.buffer, 0, 2)
    return { names: [segment.name] }
  },
  async attach({ name }) {
    await loadCore()
    segment = core.RawSegment.open(name)
    i32 = new Int32Array(segment.buffer, 0, 2)
    return {}
  },
  /** The waiter's end of a 'uds', 'fifo' or 'signal' channel, before the releaser's `connect`. */
  async listen({ kind, path }) {
    // One listener for every round: adding and removing one per round would cost inside the timed part.
    const onArrival = () => arrive()
    if (kind === 'signal') process.on('SIGUSR2', onArrival)
    else if (kind === 'fifo') {
      // O_RDWR: the open does not wait for a writer (Linux).
      socket = new Socket({ fd: openSync(path, constants.O_RDWR | constants.O_NONBLOCK), writable: false })
      socket.on('data', onArrival)
    } else {
      connected = new Promise((resolve) => {
        server = createServer((connection) => {
          socket = connection
          socket.on('data', onArrival)
          resolve()
        })
      })
      await new Promise((resolve, reject) => server.listen(path, resolve).once('error', reject))
    }
    return { pid: process.pid }
  },
  /** The releaser's end; `pid` is the waiter's (for 'signal'). */
  async connect({ kind, path, pid }) {
    waiterPid = pid
    if (kind === 'uds') {
      socket = createConnection(path)
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    } else if (kind === 'fifo') fifo = openSync(path, constants.O_WRONLY)
    return {}
  },
  // sliceMs (kind 'futex'): sleep in slices of that many ms, as a semaphore waiter does
  // (experiments/wake-sync-ab.mjs --extra); the benchmark sleeps for good.
  async waiter({ n, kind, sliceMs = Number.POSITIVE_INFINITY }) {
    await connected
    const woken = new Array(n)
    for (let i = 0; i < n; i++) {
      announce(i)
      if (kind === 'futex') {
        while (Atomics.load(i32, WORD) === 0) core.waitWordSync(i32, WORD, 0, sliceMs)
      } else if (kind === 'wait') {
        while (Atomics.load(i32, WORD) === 0) await core.wait(i32, WORD, 0)
      } else {
        await new Promise((resolve) => {
          arrive = resolve
        })
      }
      woken[i] = now()
      Atomics.store(i32, WORD, 0)
    }
    return { woken }
  },
  // workNs: that many ns of work after each wake, before the next sleep (experiments/wake-sync-ab.mjs
  // --extra); the benchmark does none.
  releaser({ n, gapMs, kind, workNs = 0 }) {
    const released = new Array(n)
    for (let i = 0; i < n; i++) {
      for (let ready = Atomics.load(i32, READY); ready !== i + 1; ready = Atomics.load(i32, READY))
        core.waitWordSync(i32, READY, ready, Number.POSITIVE_INFINITY)
      // Let the waiter reach its wait before the release being timed.
      sleepSync(gapMs)
      released[i] = now()
      if (kind === 'futex' || kind === 'wait') {
        Atomics.store(i32, WORD, 1)
        core.notifyWord(i32, WORD, 1)
      } else if (kind === 'uds') socket.write(ONE_BYTE)
      else if (kind === 'fifo') writeSync(fifo, ONE_BYTE)
      else process.kill(waiterPid, 'SIGUSR2')
      if (workNs > 0) for (const until = now() + workNs; now() < until; ) {}
    }
    // Each round starts from zero (the next repetition too).
    Atomics.store(i32, READY, 0)
    return { released }
  },
  close() {
    socket?.destroy()
    server?.close()
    if (fifo !== undefined) closeSync(fifo)
    segment?.close()
    segment = i32 = socket = server = fifo = connected = undefined
  },
})
