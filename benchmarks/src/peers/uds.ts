import { join } from 'node:path'
import { childrenDir, type RunContext } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { type FlowReport, type IdleReport, idleRep, latencyRep, throughputRep } from '../rep.ts'

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

/**
 * Fan-in (`producers` sources into one sink process, a connection each) or fan-out (one
 * source writing item i to the i mod k-th of `consumers` sink processes); one side is 1.
 */
export function udsFan(ctx: RunContext, options: { payload: string; producers: number; consumers: number }): Runner {
  const sinks: ChildHandle[] = []
  const sources: ChildHandle[] = []
  return {
    async setup() {
      const paths: string[] = []
      for (let i = 0; i < options.consumers; i++) {
        const path = ctx.socketPath()
        const sink = ChildHandle.fork(`uds sink ${i}`, script, ['sink'])
        sinks.push(sink)
        await sink.request('setup', { path, payload: options.payload })
        paths.push(path)
      }
      for (let i = 0; i < options.producers; i++) {
        const source = ChildHandle.fork(`uds source ${i}`, script, ['source'])
        sources.push(source)
        // Fan-in: every source connects to the one sink; fan-out: the one source to every sink.
        await source.request('setup', { paths, payload: options.payload })
      }
      await Promise.all(sinks.map((sink) => sink.request('accepted', { connections: options.producers })))
    },
    async run(n) {
      await Promise.all(sinks.map((sink) => sink.request('arm', { n: n / sinks.length })))
      const ends = sinks.map((sink) => sink.request<FlowReport>('wait', {}, 600_000))
      const starts = await Promise.all(
        sources.map((source) => source.request<FlowReport>('run', { n: n / sources.length }, 600_000)),
      )
      return throughputRep([...starts, ...(await Promise.all(ends))], n)
    },
    async teardown() {
      await Promise.all([...sources, ...sinks].map((child) => child.stop()))
    },
  }
}

/**
 * Idle cost: one process with a pending read on each of `waiters` connections (to a
 * second process that writes one frame to each when asked); `run(ms)` measures for `ms`.
 */
export function udsIdle(ctx: RunContext, options: { waiters: number }): Runner {
  let idle: ChildHandle | undefined
  let waker: ChildHandle | undefined
  return {
    async setup() {
      const path = ctx.socketPath()
      waker = ChildHandle.fork('uds idle waker', script, ['idle-waker'])
      await waker.request('setup', { path })
      idle = ChildHandle.fork('uds idle reader', script, ['idle'])
      await idle.request('setup', { path, count: options.waiters })
      await waker.request('accepted', { connections: options.waiters })
    },
    async run(ms) {
      const measured = await (idle as ChildHandle).request<IdleReport>('idle', { ms }, ms + 30_000)
      await (waker as ChildHandle).request('wake')
      const woken = await (idle as ChildHandle).request<FlowReport>('collect', {}, 30_000)
      return idleRep(measured, woken, options.waiters)
    },
    async teardown() {
      await Promise.all([idle?.stop(), waker?.stop()])
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
