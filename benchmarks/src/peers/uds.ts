import { join } from 'node:path'
import { childrenDir, type RunContext } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { type FlowReport, latencyRep, throughputRep } from '../rep.ts'

const script = join(childrenDir, 'uds.mjs')

/** `pairs` independent socket connections, each from a source process to a sink process. */
export function udsChannel(ctx: RunContext, options: { payload: string; pairs: number }): Runner {
  const sinks: ChildHandle[] = []
  const sources: ChildHandle[] = []
  return {
    async setup() {
      for (let i = 0; i < options.pairs; i++) {
        const path = ctx.socketPath()
        const sink = ChildHandle.fork(`uds sink ${i}`, script, ['sink'])
        sinks.push(sink)
        await sink.request('setup', { path, payload: options.payload })
        const source = ChildHandle.fork(`uds source ${i}`, script, ['source'])
        sources.push(source)
        await source.request('setup', { path, payload: options.payload })
        await sink.request('accepted')
      }
    },
    async run(n) {
      const each = n / options.pairs
      await Promise.all(sinks.map((sink) => sink.request('arm', { n: each })))
      const ends = sinks.map((sink) => sink.request<FlowReport>('wait', {}, 600_000))
      const starts = await Promise.all(sources.map((source) => source.request<FlowReport>('run', { n: each }, 600_000)))
      return throughputRep([...starts, ...(await Promise.all(ends))], n)
    },
    async teardown() {
      await Promise.all([...sources, ...sinks].map((child) => child.stop()))
    },
  }
}

/** Round trips: a pinger process and an echo process on one connection. */
export function udsRtt(ctx: RunContext): Runner {
  let echo: ChildHandle | undefined
  let pinger: ChildHandle | undefined
  return {
    async setup() {
      const path = ctx.socketPath()
      echo = ChildHandle.fork('uds echo', script, ['echo'])
      await echo.request('setup', { path })
      pinger = ChildHandle.fork('uds pinger', script, ['pinger'])
      await pinger.request('setup', { path })
      await echo.request('accepted')
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
      await Promise.all([pinger?.stop(), echo?.stop()])
    },
  }
}
