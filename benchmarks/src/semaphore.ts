import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import { peerOrFloor } from './floor-target.ts'
import { type Family, type Job, type Ref, type RowSpec, type Runner, type Size, startInstant } from './harness.ts'
import { cSkip, cWakeup } from './peers/c.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { nodeWakeFloor, type WakeKind } from './peers/wake-floor.ts'
import { ChildHandle } from './process-handle.ts'
import { counterRep, type FlowReport, latencyRep, loopRep, wakeupRep } from './rep.ts'

const script = join(childrenDir, 'ours-semaphore.mjs')
/** How long the releaser sleeps before each timed release, so the waiter is asleep in the kernel. */
export const WAKEUP_GAP_MS = 0.2
/** Wake-ups per repetition: the same count for ours, Python and the floors of the wake-up rows. */
const WAKEUPS = 1000
export const WAKEUP_SIZE: Size = { n0: WAKEUPS, smoke: 5, min: WAKEUPS, max: WAKEUPS }

function oursUncontended(ctx: RunContext): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork('ours semaphore', script)
      const created = await child.request<{ names: unknown[] }>('create', { name: ctx.uniqueName('sem'), value: 1 })
      for (const name of created.names) ctx.rememberSegment(name)
    },
    async run(n) {
      const { elapsedNs } = await (child as ChildHandle).request<{ elapsedNs: number }>('uncontended', { n }, 600_000)
      return loopRep(elapsedNs, n, 'nsPerOp')
    },
    async teardown() {
      await child?.stop()
    },
  }
}

/** `processes` children loop acquireSync(); counter += 1; release() on Semaphore(1). */
function oursContended(ctx: RunContext, processes: number): Runner {
  const children: ChildHandle[] = []
  return {
    async setup() {
      for (let i = 0; i < processes; i++) children.push(ChildHandle.fork(`ours contender ${i}`, script))
      const creator = children[0] as ChildHandle
      const created = await creator.request<{ semaphore: unknown; counter: unknown; names: unknown[] }>('create', {
        name: ctx.uniqueName('sem'),
        value: 1,
        counterName: ctx.uniqueName('c'),
      })
      for (const name of created.names) ctx.rememberSegment(name)
      await Promise.all(children.slice(1).map((child) => child.request('attach', created)))
    },
    async run(n) {
      const creator = children[0] as ChildHandle
      await creator.request('counter.reset')
      const startAt = startInstant()
      const reports = await Promise.all(
        children.map((child) => child.request<FlowReport>('contend', { n: n / processes, startAt }, 600_000)),
      )
      const { value } = await creator.request<{ value: number }>('counter.read')
      return counterRep(reports, n, value)
    },
    async teardown() {
      await Promise.all(children.slice(1).map((child) => child.stop()))
      await children[0]?.stop()
    },
  }
}

/** Async waits forced onto the fallback for kernels without futex_waitv: a thread per pending wait. */
export const THREADS_PEER = 'ours, IPC_NO_FUTEX_WAITV=1'
const THREADS_ENV = { IPC_NO_FUTEX_WAITV: '1' }
/** Async waits without io_uring (kernels 5.16 to 6.6): waiter threads in futex_waitv. */
const WAITV_PEER = 'ours, IPC_NO_IO_URING=1'
const WAITV_ENV = { IPC_NO_IO_URING: '1' }
const ASYNC_MODES_NOTE = `Ours: async waits on io_uring where the kernel has its futex waits (Linux 6.7+): the release wakes the waiting process's event loop itself. ${WAITV_PEER}: the same with waiter threads in futex_waitv (kernels 5.16 to 6.6), one more thread hop per wake-up. ${THREADS_PEER}: a thread per pending wait (kernels before 5.16).`

const PYTHON = { name: 'python mp.Semaphore', text: 'Python' }
/** Two Node processes, no semaphore: one blocks in the addon's native futex wait, the other wakes it. */
const NODE_FUTEX_FLOOR = 'Node, bare futex (floor)'
/** The same between two C processes (peers/c/wakeup.c). */
const C_FUTEX_FLOOR = 'C futex (floor)'
/** The cheapest library-free way another process resolves a pending promise in a Node process (measured: experiments/wake-async-floor.mjs). */
const EVENT_LOOP_FLOOR = 'Node event loop woken by another process (floor)'
const EVENT_LOOP_FLOOR_KIND: WakeKind = 'fifo'
/** What a semaphore may add to the bare wake-up of its runtime, when that wake-up is already above Python. */
const FLOOR_MARGIN = 1.25
const PROTOCOL_NOTE = `Every column runs the same protocol: a waiter process announces each round and waits, the releaser sleeps ${WAKEUP_GAP_MS} ms (so the waiter is asleep), takes the time and wakes it, the waiter takes the time when its call returns (CLOCK_MONOTONIC); ${WAKEUPS} wake-ups per repetition, two unpinned processes.`
const TARGET_NOTE = `Target: at most Python; where the same-run Node floor is itself above Python (no Node process can wake that fast), at most ${FLOOR_MARGIN}× that floor, the margin for the semaphore's own work (its state word and the waiter's slot, one cache line each). The floors are references, not peers to beat.`
const SYNC_NOTE = `${PROTOCOL_NOTE} ${NODE_FUTEX_FLOOR}: two Node processes, no semaphore; the waiter blocks in @ipc/core's native futex wait on a shared word, the releaser stores it and calls the native futex wake. ${C_FUTEX_FLOOR}: the same between two C processes (FUTEX_WAIT / FUTEX_WAKE). ${TARGET_NOTE}`
const ASYNC_NOTE = `${PROTOCOL_NOTE} Python has no async cross-process semaphore: its column is its blocking wait. ${EVENT_LOOP_FLOOR}: two Node processes and no @ipc code; the waiter awaits a 'data' event on a named pipe, the releaser writes one byte to it: the cheapest library-free way measured for another process to resolve a pending promise (a byte on a Unix socket and a signal were slower; experiments/wake-async-floor.mjs). @ipc/core's own bare wait() was faster still (about 0.9× of it), but it is this library's layer, so it is no floor. ${C_FUTEX_FLOOR}: as in the sync rows. ${TARGET_NOTE}`

/**
 * A waiter blocks on Semaphore(0); a releaser times each release; latency = wake − release.
 * `env` goes to both children (THREADS_ENV: the 'threads' fallback of async waits).
 */
function oursWakeup(ctx: RunContext, useAsync: boolean, env: Record<string, string> = {}): Runner {
  let releaser: ChildHandle | undefined
  let waiter: ChildHandle | undefined
  return {
    async setup() {
      releaser = ChildHandle.fork('ours releaser', script, [], env)
      waiter = ChildHandle.fork('ours waiter', script, [], env)
      const created = await releaser.request<{ semaphore: unknown; ready: unknown; names: unknown[] }>('create', {
        name: ctx.uniqueName('sem'),
        value: 0,
        readyName: ctx.uniqueName('sem'),
      })
      for (const name of created.names) ctx.rememberSegment(name)
      await waiter.request('attach', created)
    },
    async run(n) {
      const woken = (waiter as ChildHandle).request<{ woken: number[] }>('waiter', { n, async: useAsync }, 600_000)
      const { released } = await (releaser as ChildHandle).request<{ released: number[] }>(
        'releaser',
        { n, gapMs: WAKEUP_GAP_MS },
        600_000,
      )
      return wakeupRep(released, (await woken).woken)
    },
    async teardown() {
      await waiter?.stop()
      await releaser?.stop()
    },
  }
}

export function semaphoreFamily(ctx: RunContext): Family {
  const uncontendedSize: Size = { n0: 20_000, smoke: 500, max: 200_000_000 }
  const contendedSize = (processes: number): Size => ({ n0: 2000, smoke: 200, max: 20_000_000, multipleOf: processes })
  const python = <T>(setup: Record<string, unknown>, toRep: (result: T, n: number) => ReturnType<typeof loopRep>) =>
    pythonRunner<T>(ctx, 'semaphore_bench.py', setup, toRep)
  const jobs: Job[] = [
    {
      key: 'semaphore.uncontended/ours',
      workload: 'semaphore.uncontended',
      impl: 'ours',
      size: uncontendedSize,
      create: () => oursUncontended(ctx),
    },
    {
      key: 'semaphore.uncontended/python',
      workload: 'semaphore.uncontended',
      impl: 'python mp.Semaphore',
      size: uncontendedSize,
      skipped: pythonSkip(ctx),
      create: () =>
        python<{ elapsedNs: number }>({ mode: 'uncontended' }, (result, n) => loopRep(result.elapsedNs, n, 'nsPerOp')),
    },
  ]
  for (const processes of [2, 4]) {
    const workload = `semaphore.contended.${processes}proc`
    jobs.push({
      key: `${workload}/ours`,
      workload,
      impl: 'ours',
      size: contendedSize(processes),
      create: () => oursContended(ctx, processes),
    })
    jobs.push({
      key: `${workload}/python`,
      workload,
      impl: 'python mp.Semaphore',
      size: contendedSize(processes),
      skipped: pythonSkip(ctx),
      create: () =>
        python<FlowReport & { value: number }>({ mode: 'contended', processes }, (result, n) =>
          counterRep([result], n, result.value),
        ),
    })
  }
  jobs.push(
    {
      key: 'semaphore.wakeup/ours',
      workload: 'semaphore.wakeup',
      impl: 'ours',
      size: WAKEUP_SIZE,
      create: () => oursWakeup(ctx, false),
    },
    {
      key: 'semaphore.wakeup-async/ours',
      workload: 'semaphore.wakeup.async',
      impl: 'ours',
      size: WAKEUP_SIZE,
      create: () => oursWakeup(ctx, true),
    },
    {
      key: 'semaphore.wakeup-async-waitv/ours',
      workload: 'semaphore.wakeup.async',
      impl: WAITV_PEER,
      size: WAKEUP_SIZE,
      create: () => oursWakeup(ctx, true, WAITV_ENV),
    },
    {
      key: 'semaphore.wakeup-async-threads/ours',
      workload: 'semaphore.wakeup.async',
      impl: THREADS_PEER,
      size: WAKEUP_SIZE,
      create: () => oursWakeup(ctx, true, THREADS_ENV),
    },
    {
      key: 'semaphore.wakeup/python',
      workload: 'semaphore.wakeup',
      impl: 'python mp.Semaphore',
      size: WAKEUP_SIZE,
      skipped: pythonSkip(ctx),
      create: () =>
        python<{ elapsedNs: number; median: number; p99: number }>({ mode: 'wakeup', gapMs: WAKEUP_GAP_MS }, (result) =>
          latencyRep(result),
        ),
    },
    {
      key: 'semaphore.wakeup/node-futex',
      workload: 'semaphore.wakeup',
      impl: NODE_FUTEX_FLOOR,
      size: WAKEUP_SIZE,
      create: () => nodeWakeFloor(ctx, 'futex', WAKEUP_GAP_MS),
    },
    {
      key: 'semaphore.wakeup/c-futex',
      workload: 'semaphore.wakeup',
      impl: C_FUTEX_FLOOR,
      size: WAKEUP_SIZE,
      skipped: cSkip(ctx, 'wakeup'),
      create: () => cWakeup(ctx, WAKEUP_GAP_MS),
    },
    {
      key: 'semaphore.wakeup-async/node-event-loop',
      workload: 'semaphore.wakeup.async',
      impl: EVENT_LOOP_FLOOR,
      size: WAKEUP_SIZE,
      create: () => nodeWakeFloor(ctx, EVENT_LOOP_FLOOR_KIND, WAKEUP_GAP_MS),
    },
  )
  const pythonPeer = (job: string, metric: string) => ({ [PYTHON.name]: { job, metric } })
  const syncFloors = (metric: string): Record<string, Ref> => ({
    [NODE_FUTEX_FLOOR]: { job: 'semaphore.wakeup/node-futex', metric },
    [C_FUTEX_FLOOR]: { job: 'semaphore.wakeup/c-futex', metric },
  })
  const atLeastTwicePython = (ours: number, peers: Record<string, number | undefined>) => {
    const python = peers['python mp.Semaphore']
    return python === undefined ? undefined : ours >= 2 * python
  }
  const rows: RowSpec[] = [
    {
      workload: 'semaphore.uncontended',
      title: 'Semaphore acquire + release, uncontended',
      unit: 'ns/op',
      higherIsBetter: false,
      target: {
        text: '≤ Python',
        met: (ours, peers) => {
          const python = peers['python mp.Semaphore']
          return python === undefined ? undefined : ours <= python
        },
      },
      note: 'Ours: acquireSync() + release().',
      ours: { job: 'semaphore.uncontended/ours', metric: 'nsPerOp' },
      peers: pythonPeer('semaphore.uncontended/python', 'nsPerOp'),
    },
    ...[2, 4].map(
      (processes): RowSpec => ({
        workload: `semaphore.contended.${processes}proc`,
        title: `Semaphore(1) guarding a shared counter, ${processes} processes contending`,
        unit: 'ops/s',
        higherIsBetter: true,
        target: { text: '≥ 2× Python', met: atLeastTwicePython },
        note: 'Each process: acquire; counter += 1; release. The final value is checked.',
        ours: { job: `semaphore.contended.${processes}proc/ours`, metric: 'rate' },
        peers: pythonPeer(`semaphore.contended.${processes}proc/python`, 'rate'),
      }),
    ),
    ...(['median', 'p99'] as const).map(
      (metric): RowSpec => ({
        workload: `semaphore.wakeup.${metric}`,
        title: `Wake-up latency, release → blocked acquireSync returns, ${metric}`,
        unit: 'µs',
        higherIsBetter: false,
        target: peerOrFloor(PYTHON, { name: NODE_FUTEX_FLOOR, text: 'the Node futex floor' }, FLOOR_MARGIN),
        note: SYNC_NOTE,
        ours: { job: 'semaphore.wakeup/ours', metric },
        peers: { ...pythonPeer('semaphore.wakeup/python', metric), ...syncFloors(metric) },
      }),
    ),
    ...(['median', 'p99'] as const).map(
      (metric): RowSpec => ({
        workload: `semaphore.wakeup.async.${metric}`,
        title: `Wake-up latency, release → pending await acquire() resolves, ${metric}`,
        unit: 'µs',
        higherIsBetter: false,
        target: peerOrFloor(PYTHON, { name: EVENT_LOOP_FLOOR, text: 'the Node event-loop floor' }, FLOOR_MARGIN),
        note: `${ASYNC_NOTE} ${ASYNC_MODES_NOTE}`,
        ours: { job: 'semaphore.wakeup-async/ours', metric },
        peers: {
          ...pythonPeer('semaphore.wakeup/python', metric),
          [WAITV_PEER]: { job: 'semaphore.wakeup-async-waitv/ours', metric },
          [THREADS_PEER]: { job: 'semaphore.wakeup-async-threads/ours', metric },
          [EVENT_LOOP_FLOOR]: { job: 'semaphore.wakeup-async/node-event-loop', metric },
          [C_FUTEX_FLOOR]: { job: 'semaphore.wakeup/c-futex', metric },
        },
      }),
    ),
  ]
  return { name: 'semaphore', title: 'Semaphore', jobs, rows }
}
