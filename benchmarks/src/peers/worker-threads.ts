import { join } from 'node:path'
import { childrenDir } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { type FlowReport, latencyRep, throughputRep } from '../rep.ts'

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
