import { existsSync } from 'node:fs'
import { type SpawnedChild, spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { headerIndex, ONE, W_STATE } from '../src/layout.js'
import { Semaphore } from '../src/semaphore.js'
import type { SemaphoreBase } from '../src/semaphore-base.js'
import { counterOf } from '../src/semaphore-base.js'
import { closeAfterEach } from './tracked.js'

// A real child scribbles STATE (through the segment's file in /dev/shm) while
// a real victim process makes the call under test.
const FLIPPER = new URL('./fixtures/state-flipper.mjs', import.meta.url)
const VICTIM = new URL('./fixtures/corrupt-victim.mjs', import.meta.url)

const track = closeAfterEach()

function words(sem: SemaphoreBase) {
  const counter = counterOf(sem)
  return { i32: counter.i32, base: counter.segment.dataOffset }
}

interface Outcome {
  outcome: string
  ms: number
  maxGapMs: number
}

function line(stdout: string, prefix: string): Outcome {
  const found = stdout.split('\n').find((l) => l.startsWith(`${prefix} `))
  if (found === undefined) throw new Error(`no ${prefix} line in: ${stdout}`)
  return JSON.parse(found.slice(prefix.length + 1)) as Outcome
}

describe('STATE kept tagged by a live object’s tag while its value keeps changing', () => {
  // The stall is measured per tag owner, not per value: the calls end with
  // TimeoutError about TAG_STALL_MS (2 s) after they meet the tag, not when
  // the scribbler stops (10 s), and async ones keep the event loop running.
  function startFlipper(sem: SemaphoreBase, tag: number): SpawnedChild {
    const file = `/dev/shm/ipc-${sem.name}`
    expect(existsSync(file)).toBe(true)
    const offset = counterOf(sem).segment.dataOffset + 4 * W_STATE
    return spawnChild(FLIPPER, [file, String(offset), String(tag), '10000', '0.2'])
  }

  async function run(call: string, afterInside?: boolean): Promise<Outcome> {
    const sem = track(new Semaphore(1))
    const { i32, base } = words(sem)
    const victim = spawnChild(VICTIM, [JSON.stringify(sem.handle), call])
    await victim.waitFor('ATTACHED', 10_000)
    let flipper: SpawnedChild | undefined
    try {
      if (afterInside) {
        victim.child.send('go')
        await victim.waitFor('INSIDE', 5_000)
      }
      // The tag of this process's object: alive, never finishing.
      flipper = startFlipper(sem, counterOf(sem).slot + 1)
      await flipper.waitFor('FLIPPING', 10_000)
      victim.child.send(afterInside ? 'flipping' : 'go')
      await victim.waitFor('RESULT', 6_000)
      return line(victim.stdout(), 'RESULT')
    } finally {
      flipper?.child.kill('SIGKILL')
      if (flipper) await flipper.exited
      Atomics.store(i32, headerIndex(base, W_STATE), ONE)
      victim.child.send('again')
      await victim.waitFor('CLOSED', 5_000)
      expect(await victim.exited).toBe(0)
    }
  }

  it('release() throws TimeoutError after about 2 s', { timeout: 30_000 }, async () => {
    const result = await run('release')
    expect(result.outcome, JSON.stringify(result)).toBe('TimeoutError')
    expect(result.ms).toBeGreaterThanOrEqual(1_900)
    expect(result.ms).toBeLessThan(4_000)
  })

  it('acquire() with no timeout rejects with TimeoutError after about 2 s', { timeout: 30_000 }, async () => {
    const result = await run('acquireForever')
    expect(result.outcome, JSON.stringify(result)).toBe('TimeoutError')
    expect(result.ms).toBeLessThan(4_000)
    expect(result.maxGapMs).toBeLessThan(250)
  })

  it('withPermit’s async release throws TimeoutError after about 2 s, the event loop running', {
    timeout: 30_000,
  }, async () => {
    const result = await run('withPermitHeld', true)
    expect(result.outcome, JSON.stringify(result)).toBe('TimeoutError')
    // From `go`: the flipper's start, then the release's 2 s.
    expect(result.ms).toBeLessThan(5_000)
    expect(result.maxGapMs).toBeLessThan(250)
  })
})
