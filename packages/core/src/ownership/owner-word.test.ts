import { Worker } from 'node:worker_threads'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ClosedError, CorruptError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { deadlineOf } from '../waiting/signal.js'
import { threadId } from './liveness.js'
import {
  BUSY,
  OWNER_ABANDONED,
  OWNER_FREE,
  OWNER_WAITERS,
  OwnerWord,
  ownerCode,
  TOOK,
  TOOK_OVER,
} from './owner-word.js'

const KIND = { kind: 'test-owner', version: 1, label: 'test owner word' }

/** A segment with one owner word at the start of its data area, closed and unlinked when the test ends. */
function segment(): Segment {
  const created = Segment.create(KIND, 64, { name: uniqueName('owner') })
  onTestFinished(() => {
    created.unlink()
    created.close()
  })
  return created
}

/** A second attachment of the same segment: another owner, in this thread. */
function attach(to: Segment): Segment {
  const opened = Segment.open(KIND, to.name)
  onTestFinished(() => opened.close())
  return opened
}

/** An owner word at the segment's first data word, counting its takeovers. */
function word(seg: Segment, ownCodeIsCorrupt = false): { word: OwnerWord; takeovers: () => number } {
  let takeovers = 0
  const created = new OwnerWord(seg, seg.dataOffset / 4, {
    label: 'the test lock',
    onTakeover: () => takeovers++,
    ownCodeIsCorrupt,
  })
  return { word: created, takeovers: () => takeovers }
}

function load(seg: Segment): number {
  return Atomics.load(seg.i32, seg.dataOffset / 4)
}

function store(seg: Segment, value: number): void {
  Atomics.store(seg.i32, seg.dataOffset / 4, value)
}

describe('ownerCode()', () => {
  it('puts slot + 1 in bits 22-29 and the low 22 bits of the thread id below, never bit 30 or 31', () => {
    expect(ownerCode(0, 1234)).toBe((1 << 22) | 1234)
    expect(ownerCode(127, 0x7fffff)).toBe((128 << 22) | 0x3fffff)
    expect(ownerCode(127, 0x7fffff) & (OWNER_WAITERS | (1 << 31))).toBe(0)
  })
})

describe('OwnerWord uncontended', () => {
  it('takes a free word with one CAS and releases it to FREE, without ever setting WAITERS', () => {
    const seg = segment()
    const { word: mine } = word(seg)
    expect(mine.code).toBe(ownerCode(seg.slot, threadId()))
    expect(mine.take()).toBe(true)
    expect(load(seg)).toBe(mine.code)
    expect(mine.held).toBe(true)
    expect(mine.holder()).toEqual({ slot: seg.slot, tid: threadId() & 0x3fffff })
    expect(mine.take()).toBe(false)
    expect(mine.release()).toBe(true)
    expect(load(seg)).toBe(OWNER_FREE)
    expect(mine.release()).toBe(false)
    expect(mine.holder()).toBeUndefined()
  })

  it('refuses to release or abandon a word another owner holds, changing nothing', () => {
    const seg = segment()
    const { word: mine } = word(seg)
    const { word: theirs } = word(attach(seg))
    expect(theirs.take()).toBe(true)
    expect(mine.release()).toBe(false)
    expect(mine.abandon()).toBe(false)
    expect(load(seg)).toBe(theirs.code)
    expect(mine.tryAcquire(true)).toBe(BUSY)
    expect(theirs.release()).toBe(true)
  })
})

describe('OwnerWord takeover', () => {
  it('hands an abandoned word to the next taker as TOOK_OVER, running onTakeover once', () => {
    const seg = segment()
    const first = word(seg)
    const second = word(attach(seg))
    expect(first.word.take()).toBe(true)
    expect(first.word.abandon()).toBe(true)
    expect(load(seg)).toBe(OWNER_ABANDONED)
    expect(first.word.take()).toBe(false) // the fast path takes FREE only
    expect(second.word.tryAcquire(false)).toBe(TOOK_OVER)
    expect(second.takeovers()).toBe(1)
    expect(first.takeovers()).toBe(0)
    expect(second.word.release()).toBe(true)
    expect(first.word.tryAcquire(false)).toBe(TOOK)
    expect(first.takeovers()).toBe(0)
    first.word.release()
  })

  it('takes over at once, from memory, from a holder whose slot is free, keeping WAITERS for sleepers', () => {
    const seg = segment()
    const { word: mine, takeovers } = word(seg)
    expect(seg.slotOwner(100)).toBeUndefined()
    store(seg, ownerCode(100, 4321) | OWNER_WAITERS)
    expect(mine.tryAcquire(false)).toBe(TOOK_OVER)
    expect(takeovers()).toBe(1)
    expect(load(seg)).toBe(mine.code | OWNER_WAITERS)
    expect(mine.release()).toBe(true)
    expect(load(seg)).toBe(OWNER_FREE)
  })

  it('takes over from a holder whose slot another thread claimed since (the tid differs)', () => {
    const seg = segment()
    const other = attach(seg)
    const { word: mine, takeovers } = word(seg)
    // The word names the other attachment's slot, but a thread that does not hold that slot.
    store(seg, ownerCode(other.slot, threadId() + 1))
    expect(mine.acquireSync(deadlineOf(1000), 10)).toBe(TOOK_OVER)
    expect(takeovers()).toBe(1)
    mine.release()
  })

  it('reclaim(slot) frees the word of the attachment at that slot, repairing first; other slots are left alone', () => {
    const seg = segment()
    const { word: mine, takeovers } = word(seg)
    store(seg, ownerCode(42, 777))
    expect(mine.reclaim(41)).toBe(false)
    expect(load(seg)).toBe(ownerCode(42, 777))
    expect(mine.reclaim(42)).toBe(true)
    expect(takeovers()).toBe(1)
    expect(load(seg)).toBe(OWNER_FREE)
    expect(mine.reclaim(42)).toBe(false)
  })
})

describe('OwnerWord#acquireSync()', () => {
  it('returns BUSY at its deadline while a live owner holds the word, after marking it for a wake', () => {
    const seg = segment()
    const { word: holder } = word(seg)
    const { word: waiter } = word(attach(seg))
    holder.take()
    expect(waiter.acquireSync(deadlineOf(0), 50)).toBe(BUSY)
    expect(load(seg)).toBe(holder.code) // a call that does not wait never marks the word
    const started = performance.now()
    expect(waiter.acquireSync(deadlineOf(30), 50)).toBe(BUSY)
    expect(performance.now() - started).toBeGreaterThanOrEqual(25)
    expect(load(seg)).toBe(holder.code | OWNER_WAITERS)
    // The release that finds WAITERS frees the word and wakes (nobody, now): the word is clean.
    expect(holder.release()).toBe(true)
    expect(load(seg)).toBe(OWNER_FREE)
  })

  it('blocks until another thread releases, then takes the word with WAITERS set (others may sleep)', {
    timeout: 20_000,
  }, async () => {
    const seg = segment()
    const { word: mine } = word(seg)
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      import(workerData.internal).then(({ Segment, RobustLock }) => {
        const segment = Segment.open({ kind: 'test-owner', version: 1 }, workerData.name)
        const lock = new RobustLock(segment, segment.dataOffset)
        lock.acquireSync()
        parentPort.postMessage('holding')
        setTimeout(() => {
          lock.release()
          segment.close()
        }, 50)
      })
      `,
      { eval: true, workerData: { name: seg.name, internal: new URL('../../dist/internal.js', import.meta.url).href } },
    )
    onTestFinished(async () => {
      await worker.terminate()
    })
    await new Promise((resolve) => worker.once('message', resolve))
    const started = performance.now()
    expect(mine.acquireSync(deadlineOf(5000), 10)).toBe(TOOK)
    expect(performance.now() - started).toBeGreaterThanOrEqual(20)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(load(seg)).toBe(mine.code | OWNER_WAITERS)
    mine.release()
    expect(load(seg)).toBe(OWNER_FREE)
  })

  it('an async acquire is woken by the release and takes the word', async () => {
    const seg = segment()
    const { word: mine } = word(seg)
    const { word: holder } = word(attach(seg))
    holder.take()
    setTimeout(() => holder.release(), 30)
    const started = performance.now()
    expect(await mine.acquire(deadlineOf(5000), 10)).toBe(TOOK)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(load(seg)).toBe(mine.code | OWNER_WAITERS)
    mine.release()
    expect(load(seg)).toBe(OWNER_FREE)
  })
})

describe('OwnerWord#acquire() and #acquireThen()', () => {
  it('runs `locked` synchronously right after the take, and resolves with `busy` at the deadline', async () => {
    const seg = segment()
    const { word: holder } = word(seg)
    const { word: waiter } = word(attach(seg))
    holder.take()
    const busy = Symbol('busy')
    expect(await waiter.acquireThen(deadlineOf(30), undefined, () => 'ran', busy)).toBe(busy)
    setTimeout(() => holder.release(), 20)
    let heldInside = false
    const result = await waiter.acquireThen(
      deadlineOf(5000),
      undefined,
      (taken) => {
        heldInside = waiter.held
        waiter.release()
        return taken
      },
      busy,
    )
    expect(result).toBe(TOOK)
    expect(heldInside).toBe(true)
    expect(waiter.held).toBe(false)
  })

  it('rejects with signal.reason on abort, takes nothing, and passes a used-up wake on', async () => {
    const seg = segment()
    const { word: holder } = word(seg)
    const { word: waiter } = word(attach(seg))
    holder.take()
    const controller = new AbortController()
    const pending = waiter.acquire(deadlineOf(Number.POSITIVE_INFINITY), 10, controller.signal)
    setTimeout(() => controller.abort(new Error('stop')), 20)
    await expect(pending).rejects.toThrow('stop')
    expect(load(seg)).toBe(holder.code | OWNER_WAITERS)
    expect(holder.release()).toBe(true)
    expect(waiter.tryAcquire(false)).toBe(TOOK)
    waiter.release()
  })

  it('a sleeper that leaves without the word hands its wake on, even when a one-CAS taker holds it meanwhile', {
    timeout: 20_000,
  }, async () => {
    const seg = segment()
    const { word: holder } = word(seg)
    const { word: leaver } = word(attach(seg))
    const { word: barger } = word(attach(seg))
    holder.take()
    // The leaver sleeps first, so the release's one wake goes to it (futex wakes in queue order).
    const controller = new AbortController()
    const left = leaver.acquire(deadlineOf(Number.POSITIVE_INFINITY), 0, controller.signal)
    await new Promise((resolve) => setTimeout(resolve, 20))
    // The stayer: a blocked acquireSync in a worker thread, queued second.
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      import(workerData.internal).then(({ Segment, RobustLock }) => {
        const segment = Segment.open({ kind: 'test-owner', version: 1 }, workerData.name)
        const lock = new RobustLock(segment, segment.dataOffset)
        parentPort.postMessage('waiting')
        const took = lock.acquireSync({ timeout: 5000 })
        parentPort.postMessage(took)
        if (took) lock.release()
        segment.close()
      })
      `,
      { eval: true, workerData: { name: seg.name, internal: new URL('../../dist/internal.js', import.meta.url).href } },
    )
    onTestFinished(async () => {
      await worker.terminate()
    })
    const messages: unknown[] = []
    worker.on('message', (m) => messages.push(m))
    while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    await new Promise((resolve) => setTimeout(resolve, 30))
    // One wake goes out; the barger takes the free word without WAITERS; the leaver gives up.
    holder.release()
    expect(barger.take()).toBe(true)
    controller.abort()
    await expect(left).rejects.toMatchObject({ name: 'AbortError' })
    // The barger's word says a sleeper waits, so its release wakes the stayer at once (not after a 100 ms slice).
    expect(load(seg) & OWNER_WAITERS).toBe(OWNER_WAITERS)
    const released = performance.now()
    barger.release()
    while (messages.length < 2) await new Promise((resolve) => setTimeout(resolve, 1))
    expect(messages[1]).toBe(true)
    expect(performance.now() - released).toBeLessThan(60)
  })

  it('rejects with ClosedError (closed while the call waited) when its own segment closes', async () => {
    const seg = segment()
    const { word: holder } = word(seg)
    const other = Segment.open(KIND, seg.name)
    const { word: waiter } = word(other)
    holder.take()
    const pending = waiter.acquire(deadlineOf(5000), 10)
    setTimeout(() => other.close(), 20)
    await expect(pending).rejects.toBeInstanceOf(ClosedError)
    await expect(waiter.acquire(deadlineOf(5000), 10)).rejects.toThrow('it was closed')
    expect(() => waiter.acquireSync(deadlineOf(5000), 10)).toThrow(ClosedError)
    holder.release()
  })

  it('waits for another task of this owner (a held word naming itself is a live holder)', async () => {
    const seg = segment()
    const { word: mine } = word(seg)
    mine.take()
    setTimeout(() => mine.release(), 20)
    expect(await mine.acquire(deadlineOf(5000), 10)).toBe(TOOK)
    mine.release()
  })
})

describe('OwnerWord range checks', () => {
  it('throws CorruptError for a word with bit 31, a slot beyond the table, or no slot but a tid', async () => {
    const bad = [-5, (200 << 22) | 1, 0x200, OWNER_WAITERS | 0x200]
    for (const value of bad) {
      const seg = segment()
      const { word: mine } = word(seg)
      store(seg, value)
      expect(() => mine.tryAcquire(false), String(value)).toThrow(CorruptError)
      expect(() => mine.acquireSync(deadlineOf(50), 10), String(value)).toThrow(/an owner word is/)
      await expect(mine.acquire(deadlineOf(50), 10)).rejects.toThrow(CorruptError)
      expect(() => mine.read()).toThrow(CorruptError)
      expect(mine.take()).toBe(false)
      expect(load(seg)).toBe(value)
    }
  })

  it('with ownCodeIsCorrupt, a word naming this very owner is corrupt, through the given error', () => {
    const seg = segment()
    const mine = new OwnerWord(seg, seg.dataOffset / 4, {
      label: 'the ring',
      ownCodeIsCorrupt: true,
      corrupt: (value) => new CorruptError(`a lock word is ${value}`),
    })
    store(seg, mine.code)
    expect(() => mine.acquireSync(deadlineOf(0), 10)).toThrow(`a lock word is ${mine.code}`)
  })
})

describe('OwnerWord takeover races', () => {
  it('of 4 worker threads racing for a dead holder, exactly one takes over', { timeout: 20_000 }, async () => {
    const seg = segment()
    store(seg, ownerCode(100, 4321))
    const start = new Int32Array(new SharedArrayBuffer(4))
    const internal = new URL('../../dist/internal.js', import.meta.url).href
    const workers = Array.from(
      { length: 4 },
      () =>
        new Worker(
          `
          const { parentPort, workerData } = require('node:worker_threads')
          import(workerData.internal).then(({ Segment, RobustLock }) => {
            const segment = Segment.open({ kind: 'test-owner', version: 1 }, workerData.name)
            const lock = new RobustLock(segment, segment.dataOffset)
            parentPort.postMessage('ready')
            Atomics.wait(workerData.start, 0, 0)
            const took = lock.tryAcquire()
            parentPort.postMessage({ took, died: lock.previousOwnerDied })
            // Hold until told to go, so the others see a live holder.
            parentPort.once('message', () => {
              if (took) lock.release()
              segment.close()
              parentPort.postMessage('done')
            })
          })
          `,
          { eval: true, workerData: { name: seg.name, internal, start } },
        ),
    )
    onTestFinished(async () => {
      await Promise.all(workers.map((w) => w.terminate()))
    })
    const messages = workers.map((w) => {
      const seen: unknown[] = []
      w.on('message', (m) => seen.push(m))
      return seen
    })
    const until = async (k: number) => {
      while (messages.some((m) => m.length < k)) await new Promise((r) => setTimeout(r, 5))
    }
    await until(1)
    Atomics.store(start, 0, 1)
    Atomics.notify(start, 0)
    await until(2)
    const results = messages.map((m) => m[1] as { took: boolean; died: boolean })
    expect(results.filter((r) => r.took)).toEqual([{ took: true, died: true }])
    for (const w of workers) w.postMessage('go')
    await until(3)
    expect(load(seg)).toBe(OWNER_FREE)
  })
})
