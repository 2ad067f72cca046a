import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import type { Family, Job, Ref, RowSpec, Runner, Size, Target } from './harness.ts'
import { PAYLOADS, type Payload, payload as payloadOf } from './payloads.ts'
import { freshBuffer } from './peers/node-builtins.ts'
import { processSendChannel, processSendFan } from './peers/process-send.ts'
import { pythonRunner, pythonSkip } from './peers/python.ts'
import { udsChannel, udsFan } from './peers/uds.ts'
import { workerThreadsChannel, workerThreadsFan } from './peers/worker-threads.ts'
import { ChildHandle } from './process-handle.ts'
import { type FlowReport, throughputRep } from './rep.ts'

type TopologyId = '1to1' | '2to2' | '4to1' | '1to4'

interface Topology {
  id: TopologyId
  label: string
  producers: number
  consumers: number
  /** The payloads measured in this topology. */
  kinds: Payload['kind'][]
}

const TOPOLOGIES: Topology[] = [
  { id: '1to1', label: '1→1', producers: 1, consumers: 1, kinds: ['string', 'object', 'buffer64k'] },
  { id: '2to2', label: '2→2', producers: 2, consumers: 2, kinds: ['string', 'object', 'buffer64k'] },
  // Fan-in and fan-out (issue 15): small strings only.
  { id: '4to1', label: '4→1', producers: 4, consumers: 1, kinds: ['string'] },
  { id: '1to4', label: '1→4', producers: 1, consumers: 4, kinds: ['string'] },
]

function topologyOf(id: TopologyId): Topology {
  return TOPOLOGIES.find((t) => t.id === id) as Topology
}

/** Fan topologies have one producer or one consumer on one side and several on the other. */
function isFan(topology: Topology): boolean {
  return topology.producers !== topology.consumers
}

/** Items per `putManySync` / most items per `getManySync` in the batch rows. */
const BATCH = 64
/** The batch rows: 1→1 and 4→1 small strings (issue 15's "Batches"). */
const BATCH_TOPOLOGIES: TopologyId[] = ['1to1', '4to1']

/** Our queue for 64 KiB items gets room for a few dozen of them; small items use the default. */
const BUFFER_QUEUE_CAPACITY = 8 * 1024 * 1024

const script = join(childrenDir, 'ours-queue.mjs')

/**
 * Ours: producers `putSync` into one @ipc/queue Queue that consumers drain with a
 * `getSync` loop, each in its own process, attached with `Queue.from(handle)`. With
 * `batch`, producers `putManySync` arrays of `batch` items and the (single) consumer
 * drains with `getManySync({ max: batch })`.
 */
function oursQueue(ctx: RunContext, topology: Topology, payload: Payload, batch?: number): Runner {
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
      const consumed = consumers.map((c) =>
        batch
          ? c.request<FlowReport>('consumeMany', { payload: payload.kind, max: batch }, 600_000)
          : c.request<FlowReport>('consume', { payload: payload.kind }, 600_000),
      )
      const produce = { n: each, payload: payload.kind, sentinels: oneToOne ? 1 : 0 }
      const produced = producers.map((p) =>
        batch
          ? p.request<FlowReport>('produceMany', { ...produce, batch }, 600_000)
          : p.request<FlowReport>('produce', produce, 600_000),
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

function sizeFor(payload: Payload, topology: Topology, batch = 1): Size {
  // Every producer puts whole batches; fan-out peers give every consumer the same share.
  const multipleOf = Math.max(topology.producers, topology.consumers) * batch
  return payload.kind === 'buffer64k'
    ? { n0: 200, smoke: 10, max: 400_000, multipleOf }
    : { n0: 4000, smoke: 100, max: 40_000_000, multipleOf }
}

/** Node peers' channel jobs are shared with the pipe family (the same code measures both). */
export function channelJobKey(topology: string, kind: string, peer: string): string {
  return `channel.${topology}.${kind}/${peer}`
}

export function nodeChannelJobs(ctx: RunContext, topologyId: TopologyId, payload: Payload): Job[] {
  const topology = topologyOf(topologyId)
  const pairs = topology.producers
  const size = sizeFor(payload, topology)
  const workload = `channel.${topology.id}.${payload.kind}`
  if (isFan(topology)) {
    const shape = { payload: payload.kind, producers: topology.producers, consumers: topology.consumers }
    return [
      {
        key: channelJobKey(topology.id, payload.kind, 'process.send(advanced)'),
        workload,
        impl: 'process.send(advanced)',
        size,
        create: () => processSendFan({ serialization: 'advanced', ...shape }),
      },
      {
        key: channelJobKey(topology.id, payload.kind, 'worker_threads'),
        workload,
        impl: 'worker_threads',
        size,
        create: () => workerThreadsFan(shape),
      },
      {
        key: channelJobKey(topology.id, payload.kind, 'uds'),
        workload,
        impl: 'uds',
        size,
        create: () => udsFan(ctx, shape),
      },
    ]
  }
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
/** The Node peers of the fan rows (process.send with its advanced serialization only). */
const NODE_FAN_PEERS = ['process.send(advanced)', 'worker_threads', 'uds']

function nodePeersOf(topology: Topology): string[] {
  return isFan(topology) ? NODE_FAN_PEERS : NODE_CHANNEL_PEERS
}

/** How each topology's peers are wired, for the rows' notes. */
function topologyNote(topology: Topology): string | undefined {
  switch (topology.id) {
    case '2to2':
      return 'Ours and Python: 2 producers and 2 consumers share one queue. Node peers have no shared queue: they run 2 independent 1→1 channels (no load balancing).'
    case '4to1':
      return 'Ours and Python (mp.Queue): 4 producer processes put into one queue drained by 1 consumer process. uds: 4 source processes, one connection each, into 1 sink process that reads all 4 (frames batched into 64 KiB writes per connection). worker_threads: 4 producer threads, each with its own MessageChannel to 1 consumer thread (credit flow control per channel). process.send(advanced): 1 sink process forks 4 source children that each send to it.'
    case '1to4':
      return 'Ours and Python (mp.Queue): 1 producer process puts into one queue drained by 4 consumer processes (each item to whichever consumer takes it). uds: 1 source process writes item i to the i mod 4-th of 4 connections, one per sink process (a 64 KiB batch per connection). worker_threads: 1 producer thread posts item i to the i mod 4-th of 4 consumer threads, a MessageChannel each. process.send(advanced): 1 hub process forks 4 children and sends item i to the i mod 4-th, with the same backlog flow control per child.'
    default:
      return undefined
  }
}

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
    size: sizeFor(p, topologyOf('1to1')),
    create: () => freshBuffer({ payload: 'buffer64k' }),
  }
}

export function queueFamily(ctx: RunContext): Family {
  const jobs: Job[] = []
  const rows: RowSpec[] = []
  for (const topology of TOPOLOGIES) {
    for (const payload of PAYLOADS.filter((p) => topology.kinds.includes(p.kind))) {
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
      const peers = queuePeers(topology, payload)
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
        note: withCeiling ? FRESH_BUFFER_NOTE : topologyNote(topology),
        ours: { job: `${workload}/ours`, metric: 'rate' },
        peers,
      })
    }
  }
  // Batches: ours with putManySync / getManySync beside the very jobs of the single-item
  // row of that topology (its peers are measured once and serve both rows).
  for (const topologyId of BATCH_TOPOLOGIES) {
    const topology = topologyOf(topologyId)
    const p = payloadOf('string')
    const workload = `queue.${topology.id}.${p.kind}.batch${BATCH}`
    jobs.push({
      key: `${workload}/ours`,
      workload,
      impl: 'ours',
      size: sizeFor(p, topology, BATCH),
      create: () => oursQueue(ctx, topology, p, BATCH),
    })
    const wiring = topologyNote(topology)
    rows.push({
      workload,
      title: `Queue ${topology.label}, ${p.label}, batches of ${BATCH}`,
      unit: 'msg/s',
      higherIsBetter: true,
      bytesPerOp: p.bytes,
      target: atLeastBestPeer,
      note: `Ours: each producer calls putManySync() with arrays of ${BATCH} items; the consumer drains with getManySync({ max: ${BATCH} }). The peers are the same measurements as queue.${topology.id}.${p.kind} (single items; uds batches its frames into 64 KiB writes anyway).${wiring ? ` ${wiring}` : ''}`,
      ours: { job: `${workload}/ours`, metric: 'rate' },
      peers: queuePeers(topology, p),
    })
  }
  return { name: 'queue', title: 'Queue', jobs, rows }
}

/** The peers of a queue row: the Node channels of its topology and Python's mp.Queue. */
function queuePeers(topology: Topology, payload: Payload): Record<string, Ref> {
  const peers: Record<string, Ref> = {}
  for (const peer of nodePeersOf(topology)) {
    peers[peer] = { job: channelJobKey(topology.id, payload.kind, peer), metric: 'rate' }
  }
  peers['python mp.Queue'] = { job: `queue.${topology.id}.${payload.kind}/python`, metric: 'rate' }
  return peers
}

/** Issue 15's target for the new throughput rows: at least the best peer of the row. */
const atLeastBestPeer: Target = {
  text: '≥ 1.0× the best peer',
  met: (ours, peers) => {
    const values = Object.values(peers).filter((v): v is number => v !== undefined)
    return values.length === 0 ? undefined : ours >= Math.max(...values)
  },
}

function queueTarget(topology: Topology, payload: Payload): Pick<RowSpec, 'target'> {
  if (isFan(topology)) return { target: atLeastBestPeer }
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
