import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import type { Family, Job, Ref, Rep, RowSpec, Runner, Size } from './harness.ts'
import { type Payload, payload } from './payloads.ts'
import { cPingPong, cSkip } from './peers/c.ts'
import { processSendRtt } from './peers/process-send.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { udsRtt } from './peers/uds.ts'
import { workerThreadsRtt } from './peers/worker-threads.ts'
import { PLACEMENTS, pinProcess, placementSkip } from './pinning.ts'
import { ChildHandle } from './process-handle.ts'
import {
  channelJobKey,
  FRESH_BUFFER_NOTE,
  FRESH_BUFFER_PEER,
  freshBufferJob,
  NODE_CHANNEL_PEERS,
  nodeChannelJobs,
} from './queue.ts'
import { type FlowReport, latencyRep, throughputRep } from './rep.ts'
import { THREADS_PEER } from './semaphore.ts'

const script = join(childrenDir, 'ours-pipe.mjs')
/** Ours as the echo peer of a Python process (started by python/pipe_bench.py). */
const pythonEchoScript = join(childrenDir, 'python-echo.mjs')

type Latency = { elapsedNs: number; median: number; p99: number }

/**
 * Two processes on the two ends of one `Pipe()`; one creates it, the other
 * attaches. `env` goes to both; with `cpus`, end a is pinned to the first
 * CPU and end b to the second.
 */
function oursPipe(
  ctx: RunContext,
  body: (a: ChildHandle, b: ChildHandle, n: number) => Promise<Rep>,
  env: Record<string, string> = {},
  cpus?: readonly [number, number],
): Runner {
  let a: ChildHandle | undefined
  let b: ChildHandle | undefined
  return {
    async setup() {
      a = ChildHandle.fork('ours pipe end a', script, [], env)
      b = ChildHandle.fork('ours pipe end b', script, [], env)
      const created = await a.request<{ handle: unknown; names: unknown[] }>('create')
      for (const name of created.names ?? []) ctx.rememberSegment(name)
      await b.request('attach', { handle: created.handle })
      if (cpus) {
        pinProcess(a.pid, cpus[0])
        pinProcess(b.pid, cpus[1])
      }
    },
    async run(n) {
      return body(a as ChildHandle, b as ChildHandle, n)
    },
    async teardown() {
      await b?.stop()
      await a?.stop()
    },
  }
}

function oursRtt(
  ctx: RunContext,
  useAsync: boolean,
  env: Record<string, string> = {},
  cpus?: readonly [number, number],
): Runner {
  return oursPipe(
    ctx,
    async (a, b, n) => {
      const echoed = b.request('echo', { n, async: useAsync }, 600_000)
      const result = await a.request<Latency>('ping', { n, async: useAsync }, 600_000)
      await echoed
      return latencyRep(result)
    },
    env,
    cpus,
  )
}

function oursOneway(ctx: RunContext, p: Payload): Runner {
  return oursPipe(ctx, async (a, b, n) => {
    const received = a.request<FlowReport>('recv', { n, payload: p.kind }, 600_000)
    const sent = await b.request<FlowReport>('send', { n, payload: p.kind }, 600_000)
    return throughputRep([{ tStart: sent.tStart }, await received], n)
  })
}

/** The peer of the Python ↔ Node row: the same Python pinger with a Python echo peer. */
const PYTHON_TCP_PEER = 'python ↔ python'

const RTT_SIZE: Size = { n0: 200, smoke: 20, max: 200_000 }

export function pipeFamily(ctx: RunContext): Family {
  const jobs: Job[] = [
    { key: 'pipe.rtt/ours', workload: 'pipe.rtt', impl: 'ours', size: RTT_SIZE, create: () => oursRtt(ctx, false) },
    {
      key: 'pipe.rtt-async/ours',
      workload: 'pipe.rtt.async',
      impl: 'ours',
      size: RTT_SIZE,
      create: () => oursRtt(ctx, true),
    },
    {
      key: 'pipe.rtt-async-threads/ours',
      workload: 'pipe.rtt.async',
      impl: THREADS_PEER,
      size: RTT_SIZE,
      create: () => oursRtt(ctx, true, { IPC_NO_FUTEX_WAITV: '1' }),
    },
    {
      key: 'pipe.rtt/process.send(json)',
      workload: 'pipe.rtt',
      impl: 'process.send(json)',
      size: RTT_SIZE,
      create: () => processSendRtt({ serialization: 'json' }),
    },
    {
      key: 'pipe.rtt/process.send(advanced)',
      workload: 'pipe.rtt',
      impl: 'process.send(advanced)',
      size: RTT_SIZE,
      create: () => processSendRtt({ serialization: 'advanced' }),
    },
    {
      key: 'pipe.rtt/worker_threads',
      workload: 'pipe.rtt',
      impl: 'worker_threads',
      size: RTT_SIZE,
      create: workerThreadsRtt,
    },
    { key: 'pipe.rtt/uds', workload: 'pipe.rtt', impl: 'uds', size: RTT_SIZE, create: () => udsRtt(ctx) },
    {
      key: 'pipe.rtt/python',
      workload: 'pipe.rtt',
      impl: 'python mp.Pipe',
      size: RTT_SIZE,
      skipped: pythonSkip(ctx),
      create: () => pythonRunner<Latency>(ctx, 'pipe_bench.py', { mode: 'rtt' }, (result) => latencyRep(result)),
    },
  ]
  // Python pings over multiprocessing.connection on TCP (pickles, an authkey); the echo peer
  // is ours (@ipc/pipe Client with codec 'pickle') or a Python process, in the same run.
  for (const echo of ['node', 'python'] as const) {
    jobs.push({
      key: `pipe.python-rtt/${echo}`,
      workload: 'pipe.python.rtt',
      impl: echo === 'node' ? 'ours' : PYTHON_TCP_PEER,
      size: RTT_SIZE,
      skipped: pythonSkip(ctx),
      create: () =>
        pythonRunner<Latency>(
          ctx,
          'pipe_bench.py',
          { mode: 'tcp-rtt', echo, node: process.execPath, script: pythonEchoScript },
          (result) => latencyRep(result),
        ),
    })
  }
  const rttPeers = (metric: string): Record<string, Ref> => ({
    'process.send(json)': { job: 'pipe.rtt/process.send(json)', metric },
    'process.send(advanced)': { job: 'pipe.rtt/process.send(advanced)', metric },
    worker_threads: { job: 'pipe.rtt/worker_threads', metric },
    uds: { job: 'pipe.rtt/uds', metric },
    'python mp.Pipe': { job: 'pipe.rtt/python', metric },
  })
  const belowPeers = (names: string[]) => (ours: number, peers: Record<string, number | undefined>) => {
    const values = names.map((name) => peers[name])
    if (values.some((v) => v === undefined)) return undefined
    return values.every((v) => ours < (v as number))
  }
  // Median and p99 rows of one ours round-trip job; the median carries the target.
  const rttRows = (
    workload: string,
    how: string,
    job: string,
    extra: (metric: string) => Record<string, Ref>,
  ): RowSpec[] =>
    (['median', 'p99'] as const).map((metric) => ({
      workload: `${workload}.${metric}`,
      title: `Pipe ping-pong round trip, ${metric} (${how})`,
      unit: 'µs',
      higherIsBetter: false,
      target:
        metric === 'median'
          ? {
              text: 'below process.send and uds',
              met: belowPeers(['process.send(json)', 'process.send(advanced)', 'uds']),
            }
          : undefined,
      ours: { job, metric },
      peers: { ...rttPeers(metric), ...extra(metric) },
    }))
  const rows: RowSpec[] = [
    ...rttRows('pipe.rtt', 'sendSync/recvSync', 'pipe.rtt/ours', () => ({})),
    // The same ping-pong with async waits on the fallback for kernels without futex_waitv.
    ...rttRows('pipe.rtt.async', 'await send/recv', 'pipe.rtt-async/ours', (metric) => ({
      [THREADS_PEER]: { job: 'pipe.rtt-async-threads/ours', metric },
    })),
  ]
  // Pinned round trips: the same ping-pong with both ends placed by taskset,
  // beside Python's pinned the same way and the C floors in that placement.
  for (const placement of PLACEMENTS) {
    const skipped = placementSkip(placement)
    const { key, cpus, title } = placement
    const floors = { 'C futex (floor)': 'futex', 'C spin (floor)': 'spin' } as const
    for (const [peer, floor] of Object.entries(floors)) {
      jobs.push({
        key: `pipe.rtt.${key}/${floor}`,
        workload: `pipe.rtt.${key}`,
        impl: peer,
        size: RTT_SIZE,
        skipped: skipped ?? cSkip(ctx),
        create: () => cPingPong(ctx, floor, cpus),
      })
    }
    jobs.push({
      key: `pipe.rtt.${key}/python`,
      workload: `pipe.rtt.${key}`,
      impl: 'python mp.Pipe',
      size: RTT_SIZE,
      skipped: skipped ?? pythonSkip(ctx),
      create: () => pythonRunner<Latency>(ctx, 'pipe_bench.py', { mode: 'rtt', cpus }, (result) => latencyRep(result)),
    })
    for (const useAsync of [false, true]) {
      const workload = useAsync ? `pipe.rtt.async.${key}` : `pipe.rtt.${key}`
      const job = `${workload}/ours`
      jobs.push({
        key: job,
        workload,
        impl: 'ours',
        size: RTT_SIZE,
        skipped,
        create: () => oursRtt(ctx, useAsync, {}, cpus),
      })
      for (const metric of ['median', 'p99'] as const) {
        const peers: Record<string, Ref> = {
          'python mp.Pipe': { job: `pipe.rtt.${key}/python`, metric },
        }
        for (const [peer, floor] of Object.entries(floors)) peers[peer] = { job: `pipe.rtt.${key}/${floor}`, metric }
        rows.push({
          workload: `${workload}.${metric}`,
          title: `Pipe round trip, ${title}, ${metric} (${useAsync ? 'await send/recv' : 'sendSync/recvSync'})`,
          unit: 'µs',
          higherIsBetter: false,
          target:
            metric === 'median'
              ? {
                  text: '≤ Python and ≤ 2× the lower C floor',
                  met: (ours, values) => {
                    const python = values['python mp.Pipe']
                    const futex = values['C futex (floor)']
                    const spin = values['C spin (floor)']
                    if (python === undefined || futex === undefined || spin === undefined) return undefined
                    return ours <= python && ours <= 2 * Math.min(futex, spin)
                  },
                }
              : undefined,
          note: 'Both processes pinned with taskset -a (every thread). The C floors ping-pong one word of shared memory between two processes pinned the same way: futex sleeps on it, spin re-reads it (yielding the CPU between looks).',
          ours: { job, metric },
          peers,
        })
      }
    }
  }
  for (const kind of ['string', 'buffer64k'] as const) {
    const p = payload(kind)
    const workload = `pipe.oneway.${kind}`
    const size: Size =
      kind === 'buffer64k' ? { n0: 200, smoke: 10, max: 400_000 } : { n0: 4000, smoke: 100, max: 40_000_000 }
    jobs.push({ key: `${workload}/ours`, workload, impl: 'ours', size, create: () => oursOneway(ctx, p) })
    jobs.push(...nodeChannelJobs(ctx, '1to1', p))
    jobs.push({
      key: `${workload}/python`,
      workload,
      impl: 'python mp.Pipe',
      size,
      skipped: pythonSkip(ctx),
      create: () =>
        pythonRunner<FlowReport>(ctx, 'pipe_bench.py', { mode: 'oneway', payload: kind }, (result, n) =>
          throughputRep([result], n),
        ),
    })
    const peers: Record<string, Ref> = {}
    for (const peer of NODE_CHANNEL_PEERS) peers[peer] = { job: channelJobKey('1to1', kind, peer), metric: 'rate' }
    peers['python mp.Pipe'] = { job: `${workload}/python`, metric: 'rate' }
    if (kind === 'buffer64k') {
      const job = freshBufferJob()
      jobs.push(job)
      peers[FRESH_BUFFER_PEER] = { job: job.key, metric: 'rate' }
    }
    rows.push({
      workload,
      title: `Pipe one-way throughput, ${p.label}`,
      unit: 'msg/s',
      higherIsBetter: true,
      bytesPerOp: p.bytes,
      // The target is for small messages only.
      target:
        kind === 'string'
          ? {
              text: '≥ 10× process.send',
              met: (ours, values) => {
                const json = values['process.send(json)']
                const advanced = values['process.send(advanced)']
                if (json === undefined || advanced === undefined) return undefined
                return ours >= 10 * Math.max(json, advanced)
              },
            }
          : undefined,
      note:
        kind === 'buffer64k'
          ? `Ours and Python use sendBytes/recvBytes (send_bytes/recv_bytes). The Node peers are the same measurement as queue.1to1.buffer64k. ${FRESH_BUFFER_NOTE}`
          : 'The Node peers are the same measurement as queue.1to1.string (one channel, one direction).',
      ours: { job: `${workload}/ours`, metric: 'rate' },
      peers,
    })
  }
  rows.push(
    ...(['median', 'p99'] as const).map(
      (metric): RowSpec => ({
        workload: `pipe.python.rtt.${metric}`,
        title: `Python ↔ Node round trip over multiprocessing.connection (TCP, pickle), ${metric}`,
        unit: 'µs',
        higherIsBetter: false,
        note: "Python times send()/recv() of the string payload to an echo peer over multiprocessing.connection on 127.0.0.1 (authkey, pickles). Ours: the echo peer is Node (@ipc/pipe Client with codec 'pickle'); the peer: the echo peer is Python.",
        ours: { job: 'pipe.python-rtt/node', metric },
        peers: { [PYTHON_TCP_PEER]: { job: 'pipe.python-rtt/python', metric } },
      }),
    ),
  )
  return { name: 'pipe', title: 'Pipe', jobs, rows }
}
