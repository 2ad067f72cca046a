import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import type { Family, Job, Ref, RowSpec, Runner, Size, Target } from './harness.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { udsIdle } from './peers/uds.ts'
import { workerThreadsIdle } from './peers/worker-threads.ts'
import { ChildHandle } from './process-handle.ts'
import { type FlowReport, type IdleReport, idleRep } from './rep.ts'
import { isFloor } from './report.ts'

/** Pending waits in the idle process. */
const WAITERS = 100

/**
 * `n` is the length of the measured window in ms: 5 s, whatever the mode (smoke: 0.3 s).
 * Nothing here needs warming up or sizing, so no warm-up and at most 3 repetitions.
 */
const IDLE_SIZE: Size = { n0: 5000, smoke: 300, min: 5000, max: 5000, warmup: 0, repetitions: 3 }

const script = join(childrenDir, 'ours-queue.mjs')

/**
 * Ours: one process creates `WAITERS` queues and leaves one pending `await queue.get()` on
 * each while it measures; a second process (attached to every queue) then puts one item
 * into each, and every get must return it.
 */
function oursIdle(ctx: RunContext): Runner {
  let idle: ChildHandle | undefined
  let waker: ChildHandle | undefined
  return {
    async setup() {
      idle = ChildHandle.fork('ours idle getters', script)
      waker = ChildHandle.fork('ours idle waker', script)
      const names = Array.from({ length: WAITERS }, () => ctx.uniqueName('iq'))
      const created = await idle.request<{ handles: unknown[]; names: string[] }>('createMany', { names })
      for (const name of created.names) ctx.rememberSegment(name)
      await waker.request('attachMany', { handles: created.handles })
    },
    async run(ms) {
      const measured = await (idle as ChildHandle).request<IdleReport>('idle', { ms }, ms + 30_000)
      await (waker as ChildHandle).request('wake')
      const woken = await (idle as ChildHandle).request<FlowReport>('collect', {}, 30_000)
      return idleRep(measured, woken, WAITERS)
    },
    async teardown() {
      // The creator goes last, so it unlinks after the waker detached.
      await waker?.stop()
      await idle?.stop()
    },
  }
}

/**
 * The floor: the same child process with nothing pending (no queue, no socket, no
 * thread), measured the same way. What any Node process spends while it idles with the
 * delay monitor on, so the part of each row that waiting itself costs is the rest.
 */
function nodeFloor(): Runner {
  let idle: ChildHandle | undefined
  return {
    async setup() {
      idle = ChildHandle.fork('node idle floor', script)
    },
    async run(ms) {
      const measured = await (idle as ChildHandle).request<IdleReport>('idle', { ms }, ms + 30_000)
      return {
        elapsedNs: measured.elapsedNs,
        metrics: { cpu: measured.cpuMsPerS, delay: measured.delayP99Ms },
        problems: [],
      }
    },
    async teardown() {
      await idle?.stop()
    },
  }
}

const FLOOR = 'Node, nothing pending (floor)'

/** Lower is better, so ours meets it when it is at or below every peer that has a number (the floor is not a peer). */
const atMostBestPeer: Target = {
  text: '≤ the best (lowest) peer',
  met: (ours, peers) => {
    const values = Object.entries(peers)
      .filter(([name]) => !isFloor(name))
      .map(([, v]) => v)
      .filter((v): v is number => v !== undefined)
    return values.length === 0 ? undefined : ours <= Math.min(...values)
  },
}

const NOTE =
  `One process with ${WAITERS} pending waits for 5 s (after 100 ms to settle); lower is better. Ours: ${WAITERS} pending \`await queue.get()\`, one on each of ${WAITERS} queues (100 getters of one queue would all sleep on its one event word; 100 queues give 100 distinct words, each with its own timed re-check: the harder case, and the one a process serving many queues meets), woken afterwards by a second process that puts one item into each. ` +
  `uds: ${WAITERS} net sockets with a pending read, connected to a second process that then writes one frame to each. worker_threads: ${WAITERS} MessagePorts with a pending once('message') on the main thread; the other ends live in a worker thread of the same process (its idle cost counts). ` +
  `Python: ${WAITERS} threads, each blocked in get() on its own mp.Queue, woken by a waker process. CPU is user + system time of the whole idle process (process.cpuUsage(), Python time.process_time()) per second of waiting. ` +
  `The floor: the same Node child with nothing pending, measured the same way (what any Node process costs while it idles with the delay monitor on; not a peer, so not in the target). ` +
  'The delay is the p99 of how late a 10 ms timer fired: Node’s perf_hooks.monitorEventLoopDelay (its intervals minus 10 ms), Python’s time.sleep(0.01) in the main thread. Every wait must return the item after the wake-up. Numbers this small are noisy on a shared machine.'

export function idleFamily(ctx: RunContext): Family {
  const jobs: Job[] = [
    { key: 'idle.getters/ours', workload: 'idle.getters', impl: 'ours', size: IDLE_SIZE, create: () => oursIdle(ctx) },
    {
      key: 'idle.getters/uds',
      workload: 'idle.getters',
      impl: 'uds',
      size: IDLE_SIZE,
      create: () => udsIdle(ctx, { waiters: WAITERS }),
    },
    {
      key: 'idle.getters/worker_threads',
      workload: 'idle.getters',
      impl: 'worker_threads',
      size: IDLE_SIZE,
      create: () => workerThreadsIdle({ waiters: WAITERS }),
    },
    {
      key: 'idle.getters/python',
      workload: 'idle.getters',
      impl: 'python mp.Queue',
      size: IDLE_SIZE,
      skipped: pythonSkip(ctx),
      create: () =>
        pythonRunner<IdleReport & FlowReport>(ctx, 'idle_bench.py', { count: WAITERS }, (result) =>
          idleRep(result, result, WAITERS),
        ),
    },
    { key: 'idle.getters/floor', workload: 'idle.getters', impl: FLOOR, size: IDLE_SIZE, create: () => nodeFloor() },
  ]
  const peers = (metric: string): Record<string, Ref> => ({
    uds: { job: 'idle.getters/uds', metric },
    worker_threads: { job: 'idle.getters/worker_threads', metric },
    'python mp.Queue': { job: 'idle.getters/python', metric },
    [FLOOR]: { job: 'idle.getters/floor', metric },
  })
  const rows: RowSpec[] = [
    {
      workload: 'idle.getters.cpu',
      title: `Idle cost: CPU time of ${WAITERS} pending get() waits`,
      unit: 'CPU ms/s',
      higherIsBetter: false,
      target: atMostBestPeer,
      note: NOTE,
      ours: { job: 'idle.getters/ours', metric: 'cpu' },
      peers: peers('cpu'),
    },
    {
      workload: 'idle.getters.delay.p99',
      title: `Idle cost: event-loop delay p99 with ${WAITERS} pending get() waits`,
      unit: 'ms',
      higherIsBetter: false,
      target: atMostBestPeer,
      note: NOTE,
      ours: { job: 'idle.getters/ours', metric: 'delay' },
      peers: peers('delay'),
    },
  ]
  return { name: 'idle', title: 'Idle cost', jobs, rows }
}
