import { join } from 'node:path'
import { childrenDir } from '../context.ts'
import type { Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'
import { addRep, copyRep, type FlowReport, throughputRep } from '../rep.ts'

const script = join(childrenDir, 'node-builtins.mjs')

/** `Atomics.add` on an Int32Array over a SharedArrayBuffer, in one process. */
export function atomicsAdd(): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork('Atomics.add', script)
      await child.ready
    },
    async run(n) {
      return addRep(child as ChildHandle, n)
    },
    async teardown() {
      await child?.stop()
    },
  }
}

/** `Buffer.copy` of `bytes` between two ordinary Buffers, both ways (a memcpy baseline). */
export function bufferCopy(options: { bytes: number }): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork('Buffer.copy', script)
      await child.request('copy.setup', options)
    },
    async run(n) {
      const result = await (child as ChildHandle).request<{ writeNs: number; readNs: number; ok: boolean }>(
        'copy.run',
        { n },
        600_000,
      )
      return copyRep(result, n, options.bytes)
    },
    async teardown() {
      await child?.stop()
    },
  }
}

/**
 * `Buffer.from(source)` of a payload Buffer in a loop, in one process with no IPC: the
 * allocation + copy that every get()/recv() returning a new Buffer per item must do, so
 * the ceiling for such a consumer. Reported as msg/s, like the channels it sits beside.
 */
export function freshBuffer(options: { payload: 'buffer64k' }): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork('new Buffer + copy', script)
      await child.ready
    },
    async run(n) {
      const result = await (child as ChildHandle).request<FlowReport>('fresh.run', { n, ...options }, 600_000)
      return throughputRep([result], n)
    },
    async teardown() {
      await child?.stop()
    },
  }
}
