import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import { type Family, type Job, type RowSpec, type Runner, type Size, startInstant } from './harness.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { ChildHandle } from './process-handle.ts'
import { counterRep, type FlowReport, latencyRep, loopRep, wakeupRep } from './rep.ts'

const script = join(childrenDir, 'ours-semaphore.mjs')
/** How long the releaser sleeps before each timed release, so the waiter is asleep in the kernel. */
const WAKEUP_GAP_MS = 0.2

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
  const wakeupSize: Size = { n0: 50, smoke: 5, max: 20_000 }
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
      size: wakeupSize,
      create: () => oursWakeup(ctx, false),
    },
    {
      key: 'semaphore.wakeup-async/ours',
      workload: 'semaphore.wakeup.async',
      impl: 'ours',
      size: wakeupSize,
      create: () => oursWakeup(ctx, true),
    },
    {
      key: 'semaphore.wakeup-async-waitv/ours',
      workload: 'semaphore.wakeup.async',
      impl: WAITV_PEER,
      size: wakeupSize,
      create: () => oursWakeup(ctx, true, WAITV_ENV),
    },
    {
      key: 'semaphore.wakeup-async-threads/ours',
      workload: 'semaphore.wakeup.async',
      impl: THREADS_PEER,
      size: wakeupSize,
      create: () => oursWakeup(ctx, true, THREADS_ENV),
    },
    {
      key: 'semaphore.wakeup/python',
      workload: 'semaphore.wakeup',
      impl: 'python mp.Semaphore',
      size: wakeupSize,
      skipped: pythonSkip(ctx),
      create: () =>
        python<{ elapsedNs: number; median: number; p99: number }>({ mode: 'wakeup', gapMs: WAKEUP_GAP_MS }, (result) =>
          latencyRep(result),
        ),
    },
  )
  const pythonPeer = (job: string, metric: string) => ({ 'python mp.Semaphore': { job, metric } })
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
    {
      workload: 'semaphore.wakeup.median',
      title: 'Wake-up latency, release → blocked acquireSync returns, median',
      unit: 'µs',
      higherIsBetter: false,
      ours: { job: 'semaphore.wakeup/ours', metric: 'median' },
      peers: pythonPeer('semaphore.wakeup/python', 'median'),
    },
    {
      workload: 'semaphore.wakeup.p99',
      title: 'Wake-up latency, release → blocked acquireSync returns, p99',
      unit: 'µs',
      higherIsBetter: false,
      ours: { job: 'semaphore.wakeup/ours', metric: 'p99' },
      peers: pythonPeer('semaphore.wakeup/python', 'p99'),
    },
    {
      workload: 'semaphore.wakeup.async.median',
      title: 'Wake-up latency, release → pending await acquire() resolves, median',
      unit: 'µs',
      higherIsBetter: false,
      note: ASYNC_MODES_NOTE,
      ours: { job: 'semaphore.wakeup-async/ours', metric: 'median' },
      peers: {
        ...pythonPeer('semaphore.wakeup/python', 'median'),
        [WAITV_PEER]: { job: 'semaphore.wakeup-async-waitv/ours', metric: 'median' },
        [THREADS_PEER]: { job: 'semaphore.wakeup-async-threads/ours', metric: 'median' },
      },
    },
    {
      workload: 'semaphore.wakeup.async.p99',
      title: 'Wake-up latency, release → pending await acquire() resolves, p99',
      unit: 'µs',
      higherIsBetter: false,
      note: ASYNC_MODES_NOTE,
      ours: { job: 'semaphore.wakeup-async/ours', metric: 'p99' },
      peers: {
        ...pythonPeer('semaphore.wakeup/python', 'p99'),
        [WAITV_PEER]: { job: 'semaphore.wakeup-async-waitv/ours', metric: 'p99' },
        [THREADS_PEER]: { job: 'semaphore.wakeup-async-threads/ours', metric: 'p99' },
      },
    },
  ]
  return { name: 'semaphore', title: 'Semaphore', jobs, rows }
}
