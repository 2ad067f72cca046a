// Shared by every Node benchmark child: the control protocol, the clock and the payloads.
// Children are plain ESM so they start fast and run exactly what users install.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import process from 'node:process'
import { setTimeout as sleep } from 'node:timers/promises'

/** Monotonic nanoseconds (CLOCK_MONOTONIC: comparable between processes on one machine). */
export const now = () => Number(process.hrtime.bigint())

/** The three message kinds of the issue; every implementation sends the same values. */
export function makePayload(kind) {
  switch (kind) {
    case 'string':
      return 'msg-12345'
    case 'object':
      return { id: 12345, name: 'msg-12345', values: [1, 2, 3] }
    case 'buffer64k': {
      const buffer = Buffer.allocUnsafe(65536)
      for (let i = 0; i < buffer.length; i++) buffer[i] = i & 0xff
      return buffer
    }
    default:
      throw new Error(`Unknown payload kind ${kind}`)
  }
}

/** Checks that a received item is the payload (decoded), so nobody wins by not decoding. */
export function isPayload(kind, item) {
  switch (kind) {
    case 'string':
      return item === 'msg-12345'
    case 'object':
      return item?.id === 12345 && item.name === 'msg-12345' && item.values?.length === 3 && item.values[2] === 3
    case 'buffer64k':
      return item instanceof Uint8Array && item.byteLength === 65536 && item[65535] === 0xff && item[1] === 1
    default:
      return false
  }
}

/** Median and p99 (nearest rank) of latencies in ns, returned in µs. */
export function latencySummary(latenciesNs) {
  const sorted = Float64Array.from(latenciesNs).sort()
  const rank = (p) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length))) - 1]
  const middle = (sorted.length - 1) / 2
  const median = (sorted[Math.floor(middle)] + sorted[Math.ceil(middle)]) / 2
  return { median: median / 1e3, p99: rank(0.99) / 1e3 }
}

/**
 * Times `n` round trips of the string payload to an echo peer: `peer` emits 'message'
 * with each reply, and `peer[method](message)` sends (`send` for a child process,
 * `postMessage` for a worker). Returns `{ elapsedNs, median, p99 }` (µs).
 */
export async function echoRoundTrips(peer, method, n) {
  const message = makePayload('string')
  const latencies = new Float64Array(n)
  let resolve
  const onMessage = (reply) => resolve(reply)
  peer.on('message', onMessage)
  const t0 = now()
  for (let i = 0; i < n; i++) {
    const start = now()
    await new Promise((r) => {
      resolve = r
      peer[method](message)
    })
    latencies[i] = now() - start
  }
  const elapsedNs = now() - t0
  peer.off('message', onMessage)
  return { elapsedNs, ...latencySummary(latencies) }
}

/**
 * Waits until the CLOCK_MONOTONIC instant `startAt` (ns), so processes told the same
 * instant start their loops together (a barrier that needs no IPC primitive).
 */
export function waitUntil(startAt) {
  if (!startAt) return
  const ms = (startAt - now()) / 1e6
  if (ms > 1) sleepSync(ms - 1)
  while (now() < startAt) {}
}

/** The event-loop delay monitor's sampling interval (ms): it fires this often while idle. */
const DELAY_RESOLUTION_MS = 10
/** Time given to fresh waits to settle (threads started, fds registered) before measuring. */
const SETTLE_MS = 100

/**
 * Measures an idle process for `ms` while its waits are pending: the CPU time the whole
 * process used (user + system, every thread) per second of wall time, and the p99 of the
 * event-loop delay: how late `monitorEventLoopDelay`'s 10 ms timer fired (its histogram
 * holds the intervals between firings, so 10 ms is subtracted). Python's peer measures
 * the same two things (python/idle_bench.py).
 */
export async function idleWindow(ms) {
  await sleep(SETTLE_MS)
  const histogram = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS })
  histogram.enable()
  const cpu0 = process.cpuUsage()
  const t0 = now()
  await sleep(ms)
  const cpu = process.cpuUsage(cpu0)
  const elapsedNs = now() - t0
  histogram.disable()
  const lateNs = Math.max(0, histogram.percentile(99) - DELAY_RESOLUTION_MS * 1e6)
  return { elapsedNs, cpuMsPerS: (cpu.user + cpu.system) / 1e3 / (elapsedNs / 1e9), delayP99Ms: lateNs / 1e6 }
}

/** Sleeps the thread for `ms` without spinning (Atomics.wait on a private word). */
const sleeper = new Int32Array(new SharedArrayBuffer(4))
export function sleepSync(ms) {
  Atomics.wait(sleeper, 0, 0, ms)
}

/**
 * Answers `{ id, cmd, ...body }` requests from the parent with
 * `{ type: 'reply', id, result | error }`; announces `{ type: 'ready' }`. `exit` runs the
 * optional `close` handler, replies, and exits. The child exits when its parent goes away.
 */
export function serve(handlers) {
  if (typeof process.send !== 'function') throw new Error('This script must be forked with an IPC channel')
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (message) => {
    if (typeof message !== 'object' || message === null || typeof message.cmd !== 'string') return
    const { id, cmd } = message
    try {
      if (cmd === 'exit') {
        try {
          await handlers.close?.(message)
        } finally {
          process.send({ type: 'reply', id, result: {} }, () => process.exit(0))
        }
        return
      }
      const handler = handlers[cmd]
      if (!handler) throw new Error(`Unknown command ${cmd}`)
      const result = await handler(message)
      process.send({ type: 'reply', id, result: result ?? {} })
    } catch (error) {
      process.send({ type: 'reply', id, error: describeError(error) })
    }
  })
  process.send({ type: 'ready' })
}

/** The error's name and message, and where it was thrown (one stack line). */
function describeError(error) {
  if (!(error instanceof Error)) return String(error)
  const where = error.stack?.split('\n').find((line) => line.trim().startsWith('at '))
  const name = error.name === 'Error' ? '' : `${error.name}: `
  return `${name}${error.message}${where ? ` (${where.trim()})` : ''}`
}

/** Imports one of our packages; a failure becomes an error that names the package. */
export async function importOurs(name) {
  try {
    return await import(name)
  } catch (error) {
    throw new Error(`Cannot import ${name}: ${error?.message ?? error}`)
  }
}
