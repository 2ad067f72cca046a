/**
 * Remote fences (waiting/remote-fence.ts) and the SPSC ring's plain publish
 * that relies on them: on x64 a producer stores head with a plain store while
 * every process of the ring takes part; a consumer fences after it registers
 * and before its re-check; a process that takes no part sets the ring's
 * `atomicPublish` word when it attaches, and everyone publishes atomically.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { seccompLauncher, uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { encode } from '../src/codec/codec.js'
import { Segment } from '../src/memory/segment.js'
import { native } from '../src/native.js'
import { initSpscRing, RING_EMPTY, SpscRing, spscRingBytes } from '../src/rings/spsc-ring.js'
import { plainPublishing } from '../src/waiting/remote-fence.js'

/** Word index of `atomicPublish` (the layout table of spsc-ring.ts). */
const ATOMIC_PUBLISH = 7
const COUNT = 3000
const consumerFixture = new URL('./fixtures/ring-consumer.mjs', import.meta.url)
/** CI runs this file once more with `IPC_NO_REMOTE_FENCE=1`: no thread then takes part. */
const fencesOff = process.env.IPC_NO_REMOTE_FENCE === '1'
const registration = native().fenceRegister?.() ?? -1
/** Undefined (the seccomp test skipped) when there is no C compiler. */
const launcher = seccompLauncher()

function ring(): { sab: SharedArrayBuffer; producer: SpscRing } {
  const sab = new SharedArrayBuffer(spscRingBytes(1024))
  initSpscRing(sab, 0, 1024)
  return { sab, producer: new SpscRing(sab, 0) }
}

/** Writes COUNT values to a ring whose consumer is a worker thread with `env`; returns what it saw. */
async function stream(env: NodeJS.ProcessEnv): Promise<{ producer: SpscRing; flag: number; inOrder: number }> {
  const { sab, producer } = ring()
  const worker = new Worker(consumerFixture, { workerData: { sab, count: COUNT }, env })
  try {
    const [attached] = await once(worker, 'message')
    expect(attached).toBe('attached')
    const flag = Atomics.load(new Int32Array(sab), ATOMIC_PUBLISH)
    for (let i = 0; i < COUNT; i++) {
      expect(producer.writeSync(encode(i), 10_000)).toBe('ok')
      // Gaps of 0 to 19 µs, so that the consumer keeps going to sleep and being woken.
      const until = performance.now() + ((i * 7919) % 20) / 1000
      while (performance.now() < until);
    }
    const [result] = await once(worker, 'message')
    return { producer, flag, inOrder: result.inOrder }
  } finally {
    await worker.terminate()
  }
}

describe('remote fences', () => {
  // Outside CI a container's seccomp profile may deny membarrier: the rings then keep atomic stores.
  it.skipIf(!process.env.CI && registration !== 0)(
    'register and fence on this Linux (membarrier GLOBAL_EXPEDITED); x64 publishes plainly',
    () => {
      expect(registration).toBe(0)
      expect(native().fenceRemote?.()).toBe(0)
      expect(plainPublishing()).toBe(!fencesOff && process.arch === 'x64')
    },
  )
})

describe.skipIf(!plainPublishing())('a consumer fences after it registers, before its re-check', () => {
  const bin = native()
  const fence = bin.fenceRemote
  afterEach(() => {
    bin.fenceRemote = fence
  })

  /**
   * A ring whose fence publishes a record (and counts itself): a consumer's
   * re-check right after its fence finds it, so the wait returns without
   * sleeping. A fence missing, or run after the re-check, leaves the wait
   * asleep until its timeout.
   */
  function publishingInFence(options: ConstructorParameters<typeof SpscRing>[2]) {
    const { sab, producer } = ring()
    const consumer = new SpscRing(sab, 0, options)
    const seen = { fences: 0, waitersAtFence: -1 }
    bin.fenceRemote = () => {
      seen.fences++
      seen.waitersAtFence = Atomics.load(new Int32Array(sab), 2)
      if (seen.fences === 1) producer.tryWrite(encode('written during the fence'))
      return fence?.() ?? 0
    }
    return { consumer, seen }
  }

  it('readSync (no spin: a futex sleep)', () => {
    const { consumer, seen } = publishingInFence({ spinMicros: 0 })
    expect(consumer.readSync(2000)).toBe('written during the fence')
    expect(seen).toEqual({ fences: 1, waitersAtFence: 1 })
  })

  it('read() (no spin, no block: the native waiter thread)', async () => {
    const { consumer, seen } = publishingInFence({ asyncSpinMicros: 0, asyncBlockMicros: 0 })
    await expect(consumer.read({ timeout: 2000 })).resolves.toBe('written during the fence')
    expect(seen).toEqual({ fences: 1, waitersAtFence: 1 })
  })

  it("read() (no spin, the short block: EventCount's pauseSync)", async () => {
    const { consumer, seen } = publishingInFence({ asyncSpinMicros: 0, asyncBlockMicros: 50 })
    await expect(consumer.read({ timeout: 2000 })).resolves.toBe('written during the fence')
    expect(seen).toEqual({ fences: 1, waitersAtFence: 1 })
  })

  it('nothing published: the wait times out as before', () => {
    const { sab } = ring()
    expect(new SpscRing(sab, 0, { spinMicros: 0 }).readSync(30)).toBe(RING_EMPTY)
  })
})

describe('atomicPublish', () => {
  it('a consumer thread that publishes plainly leaves it as the producer left it; every value arrives in order', {
    timeout: 60_000,
  }, async () => {
    const { producer, flag, inOrder } = await stream(process.env)
    // With fences off (or off x64) this thread, the producer, set the word when it attached.
    expect(flag).toBe(plainPublishing() ? 0 : 1)
    expect(producer.publishesPlainly).toBe(plainPublishing())
    expect(inOrder).toBe(COUNT)
  })

  it('a consumer thread with IPC_NO_REMOTE_FENCE=1 sets it: the producer publishes atomically from then on', {
    timeout: 60_000,
  }, async () => {
    const { producer, flag, inOrder } = await stream({ ...process.env, IPC_NO_REMOTE_FENCE: '1' })
    expect(flag).toBe(1)
    expect(producer.publishesPlainly).toBe(false)
    expect(inOrder).toBe(COUNT)
  })
})

describe.skipIf(launcher === undefined)('a consumer process with membarrier denied by seccomp (EPERM)', () => {
  it('takes no part: it sets atomicPublish, the producer publishes atomically, every value arrives in order', {
    timeout: 60_000,
  }, async () => {
    const segment = Segment.create({ kind: 'test-ring', version: 1 }, spscRingBytes(1024), {
      name: uniqueName('fence'),
    })
    onTestFinished(() => segment.close())
    initSpscRing(segment.buffer, segment.dataOffset, 1024)
    const producer = new SpscRing(segment.buffer, segment.dataOffset, { host: segment })
    const [file, ...command] = (launcher as NonNullable<typeof launcher>)('membarrier', [
      process.execPath,
      fileURLToPath(consumerFixture),
      segment.name,
      String(COUNT),
    ])
    const child = spawn(file as string, command, { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(child, 'exit')
    onTestFinished(async () => {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exited
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    while (!out.includes('ATTACHED')) {
      expect(child.exitCode, out).toBeNull()
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(out).toContain('ATTACHED false')
    expect(Atomics.load(new Int32Array(segment.buffer, segment.dataOffset, 8), ATOMIC_PUBLISH)).toBe(1)
    expect(producer.publishesPlainly).toBe(false)
    for (let i = 0; i < COUNT; i++) expect(producer.writeSync(encode(i), 10_000)).toBe('ok')
    const [code] = await exited
    expect(code).toBe(0)
    expect(out).toContain(`READ ${COUNT}`)
  })
})
