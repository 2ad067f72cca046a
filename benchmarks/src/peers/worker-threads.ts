import { join } from 'node:path'
import { childrenDir } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { type FlowReport, type IdleReport, idleRep, latencyRep, throughputRep } from '../rep.ts'

const script = join(childrenDir, 'worker-threads.mjs')

/** `pairs` producer threads, each posting to its own consumer thread over a MessageChannel. */
export function workerThreadsChannel(options: { payload: string; pairs: number }): Runner {
  let host: ChildHandle | undefined
  return {
    async setup() {
      host = ChildHandle.fork('worker_threads host', script)
      await host.request('setup', { mode: 'channel', ...options })
    },
    async run(n) {
      const report = await (host as ChildHandle).request<FlowReport>('run', { n }, 600_000)
      return throughputRep([report], n)
    },
    async teardown() {
      await host?.stop()
    },
  }
}

/**
 * Fan-in or fan-out in one process: `producers` threads and `consumers` threads (one side
 * is 1) with a MessageChannel between every producer and every consumer; a lone producer
 * posts item i to the i mod k-th consumer. Credit flow control per channel.
 */
export function workerThreadsFan(options: { payload: string; producers: number; consumers: number }): Runner {
  let host: ChildHandle | undefined
  return {
    async setup() {
      host = ChildHandle.fork('worker_threads host', script)
      await host.request('setup', { mode: 'fan', ...options })
    },
    async run(n) {
      const report = await (host as ChildHandle).request<FlowReport>('run', { n }, 600_000)
      return throughputRep([report], n)
    },
    async teardown() {
      await host?.stop()
    },
  }
}

/**
 * Idle cost: the main thread of a process holds `waiters` MessagePorts, each with a pending
 * `once('message')`; a worker thread of the same process holds the other ends and posts
 * one item on each when asked. `run(ms)` measures for `ms`.
 */
export function workerThreadsIdle(options: { waiters: number }): Runner {
  let host: ChildHandle | undefined
  return {
    async setup() {
      host = ChildHandle.fork('worker_threads idle host', script)
      await host.request('setup', { mode: 'idle', count: options.waiters })
    },
    async run(ms) {
      const child = host as ChildHandle
      const measured = await child.request<IdleReport>('idle', { ms }, ms + 30_000)
      await child.request('wake')
      const woken = await child.request<FlowReport>('collect', {}, 30_000)
      return idleRep(measured, woken, options.waiters)
    },
    async teardown() {
      await host?.stop()
    },
  }
}

/** Round trips between the host thread and an echo thread. */
export function workerThreadsRtt(): Runner {
  let host: ChildHandle | undefined
  return {
    async setup() {
      host = ChildHandle.fork('worker_threads host', script)
      await host.request('setup', { mode: 'rtt' })
    },
    async run(n) {
      const result = await (host as ChildHandle).request<{ elapsedNs: number; median: number; p99: number }>(
        'run',
        { n },
        600_000,
      )
      return latencyRep(result)
    },
    async teardown() {
      await host?.stop()
    },
  }
}
