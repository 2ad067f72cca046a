import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import type { Family, Job, Rep, RowSpec, Runner, Size } from './harness.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { ChildHandle } from './process-handle.ts'

const script = join(childrenDir, 'pool-bench.mjs')
/** Workers in every pool (the benchmark machine has 2 cores). */
const SIZE = 2
/** The longest single map: the 100,000 tasks; a repetition runs as many maps as its `n` needs. */
const MAP_LENGTH = 100_000

type Which = 'ours' | 'ours-thread' | 'workerpool' | 'piscina' | 'tinypool' | 'fork'
type Chunksize = 1 | 'auto'
type Task = 'identity' | 'spin1ms'

interface PoolReport {
  elapsedNs: number
  ok: boolean
}

function poolRep(report: PoolReport, n: number): Rep {
  return {
    elapsedNs: report.elapsedNs,
    metrics: { rate: n / (report.elapsedNs / 1e9) },
    problems: report.ok ? [] : [`wrong or missing results for ${n} tasks`],
  }
}

/** One child running one pool implementation of `size` workers; each repetition maps `n` inputs. */
function nodePool(which: Which, task: Task, chunksize: Chunksize, size = SIZE): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork(`pool ${which}`, script)
      await child.request('setup', { which, size }, 60_000)
    },
    async run(n) {
      const report = await (child as ChildHandle).request<PoolReport>(
        'run',
        { n, task, chunksize, size, mapLength: MAP_LENGTH },
        600_000,
      )
      return poolRep(report, n)
    },
    async teardown() {
      await child?.stop()
    },
  }
}

const PEER_NAMES: Record<Exclude<Which, 'ours'>, string> = {
  'ours-thread': 'ours, thread mode',
  workerpool: 'workerpool (process mode)',
  piscina: 'piscina (threads)',
  tinypool: 'tinypool (threads)',
  fork: 'child_process.fork round-robin',
}
const PYTHON = 'python mp.Pool.map'
/**
 * The CPU row's reference: our pool with one worker, same tasks, same run.
 * Ideal scaling on 2 cores is twice its rate (the per-task cost of a worker
 * is in both), so the row's target compares against it, not against a bare
 * 2 × 1000 tasks/s that no pool with any per-task cost can reach.
 */
const ONE_WORKER = 'ours, 1 worker (reference: ideal = 2 × this)'

export function poolFamily(ctx: RunContext): Family {
  const jobs: Job[] = []
  const rows: RowSpec[] = []
  const variants: { workload: string; title: string; task: Task; chunksize: Chunksize; size: Size; peers: Which[] }[] =
    [
      {
        workload: 'pool.tiny.chunk1',
        title: 'Pool, tiny tasks (identity), chunksize 1',
        task: 'identity',
        chunksize: 1,
        size: { n0: 20_000, smoke: 500, min: 5000, max: 100_000 },
        peers: ['ours-thread', 'workerpool', 'piscina', 'tinypool', 'fork'],
      },
      {
        workload: 'pool.tiny.auto',
        title: "Pool, tiny tasks (identity), chunksize auto (Python's rule)",
        task: 'identity',
        chunksize: 'auto',
        size: { n0: 100_000, smoke: 1000, min: 100_000, max: 10_000_000, multipleOf: 100_000 },
        peers: ['ours-thread', 'fork'],
      },
      {
        workload: 'pool.cpu1ms',
        title: 'Pool, 1 ms CPU tasks, chunksize 1',
        task: 'spin1ms',
        chunksize: 1,
        size: { n0: 200, smoke: 20, min: 100, max: 20_000 },
        peers: ['ours-thread', 'workerpool', 'piscina', 'tinypool', 'fork'],
      },
    ]
  for (const variant of variants) {
    const { workload, task, chunksize, size } = variant
    jobs.push({
      key: `${workload}/ours`,
      workload,
      impl: 'ours',
      size,
      create: () => nodePool('ours', task, chunksize),
    })
    const peers: RowSpec['peers'] = {}
    for (const which of variant.peers) {
      const key = `${workload}/${which}`
      jobs.push({
        key,
        workload,
        impl: PEER_NAMES[which as Exclude<Which, 'ours'>],
        size,
        create: () => nodePool(which, task, chunksize),
      })
      peers[PEER_NAMES[which as Exclude<Which, 'ours'>]] = { job: key, metric: 'rate' }
    }
    const pythonKey = `${workload}/python`
    jobs.push({
      key: pythonKey,
      workload,
      impl: PYTHON,
      size,
      skipped: pythonSkip(ctx),
      create: () =>
        pythonRunner<PoolReport>(
          ctx,
          'pool_bench.py',
          { size: SIZE, task, chunksize, mapLength: MAP_LENGTH },
          (result, n) => poolRep(result, n),
        ),
    })
    peers[PYTHON] = { job: pythonKey, metric: 'rate' }
    const isCpu = task === 'spin1ms'
    if (isCpu) {
      const key = `${workload}/ours-1worker`
      jobs.push({ key, workload, impl: ONE_WORKER, size, create: () => nodePool('ours', task, chunksize, 1) })
      peers[ONE_WORKER] = { job: key, metric: 'rate' }
    }
    rows.push({
      workload,
      title: variant.title,
      unit: 'tasks/s',
      higherIsBetter: true,
      target: isCpu
        ? {
            text: `≥ 95 % of ideal scaling (${SIZE} × our 1-worker rate)`,
            met: (ours, others) =>
              others[ONE_WORKER] === undefined ? undefined : ours >= 0.95 * SIZE * (others[ONE_WORKER] as number),
          }
        : chunksize === 1
          ? {
              text: '≥ 5× workerpool (process mode) and ≥ python mp.Pool.map',
              met: (ours, others) => {
                const workerpool = others[PEER_NAMES.workerpool]
                const python = others[PYTHON]
                if (workerpool === undefined) return undefined
                return ours >= 5 * workerpool && (python === undefined || ours >= python)
              },
            }
          : {
              text: '≥ python mp.Pool.map',
              met: (ours, others) => (others[PYTHON] === undefined ? undefined : ours >= (others[PYTHON] as number)),
            },
      note:
        (isCpu
          ? `Ideal scaling is ${SIZE} × the rate of our pool with 1 worker (its column), measured in the same run; a bare ${SIZE} × 1000 tasks/s leaves out the per-task cost every pool pays. `
          : '') +
        `${SIZE} workers each; a repetition maps n inputs (as maps of at most 100,000 inputs 0..length−1) and checks every result, timed from the first submission to the last result, in a child of the benchmark. ` +
        (chunksize === 'auto'
          ? 'Chunk size ceil(n / (4 × 2)) for ours, Python (its default) and the fork pool; piscina, tinypool and workerpool have no chunking and are in the chunksize-1 row.'
          : 'piscina, tinypool and workerpool run one task per message (they have no chunking); the fork pool sends chunks round-robin over process.send (advanced serialization).'),
      ours: { job: `${workload}/ours`, metric: 'rate' },
      peers,
    })
  }
  return { name: 'pool', title: 'Process pool', jobs, rows }
}
