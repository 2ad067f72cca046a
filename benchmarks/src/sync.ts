import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import { type Family, type Job, type Rep, type RowSpec, type Runner, type Size, startInstant } from './harness.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { ChildHandle } from './process-handle.ts'
import { type FlowReport, latencyRep, wakeupRep } from './rep.ts'

const script = join(childrenDir, 'ours-sync.mjs')
/** How long the setter sleeps before each timed set()/notify(), so the waiters are asleep in the kernel. */
const WAKEUP_GAP_MS = 0.2
/** Waiters of the Event row, parties of the Barrier row. */
const PROCESSES = 3

/** A round time (µs per generation) from the parties' start and end times. */
function roundRep(reports: FlowReport[], n: number): Rep {
  const starts = reports.map((r) => r.tStart as number)
  const ends = reports.map((r) => r.tEnd as number)
  const elapsedNs = Math.max(...ends) - Math.min(...starts)
  return {
    elapsedNs,
    metrics: { usPerRound: elapsedNs / n / 1e3 },
    problems: elapsedNs > 0 ? [] : [`nonsensical timing (${elapsedNs} ns)`],
  }
}

/** Latencies of several waiters against one list of set() times. */
function manyWakeupRep(released: number[], wokenByWaiter: number[][]): Rep {
  return wakeupRep(
    wokenByWaiter.flatMap(() => released),
    wokenByWaiter.flat(),
  )
}

/** One setter and PROCESSES waiters on two Events (used in turn). */
function oursEventWakeup(ctx: RunContext, useAsync: boolean): Runner {
  let setter: ChildHandle | undefined
  const waiters: ChildHandle[] = []
  return {
    async setup() {
      setter = ChildHandle.fork('ours event setter', script)
      for (let i = 0; i < PROCESSES; i++) waiters.push(ChildHandle.fork(`ours event waiter ${i}`, script))
      const created = await setter.request<{ names: unknown[] }>('create', {
        kind: 'event',
        names: [ctx.uniqueName('ev'), ctx.uniqueName('ev'), ctx.uniqueName('sem')],
      })
      for (const name of created.names) ctx.rememberSegment(name)
      await Promise.all(waiters.map((waiter) => waiter.request('attach', created)))
    },
    async run(n) {
      const woken = Promise.all(
        waiters.map((waiter) => waiter.request<{ woken: number[] }>('event.waiter', { n, async: useAsync }, 600_000)),
      )
      const { released } = await (setter as ChildHandle).request<{ released: number[] }>(
        'event.setter',
        { n, waiters: PROCESSES, gapMs: WAKEUP_GAP_MS },
        600_000,
      )
      return manyWakeupRep(
        released,
        (await woken).map((w) => w.woken),
      )
    },
    async teardown() {
      await Promise.all(waiters.map((waiter) => waiter.stop()))
      await setter?.stop()
    },
  }
}

/** PROCESSES parties loop barrier.wait(). */
function oursBarrier(ctx: RunContext, useAsync: boolean): Runner {
  const parties: ChildHandle[] = []
  return {
    async setup() {
      for (let i = 0; i < PROCESSES; i++) parties.push(ChildHandle.fork(`ours barrier party ${i}`, script))
      const creator = parties[0] as ChildHandle
      const created = await creator.request<{ names: unknown[] }>('create', {
        kind: 'barrier',
        names: [ctx.uniqueName('bar')],
        parties: PROCESSES,
      })
      for (const name of created.names) ctx.rememberSegment(name)
      await Promise.all(parties.slice(1).map((party) => party.request('attach', created)))
    },
    async run(n) {
      const startAt = startInstant()
      const reports = await Promise.all(
        parties.map((party) => party.request<FlowReport>('barrier.run', { n, startAt, async: useAsync }, 600_000)),
      )
      return roundRep(reports, n)
    },
    async teardown() {
      await Promise.all(parties.slice(1).map((party) => party.stop()))
      await parties[0]?.stop()
    },
  }
}

/** A notifier and one waiter on a Condition. */
function oursConditionWakeup(ctx: RunContext): Runner {
  let notifier: ChildHandle | undefined
  let waiter: ChildHandle | undefined
  return {
    async setup() {
      notifier = ChildHandle.fork('ours condition notifier', script)
      waiter = ChildHandle.fork('ours condition waiter', script)
      const created = await notifier.request<{ names: unknown[] }>('create', {
        kind: 'condition',
        names: [ctx.uniqueName('cond'), ctx.uniqueName('sem')],
      })
      for (const name of created.names) ctx.rememberSegment(name)
      await waiter.request('attach', created)
    },
    async run(n) {
      const woken = (waiter as ChildHandle).request<{ woken: number[] }>('condition.waiter', { n }, 600_000)
      const { released } = await (notifier as ChildHandle).request<{ released: number[] }>(
        'condition.notifier',
        { n, gapMs: WAKEUP_GAP_MS },
        600_000,
      )
      return wakeupRep(released, (await woken).woken)
    },
    async teardown() {
      await waiter?.stop()
      await notifier?.stop()
    },
  }
}

export function syncFamily(ctx: RunContext): Family {
  const wakeupSize: Size = { n0: 50, smoke: 5, max: 20_000 }
  const barrierSize: Size = { n0: 200, smoke: 20, max: 2_000_000 }
  const python = <T>(setup: Record<string, unknown>, toRep: (result: T, n: number) => Rep) =>
    pythonRunner<T>(ctx, 'sync_bench.py', setup, toRep)
  const pythonLatency = (mode: string) =>
    python<{ elapsedNs: number; median: number; p99: number }>(
      { mode, processes: PROCESSES, gapMs: WAKEUP_GAP_MS },
      (result) => latencyRep(result),
    )
  const jobs: Job[] = [
    {
      key: 'sync.event.wakeup/ours',
      workload: 'sync.event.wakeup',
      impl: 'ours',
      size: wakeupSize,
      create: () => oursEventWakeup(ctx, false),
    },
    {
      key: 'sync.event.wakeup-async/ours',
      workload: 'sync.event.wakeup.async',
      impl: 'ours',
      size: wakeupSize,
      create: () => oursEventWakeup(ctx, true),
    },
    {
      key: 'sync.event.wakeup/python',
      workload: 'sync.event.wakeup',
      impl: 'python mp.Event',
      size: wakeupSize,
      skipped: pythonSkip(ctx),
      create: () => pythonLatency('event'),
    },
    {
      key: 'sync.barrier.round/ours',
      workload: 'sync.barrier.round',
      impl: 'ours',
      size: barrierSize,
      create: () => oursBarrier(ctx, false),
    },
    {
      key: 'sync.barrier.round-async/ours',
      workload: 'sync.barrier.round.async',
      impl: 'ours',
      size: barrierSize,
      create: () => oursBarrier(ctx, true),
    },
    {
      key: 'sync.barrier.round/python',
      workload: 'sync.barrier.round',
      impl: 'python mp.Barrier',
      size: barrierSize,
      skipped: pythonSkip(ctx),
      create: () => python<FlowReport>({ mode: 'barrier', processes: PROCESSES }, (result, n) => roundRep([result], n)),
    },
    {
      key: 'sync.condition.wakeup/ours',
      workload: 'sync.condition.wakeup',
      impl: 'ours',
      size: wakeupSize,
      create: () => oursConditionWakeup(ctx),
    },
    {
      key: 'sync.condition.wakeup/python',
      workload: 'sync.condition.wakeup',
      impl: 'python mp.Condition',
      size: wakeupSize,
      skipped: pythonSkip(ctx),
      create: () => pythonLatency('condition'),
    },
  ]
  const atMostPython = (name: string) => ({
    text: '≤ Python',
    met: (ours: number, peers: Record<string, number | undefined>) => {
      const python = peers[name]
      return python === undefined ? undefined : ours <= python
    },
  })
  const eventRow = (metric: 'median' | 'p99', useAsync: boolean): RowSpec => ({
    workload: `sync.event.wakeup${useAsync ? '.async' : ''}.${metric}`,
    title: `Event set() → ${PROCESSES} ${useAsync ? 'pending await wait()s resolve' : 'blocked waitSync()s return'}, ${metric}`,
    unit: 'µs',
    higherIsBetter: false,
    target: atMostPython('python mp.Event'),
    note: `Latency of each of the ${PROCESSES} waiter processes from set() in another process.${useAsync ? ' Python: its (blocking) wait().' : ''}`,
    ours: { job: `sync.event.wakeup${useAsync ? '-async' : ''}/ours`, metric },
    peers: { 'python mp.Event': { job: 'sync.event.wakeup/python', metric } },
  })
  const barrierRow = (useAsync: boolean): RowSpec => ({
    workload: `sync.barrier.round${useAsync ? '.async' : ''}`,
    title: `Barrier round, ${PROCESSES} processes${useAsync ? ' (await wait())' : ' (waitSync())'}`,
    unit: 'µs',
    higherIsBetter: false,
    target: atMostPython('python mp.Barrier'),
    note: `Time per generation: ${PROCESSES} processes loop wait() on one Barrier(${PROCESSES}).`,
    ours: { job: `sync.barrier.round${useAsync ? '-async' : ''}/ours`, metric: 'usPerRound' },
    peers: { 'python mp.Barrier': { job: 'sync.barrier.round/python', metric: 'usPerRound' } },
  })
  const conditionRow = (metric: 'median' | 'p99'): RowSpec => ({
    workload: `sync.condition.wakeup.${metric}`,
    title: `Condition notify() → a blocked waitSync() returns holding the lock, ${metric}`,
    unit: 'µs',
    higherIsBetter: false,
    target: atMostPython('python mp.Condition'),
    ours: { job: 'sync.condition.wakeup/ours', metric },
    peers: { 'python mp.Condition': { job: 'sync.condition.wakeup/python', metric } },
  })
  const rows: RowSpec[] = [
    eventRow('median', false),
    eventRow('p99', false),
    eventRow('median', true),
    eventRow('p99', true),
    barrierRow(false),
    barrierRow(true),
    conditionRow('median'),
    conditionRow('p99'),
  ]
  return { name: 'sync', title: 'Event, Condition, Barrier', jobs, rows }
}
