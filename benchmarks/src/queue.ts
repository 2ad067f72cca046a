import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import type { Family, Job, Ref, RowSpec, Runner, Size } from './harness.ts'
import { PAYLOADS, type Payload, payload as payloadOf } from './payloads.ts'
import { freshBuffer } from './peers/node-builtins.ts'
import { processSendChannel } from './peers/process-send.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { udsChannel } from './peers/uds.ts'
import { workerThreadsChannel } from './peers/worker-threads.ts'
import { ChildHandle } from './process-handle.ts'
import { type FlowReport, throughputRep } from './rep.ts'

interface Topology {
  id: '1to1' | '2to2'
  label: string
  producers: number
  consumers: number
}

const TOPOLOGIES: Topology[] = [
  { id: '1to1', label: '1→1', producers: 1, consumers: 1 },
  { id: '2to2', label: '2→2', producers: 2, consumers: 2 },
]

/** Our queue for 64 KiB items gets room for a few dozen of them; small items use the default. */
const BUFFER_QUEUE_CAPACITY = 8 * 1024 * 1024

const script = join(childrenDir, 'ours-queue.mjs')

/**
 * Ours: producers `putSync` into one @ipc/queue Queue that consumers drain with a
 * `getSync` loop, each in its own process, attached with `Queue.from(handle)`.
 */
function oursQueue(ctx: RunContext, topology: Topology, payload: Payload): Runner {
  const producers: ChildHandle[] = []
  const consumers: ChildHandle[] = []
  const oneToOne = topology.producers === 1 && topology.consumers === 1
  return {
    async setup() {
      for (let i = 0; i < topology.producers; i++) producers.push(ChildHandle.fork(`ours producer ${i}`, script))
      for (let i = 0; i < topology.consumers; i++) consumers.push(ChildHandle.fork(`ours consumer ${i}`, script))
      const creator = producers[0] as ChildHandle
      const created = await creator.request<{ handle: unknown; name: string }>('create', {
        name: ctx.uniqueName('q'),
        capacity: payload.kind === 'buffer64k' ? BUFFER_QUEUE_CAPACITY : undefined,
      })
      ctx.rememberSegment(created.name)
      await Promise.all(
        [...producers.slice(1), ...consumers].map((child) => child.request('attach', { handle: created.handle })),
      )
    },
    async run(n) {
      const each = n / topology.producers
      const consumed = consumers.map((c) => c.request<FlowReport>('consume', { payload: payload.kind }, 600_000))
      const produced = producers.map((p) =>
        p.request<FlowReport>('produce', { n: each, payload: payload.kind, sentinels: oneToOne ? 1 : 0 }, 600_000),
      )
      const starts = await Promise.all(produced)
      if (!oneToOne) await (producers[0] as ChildHandle).request('sentinels', { k: topology.consumers })
      const ends = await Promise.all(consumed)
      // The producers' own tEnd is when they finished putting, not when data arrived.
      return throughputRep([...starts.map((s) => ({ tStart: s.tStart })), ...ends], n)
    },
    async teardown() {
      // The creator goes last, so it unlinks after everyone detached.
      await Promise.all([...consumers, ...producers.slice(1)].map((child) => child.stop()))
      await producers[0]?.stop()
    },
  }
}

function sizeFor(payload: Payload, topology: Topology): Size {
  const multipleOf = topology.producers
  return payload.kind === 'buffer64k'
    ? { n0: 200, smoke: 10, max: 400_000, multipleOf }
    : { n0: 4000, smoke: 100, max: 40_000_000, multipleOf }
}

/** Node peers' channel jobs are shared with the pipe family (the same code measures both). */
export function channelJobKey(topology: string, kind: string, peer: string): string {
  return `channel.${topology}.${kind}/${peer}`
}

export function nodeChannelJobs(ctx: RunContext, topologyId: '1to1' | '2to2', payload: Payload): Job[] {
  const topology = TOPOLOGIES.find((t) => t.id === topologyId) as Topology
  const pairs = topology.producers
  const size = sizeFor(payload, topology)
  const workload = `channel.${topology.id}.${payload.kind}`
  return [
    {
      key: channelJobKey(topology.id, payload.kind, 'process.send(json)'),
      workload,
      impl: 'process.send(json)',
      size,
      create: () => processSendChannel({ serialization: 'json', payload: payload.kind, pairs }),
    },
    {
      key: channelJobKey(topology.id, payload.kind, 'process.send(advanced)'),
      workload,
      impl: 'process.send(advanced)',
      size,
      create: () => processSendChannel({ serialization: 'advanced', payload: payload.kind, pairs }),
    },
    {
      key: channelJobKey(topology.id, payload.kind, 'worker_threads'),
      workload,
      impl: 'worker_threads',
      size,
      create: () => workerThreadsChannel({ payload: payload.kind, pairs }),
    },
    {
      key: channelJobKey(topology.id, payload.kind, 'uds'),
      workload,
      impl: 'uds',
      size,
      create: () => udsChannel(ctx, { payload: payload.kind, pairs }),
    },
  ]
}

export const NODE_CHANNEL_PEERS = ['process.send(json)', 'process.send(advanced)', 'worker_threads', 'uds']

/**
 * The reference beside the 1→1 64 KiB Buffer rows (queue.1to1 and pipe.oneway share its
 * one job): `Buffer.from(payload)` in a loop in one process, no IPC. Every get()/recv()
 * that returns a new Buffer per item does this allocation + copy, so no such consumer
 * can beat it. Where freed 64 KiB blocks go back to the OS (glibc trims its heap), each
 * new one faults its pages in again, so this can sit far below a plain memcpy.
 */
export const FRESH_BUFFER_PEER = 'one process: new Buffer + copy (ceiling)'
export const FRESH_BUFFER_NOTE =
  'The ceiling column is Buffer.from() of the 64 KiB payload in a loop in one process, with no IPC: the allocation + copy that every get()/recv() of a Buffer must do, so the most any consumer that returns a new Buffer per item can reach on this machine.'

export function freshBufferJob(): Job {
  const p = payloadOf('buffer64k')
  return {
    key: 'reference.buffer64k/new-buffer-copy',
    workload: 'reference.buffer64k',
    impl: FRESH_BUFFER_PEER,
    size: sizeFor(p, TOPOLOGIES.find((t) => t.id === '1to1') as Topology),
    create: () => freshBuffer({ payload: 'buffer64k' }),
  }
}

export function queueFamily(ctx: RunContext): Family {
  const jobs: Job[] = []
  const rows: RowSpec[] = []
  for (const topology of TOPOLOGIES) {
    for (const payload of PAYLOADS) {
      const workload = `queue.${topology.id}.${payload.kind}`
      const size = sizeFor(payload, topology)
      jobs.push({
        key: `${workload}/ours`,
        workload,
        impl: 'ours',
        size,
        create: () => oursQueue(ctx, topology, payload),
      })
      jobs.push(...nodeChannelJobs(ctx, topology.id, payload))
      jobs.push({
        key: `${workload}/python`,
        workload,
        impl: 'python mp.Queue',
        size,
        skipped: pythonSkip(ctx),
        create: () =>
          pythonRunner<FlowReport>(
            ctx,
            'queue_bench.py',
            { producers: topology.producers, consumers: topology.consumers, payload: payload.kind },
            (result, n) => throughputRep([result], n),
          ),
      })
      const peers: Record<string, Ref> = {}
      for (const peer of NODE_CHANNEL_PEERS) {
        peers[peer] = { job: channelJobKey(topology.id, payload.kind, peer), metric: 'rate' }
      }
      peers['python mp.Queue'] = { job: `${workload}/python`, metric: 'rate' }
      const withCeiling = topology.id === '1to1' && payload.kind === 'buffer64k'
      if (withCeiling) {
        const job = freshBufferJob()
        jobs.push(job)
        peers[FRESH_BUFFER_PEER] = { job: job.key, metric: 'rate' }
      }
      rows.push({
        workload,
        title: `Queue ${topology.label}, ${payload.label}`,
        unit: 'msg/s',
        higherIsBetter: true,
        bytesPerOp: payload.bytes,
        ...queueTarget(topology, payload),
        note:
          topology.id === '2to2'
            ? 'Ours and Python: 2 producers and 2 consumers share one queue. Node peers have no shared queue: they run 2 independent 1→1 channels (no load balancing).'
            : withCeiling
              ? FRESH_BUFFER_NOTE
              : undefined,
        ours: { job: `${workload}/ours`, metric: 'rate' },
        peers,
      })
    }
  }
  return { name: 'queue', title: 'Queue', jobs, rows }
}

function queueTarget(topology: Topology, payload: Payload): Pick<RowSpec, 'target'> {
  if (payload.kind === 'string' && topology.id === '1to1') {
    return { target: { text: '≥ 2,000,000 msg/s', met: (ours) => ours >= 2_000_000 } }
  }
  if (payload.kind === 'string' && topology.id === '2to2') {
    return { target: { text: '≥ 1,000,000 msg/s', met: (ours) => ours >= 1_000_000 } }
  }
  if (payload.kind === 'buffer64k' && topology.id === '1to1') {
    return { target: { text: '≥ 10 GB/s', met: (ours) => ours * payload.bytes >= 10e9 } }
  }
  return {}
}
