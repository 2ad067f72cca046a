import { join } from 'node:path'
import { childrenDir } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { type FlowReport, latencyRep, throughputRep } from '../rep.ts'

/** Node's child_process IPC, with either serialization. */
export type Serialization = 'json' | 'advanced'

const script = join(childrenDir, 'process-send.mjs')

/**
 * `pairs` independent channels: each sink child forks its own source and counts what
 * the source sends with `process.send` (a child can only talk to its parent, so two
 * producers and two consumers are two pairs; no load balancing is asked of them).
 */
export function processSendChannel(options: { serialization: Serialization; payload: string; pairs: number }): Runner {
  const sinks: ChildHandle[] = []
  return {
    async setup() {
      for (let i = 0; i < options.pairs; i++) {
        sinks.push(ChildHandle.fork(`process.send(${options.serialization}) sink ${i}`, script, ['sink']))
      }
      await Promise.all(sinks.map((sink) => sink.request('setup', options)))
    },
    async run(n) {
      const each = n / options.pairs
      const reports = await Promise.all(sinks.map((sink) => sink.request<FlowReport>('run', { n: each }, 600_000)))
      return throughputRep(reports, n)
    },
    async teardown() {
      await Promise.all(sinks.map((sink) => sink.stop()))
    },
  }
}

/**
 * Fan-in: one sink child forks `producers` sources and counts what they all send. Fan-out:
 * one hub child forks `consumers` leaves and sends item i to the i mod k-th leaf (a child
 * can only talk to its parent, so the one side of the fan is the parent).
 */
export function processSendFan(options: {
  serialization: Serialization
  payload: string
  producers: number
  consumers: number
}): Runner {
  let parent: ChildHandle | undefined
  const fanIn = options.consumers === 1
  return {
    async setup() {
      const { serialization, payload } = options
      parent = ChildHandle.fork(`process.send(${serialization}) ${fanIn ? 'sink' : 'hub'}`, script, [
        fanIn ? 'sink' : 'hub',
      ])
      await parent.request(
        'setup',
        fanIn
          ? { serialization, payload, sources: options.producers }
          : { serialization, payload, leaves: options.consumers },
      )
    },
    async run(n) {
      const report = await (parent as ChildHandle).request<FlowReport>('run', { n }, 600_000)
      return throughputRep([report], n)
    },
    async teardown() {
      await parent?.stop()
    },
  }
}

/** Round trips: a pinger child forks an echo child and times `send` → reply. */
export function processSendRtt(options: { serialization: Serialization }): Runner {
  let pinger: ChildHandle | undefined
  return {
    async setup() {
      pinger = ChildHandle.fork(`process.send(${options.serialization}) pinger`, script, ['pinger'])
      await pinger.request('setup', options)
    },
    async run(n) {
      const result = await (pinger as ChildHandle).request<{ elapsedNs: number; median: number; p99: number }>(
        'run',
        { n },
        600_000,
      )
      return latencyRep(result)
    },
    async teardown() {
      await pinger?.stop()
    },
  }
}
