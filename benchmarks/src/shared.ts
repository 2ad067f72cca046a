import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import { type Family, type Job, type RowSpec, type Runner, type Size, startInstant } from './harness.ts'
import type { Mode } from './modes.ts'
import { atomicsAdd, bufferCopy } from './peers/node-builtins.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { ChildHandle } from './process-handle.ts'
import { addRep, copyRep, counterRep, type FlowReport } from './rep.ts'

const script = join(childrenDir, 'ours-shared.mjs')
const PROCESSES = 2

/** `PROCESSES` children increment one SharedValue('int32') under its lock; the final value must be n. */
function oursLockedCounter(ctx: RunContext): Runner {
  const children: ChildHandle[] = []
  return {
    async setup() {
      for (let i = 0; i < PROCESSES; i++) children.push(ChildHandle.fork(`ours counter ${i}`, script))
      const creator = children[0] as ChildHandle
      const created = await creator.request<{ handle: unknown; name: string }>('counter.create', {
        name: ctx.uniqueName('v'),
      })
      ctx.rememberSegment(created.name)
      await Promise.all(children.slice(1).map((child) => child.request('counter.attach', { handle: created.handle })))
    },
    async run(n) {
      const creator = children[0] as ChildHandle
      await creator.request('counter.reset')
      const startAt = startInstant()
      const reports = await Promise.all(
        children.map((child) => child.request<FlowReport>('counter.increment', { n: n / PROCESSES, startAt }, 600_000)),
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

/** One child: `SharedValue.add(1)` in a loop (atomic, no lock). */
function oursAdd(ctx: RunContext): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork('ours add', script)
      const created = await child.request<{ name: string }>('add.setup', { name: ctx.uniqueName('a') })
      ctx.rememberSegment(created.name)
    },
    async run(n) {
      return addRep(child as ChildHandle, n)
    },
    async teardown() {
      await child?.stop()
    },
  }
}

/** One child: copies into and out of `SharedArray('float64').array`. */
function oursArray(ctx: RunContext, bytes: number): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork('ours array', script)
      const created = await child.request<{ name: string }>('array.setup', { bytes, name: ctx.uniqueName('arr') })
      ctx.rememberSegment(created.name)
    },
    async run(n) {
      const result = await (child as ChildHandle).request<{ writeNs: number; readNs: number; ok: boolean }>(
        'array.run',
        { n },
        600_000,
      )
      return copyRep(result, n, bytes)
    },
    async teardown() {
      await child?.stop()
    },
  }
}

export function sharedFamily(ctx: RunContext, mode: Mode): Family {
  const counterSize: Size = { n0: 2000, smoke: 200, max: 20_000_000, multipleOf: PROCESSES }
  const addSize: Size = { n0: 100_000, smoke: 1000, max: 1_000_000_000 }
  // 8 MiB: bigger than most L2 caches, so this is memory bandwidth, not cache bandwidth.
  const arrayBytes = mode.name === 'smoke' ? 256 * 1024 : 8 * 1024 * 1024
  const arraySize: Size = { n0: 4, smoke: 1, max: 100_000 }
  const jobs: Job[] = [
    {
      key: 'shared.counter/ours',
      workload: 'shared.counter.locked',
      impl: 'ours',
      size: counterSize,
      create: () => oursLockedCounter(ctx),
    },
    {
      key: 'shared.counter/python',
      workload: 'shared.counter.locked',
      impl: 'python mp.Value',
      size: counterSize,
      skipped: pythonSkip(ctx),
      create: () =>
        pythonRunner<FlowReport & { value: number }>(ctx, 'shared_bench.py', { mode: 'counter' }, (result, n) =>
          counterRep([result], n, result.value),
        ),
    },
    {
      key: 'shared.add/ours',
      workload: 'shared.add.lockfree',
      impl: 'ours',
      size: addSize,
      create: () => oursAdd(ctx),
    },
    {
      key: 'shared.add/atomics',
      workload: 'shared.add.lockfree',
      impl: 'Atomics.add',
      size: addSize,
      create: atomicsAdd,
    },
    {
      key: 'shared.array/ours',
      workload: 'shared.array',
      impl: 'ours',
      size: arraySize,
      create: () => oursArray(ctx, arrayBytes),
    },
    {
      key: 'shared.array/buffer-copy',
      workload: 'shared.array',
      impl: 'Buffer.copy',
      size: arraySize,
      create: () => bufferCopy({ bytes: arrayBytes }),
    },
    {
      key: 'shared.array/python',
      workload: 'shared.array',
      impl: 'python shared_memory',
      size: arraySize,
      skipped: pythonSkip(ctx),
      create: () =>
        pythonRunner<{ writeNs: number; readNs: number; ok: boolean }>(
          ctx,
          'shared_bench.py',
          { mode: 'array', bytes: arrayBytes, name: ctx.uniqueName('py') },
          (result, n) => copyRep(result, n, arrayBytes),
        ),
    },
  ]
  const arrayLabel = `${arrayBytes / (1024 * 1024)} MiB`
  const rows: RowSpec[] = [
    {
      workload: 'shared.counter.locked',
      title: `Shared counter, ${PROCESSES} processes incrementing under the lock`,
      unit: 'ops/s',
      higherIsBetter: true,
      note: 'Ours: lock.acquireSync(); v.value += 1; lock.release(). Python: with v.get_lock(): v.value += 1. The final value is checked.',
      ours: { job: 'shared.counter/ours', metric: 'rate' },
      peers: { 'python mp.Value': { job: 'shared.counter/python', metric: 'rate' } },
    },
    {
      workload: 'shared.add.lockfree',
      title: 'Lock-free atomic add, one process',
      unit: 'ops/s',
      higherIsBetter: true,
      target: { text: '≥ 50,000,000 ops/s', met: (ours) => ours >= 50_000_000 },
      note: 'Python has no atomic add, so it has no figure here.',
      ours: { job: 'shared.add/ours', metric: 'rate' },
      peers: { 'Atomics.add': { job: 'shared.add/atomics', metric: 'rate' } },
    },
    {
      workload: 'shared.array.write',
      title: `SharedArray bulk write (${arrayLabel}, array.set)`,
      unit: 'MB/s',
      higherIsBetter: true,
      ours: { job: 'shared.array/ours', metric: 'write' },
      peers: {
        'Buffer.copy': { job: 'shared.array/buffer-copy', metric: 'write' },
        'python shared_memory': { job: 'shared.array/python', metric: 'write' },
      },
    },
    {
      workload: 'shared.array.read',
      title: `SharedArray bulk read (${arrayLabel}, set from array)`,
      unit: 'MB/s',
      higherIsBetter: true,
      ours: { job: 'shared.array/ours', metric: 'read' },
      peers: {
        'Buffer.copy': { job: 'shared.array/buffer-copy', metric: 'read' },
        'python shared_memory': { job: 'shared.array/python', metric: 'read' },
      },
    },
  ]
  return { name: 'shared', title: 'Shared memory', jobs, rows }
}
