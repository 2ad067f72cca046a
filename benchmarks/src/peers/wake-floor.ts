import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { childrenDir, type RunContext } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { wakeupRep } from '../rep.ts'

const script = join(childrenDir, 'wake-floor.mjs')

/**
 * How the waiter of a Node wake-up floor waits (children/wake-floor.mjs): 'futex' blocks
 * in the native futex wait; the others resolve a pending promise on the event loop.
 */
export type WakeKind = 'futex' | 'wait' | 'uds' | 'fifo' | 'signal'

/**
 * The semaphore wake-up rows' protocol between two Node processes with no semaphore: a
 * waiter and a releaser on one shared word, the releaser sleeping `gapMs` before each
 * release; `kind` says how the waiter waits and how the releaser wakes it.
 */
export function nodeWakeFloor(ctx: RunContext, kind: WakeKind, gapMs: number): Runner {
  let releaser: ChildHandle | undefined
  let waiter: ChildHandle | undefined
  return {
    async setup() {
      releaser = ChildHandle.fork(`node ${kind} releaser`, script)
      waiter = ChildHandle.fork(`node ${kind} waiter`, script)
      const name = ctx.uniqueName('wake')
      const created = await releaser.request<{ names: unknown[] }>('create', { name })
      for (const segment of created.names) ctx.rememberSegment(segment)
      await waiter.request('attach', { name })
      if (kind === 'futex' || kind === 'wait') return
      const path = kind === 'fifo' ? join(ctx.tmpDir, ctx.uniqueName('fifo')) : ctx.socketPath()
      if (kind === 'fifo') execFileSync('mkfifo', [path])
      const { pid } = await waiter.request<{ pid: number }>('listen', { kind, path })
      await releaser.request('connect', { kind, path, pid })
    },
    async run(n) {
      const woken = (waiter as ChildHandle).request<{ woken: number[] }>('waiter', { n, kind }, 600_000)
      const { released } = await (releaser as ChildHandle).request<{ released: number[] }>(
        'releaser',
        { n, gapMs, kind },
        600_000,
      )
      return wakeupRep(released, (await woken).woken)
    },
    async teardown() {
      await waiter?.stop()
      await releaser?.stop()
    },
  }
}
