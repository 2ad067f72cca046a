import { inspect } from 'node:util'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ClosedError, CorruptError, TimeoutError, ValueError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { threadId } from './liveness.js'
import { OWNER_WAITERS, ownerCode } from './owner-word.js'
import { ROBUST_LOCK_BYTES, RobustLock } from './robust-lock.js'

const KIND = { kind: 'test-lock', version: 1, label: 'test lock' }

/** A segment with room for one lock, closed and unlinked when the test ends. */
function segment(): Segment {
  const created = Segment.create(KIND, 64, { name: uniqueName('lock') })
  onTestFinished(() => {
    created.unlink()
    created.close()
  })
  return created
}

/** A second object attached to the same segment: another owner, in this thread. */
function attach(to: Segment): Segment {
  const opened = Segment.open(KIND, to.name)
  onTestFinished(() => opened.close())
  return opened
}

/** The lock's owner word (word 0; see owner-word.ts). */
function wordOf(seg: Segment): number {
  return Atomics.load(seg.i32, seg.dataOffset / 4)
}

/** Whether a sleeper marked the owner word (its WAITERS bit, 1 << 30). */
function waitersMarked(seg: Segment): boolean {
  return (wordOf(seg) & OWNER_WAITERS) !== 0
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('Expected the call to throw')
}

describe('RobustLock', () => {
  it('occupies four 32-bit words and rejects offsets outside the data area', () => {
    const seg = segment()
    expect(ROBUST_LOCK_BYTES).toBe(16)
    expect(thrown(() => new RobustLock(seg, seg.dataOffset + 2))).toBeInstanceOf(TypeError)
    expect(thrown(() => new RobustLock(seg, 0))).toBeInstanceOf(TypeError)
    expect(thrown(() => new RobustLock(seg, seg.dataOffset + 56))).toBeInstanceOf(TypeError)
    expect(new RobustLock(seg, seg.dataOffset + 48).tryAcquire()).toBe(true)
  })
})

describe('RobustLock#tryAcquire()', () => {
  it('takes a free lock, refuses a held one, and reports holder and state', () => {
    const seg = segment()
    const mine = new RobustLock(seg, seg.dataOffset)
    const theirs = new RobustLock(attach(seg), seg.dataOffset)
    expect(mine.locked).toBe(false)
    expect(mine.owner).toBeUndefined()
    expect(mine.tryAcquire()).toBe(true)
    expect(mine.held).toBe(true)
    expect(mine.locked).toBe(true)
    expect(mine.previousOwnerDied).toBe(false)
    expect(mine.owner?.pid).toBe(process.pid)
    expect(mine.owner?.slot).toBe(seg.slot)
    expect(theirs.held).toBe(false)
    expect(theirs.locked).toBe(true)
    expect(theirs.tryAcquire()).toBe(false)
    mine.release()
    expect(theirs.tryAcquire()).toBe(true)
    expect(mine.tryAcquire()).toBe(false)
    theirs.release()
  })

  it('returns false when this thread holds a non-recursive lock already', () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    expect(lock.tryAcquire()).toBe(true)
    expect(lock.tryAcquire()).toBe(false)
    lock.release()
    expect(lock.locked).toBe(false)
  })
})

describe('RobustLock#release()', () => {
  it('throws ValueError when this object does not hold the lock, and leaves it held', () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset, { label: 'the lock of "x"' })
    const other = new RobustLock(attach(seg), seg.dataOffset)
    const free = thrown(() => holder.release())
    expect(free).toBeInstanceOf(ValueError)
    expect(free.message).toBe('Cannot release the lock of "x": this thread does not hold it')
    holder.acquireSync()
    expect(thrown(() => other.release())).toBeInstanceOf(ValueError)
    expect(holder.held).toBe(true)
    holder.release()
  })
})

describe('RobustLock with recursive: true', () => {
  it('lets the holder acquire again and frees the lock at the matching release', async () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset, { recursive: true })
    const other = new RobustLock(attach(seg), seg.dataOffset)
    expect(lock.recursive).toBe(true)
    expect(lock.acquireSync()).toBe(true)
    expect(lock.tryAcquire()).toBe(true)
    expect(await lock.acquire()).toBe(true)
    lock.release()
    lock.release()
    expect(other.tryAcquire()).toBe(false)
    lock.release()
    expect(other.tryAcquire()).toBe(true)
    other.release()
    expect(thrown(() => lock.release())).toBeInstanceOf(ValueError)
  })
})

describe('RobustLock#acquireSync()', () => {
  it('throws ValueError instead of deadlocking when this thread holds a non-recursive lock', () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    lock.acquireSync()
    const error = thrown(() => lock.acquireSync({ timeout: 10 }))
    expect(error).toBeInstanceOf(ValueError)
    expect(error.message).toContain('not recursive')
    lock.release()
  })

  it('returns false after the timeout while another owner holds it, and leaves no waiter behind', () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const waiter = new RobustLock(attach(seg), seg.dataOffset)
    holder.acquireSync()
    expect(waiter.acquireSync({ timeout: 0 })).toBe(false)
    expect(waitersMarked(seg)).toBe(false) // a call that does not wait never marks the word
    expect(waiter.acquireSync({ timeout: 30 })).toBe(false)
    // The sleeper's mark stays until the next release, which wakes nobody once and leaves the word clean.
    holder.release()
    expect(wordOf(seg)).toBe(0)
    expect(waiter.acquireSync({ timeout: 0 })).toBe(true)
    waiter.release()
    expect(wordOf(seg)).toBe(0)
  })

  it('validates options and throws the reason of an already aborted signal', () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    expect(thrown(() => lock.acquireSync({ timeout: -1 }))).toBeInstanceOf(RangeError)
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    expect(thrown(() => lock.acquireSync({ signal: controller.signal })).message).toBe('stop')
    expect(lock.locked).toBe(false)
  })

  it('throws ClosedError once the segment is closed', () => {
    const seg = Segment.create(KIND, 64)
    const lock = new RobustLock(seg, seg.dataOffset)
    seg.close()
    expect(thrown(() => lock.acquireSync())).toBeInstanceOf(ClosedError)
    expect(thrown(() => lock.tryAcquire())).toBeInstanceOf(ClosedError)
    expect(lock.held).toBe(false)
  })
})

describe('RobustLock#acquire()', () => {
  it('waits without blocking the loop until another owner releases', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const waiter = new RobustLock(attach(seg), seg.dataOffset)
    holder.acquireSync()
    const pending = waiter.acquire()
    let settled = false
    void pending.then(() => {
      settled = true
    })
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(settled).toBe(false)
    expect(waitersMarked(seg)).toBe(true)
    holder.release()
    expect(await pending).toBe(true)
    expect(waiter.held).toBe(true)
    waiter.release()
    expect(wordOf(seg)).toBe(0)
  })

  it('waits for another task of the same thread to release a non-recursive lock', async () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    await lock.acquire()
    const second = lock.acquire({ timeout: 5000 })
    setTimeout(() => lock.release(), 20)
    expect(await second).toBe(true)
    expect(lock.held).toBe(true)
    lock.release()
  })

  it('resolves false at the timeout and leaves the lock and the waiter count unchanged', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const waiter = new RobustLock(attach(seg), seg.dataOffset)
    holder.acquireSync()
    expect(await waiter.acquire({ timeout: 0 })).toBe(false)
    expect(await waiter.acquire({ timeout: 40 })).toBe(false)
    expect(holder.held).toBe(true)
    holder.release()
    expect(wordOf(seg)).toBe(0)
  })

  it('rejects with signal.reason on abort, before or while waiting, and changes nothing', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const waiter = new RobustLock(attach(seg), seg.dataOffset)
    const early = new AbortController()
    early.abort(new Error('early'))
    await expect(waiter.acquire({ signal: early.signal })).rejects.toThrow('early')
    expect(waiter.locked).toBe(false)
    holder.acquireSync()
    const controller = new AbortController()
    const pending = waiter.acquire({ signal: controller.signal })
    setTimeout(() => controller.abort(), 20)
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(holder.held).toBe(true)
    holder.release()
    expect(wordOf(seg)).toBe(0)
    expect(waiter.tryAcquire()).toBe(true)
    waiter.release()
  })

  it('rejects with ClosedError when its own segment closes while it waits', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const other = Segment.open(KIND, seg.name)
    const waiter = new RobustLock(other, seg.dataOffset)
    holder.acquireSync()
    const pending = waiter.acquire()
    setTimeout(() => other.close(), 20)
    await expect(pending).rejects.toBeInstanceOf(ClosedError)
    holder.release()
  })
})

describe('RobustLock#acquireThen()', () => {
  it('runs the section in the step that takes the lock: a task queued at the take finds it released', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const lock = new RobustLock(attach(seg), seg.dataOffset)
    // Free: the section runs before acquireThen returns.
    let ran = false
    const free = lock.acquireThen(
      undefined,
      () => {
        ran = lock.held
        lock.release()
        return 'free'
      },
      'busy',
    )
    expect(ran).toBe(true)
    expect(await free).toBe('free')
    // Held by another owner: the section runs at the take, before any other task of this thread.
    holder.acquireSync()
    const seen: string[] = []
    const taken = lock.acquireThen(
      undefined,
      () => {
        seen.push(`section held=${lock.held}`)
        queueMicrotask(() => seen.push(`next task held=${lock.held}`))
        lock.release()
        return 7
      },
      false,
    )
    setTimeout(() => holder.release(), 20)
    expect(await taken).toBe(7)
    expect(seen).toEqual(['section held=true', 'next task held=false'])
    expect(wordOf(seg)).toBe(0)
  })

  it('resolves with busy at the timeout and rejects with signal.reason on abort, without running the section', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const lock = new RobustLock(attach(seg), seg.dataOffset)
    let runs = 0
    const section = () => {
      runs++
      lock.release()
    }
    holder.acquireSync()
    expect(await lock.acquireThen({ timeout: 30 }, section, 'busy')).toBe('busy')
    const controller = new AbortController()
    const pending = lock.acquireThen({ signal: controller.signal }, section, 'busy')
    setTimeout(() => controller.abort(new Error('stop')), 20)
    await expect(pending).rejects.toThrow('stop')
    expect(runs).toBe(0)
    expect(holder.held).toBe(true)
    holder.release()
    expect(wordOf(seg)).toBe(0)
  })
})

describe('RobustLock recovery', () => {
  it('hands the lock to the next acquirer with previousOwnerDied after abandon()', () => {
    const seg = segment()
    const first = new RobustLock(seg, seg.dataOffset)
    const second = new RobustLock(attach(seg), seg.dataOffset)
    first.acquireSync()
    first.abandon()
    expect(first.held).toBe(false)
    expect(first.locked).toBe(false)
    expect(second.acquireSync({ timeout: 0 })).toBe(true)
    expect(second.previousOwnerDied).toBe(true)
    second.release()
    expect(second.previousOwnerDied).toBe(false)
    expect(first.tryAcquire()).toBe(true)
    expect(first.previousOwnerDied).toBe(false)
    first.release()
  })

  it('takes over at once from a holder whose segment object was closed', async () => {
    const seg = segment()
    const gone = Segment.open(KIND, seg.name)
    const holder = new RobustLock(gone, seg.dataOffset)
    holder.acquireSync()
    gone.close() // frees its slot: the holder no longer exists
    const lock = new RobustLock(seg, seg.dataOffset)
    expect(lock.tryAcquire()).toBe(true)
    expect(lock.previousOwnerDied).toBe(true)
    lock.release()
    expect(await lock.acquire()).toBe(true)
    expect(lock.previousOwnerDied).toBe(false)
    lock.release()
  })

  it('wakes a sleeping waiter when the holder abandons the lock', async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const waiter = new RobustLock(attach(seg), seg.dataOffset)
    holder.acquireSync()
    const pending = waiter.acquire({ timeout: 5000 })
    setTimeout(() => holder.abandon(), 20)
    expect(await pending).toBe(true)
    expect(waiter.previousOwnerDied).toBe(true)
    waiter.release()
  })
})

describe('RobustLock#withLock()', () => {
  it('runs a sync or async fn holding the lock and releases on return and on throw', async () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    expect(await lock.withLock((held) => held.held)).toBe(true)
    expect(lock.locked).toBe(false)
    expect(
      await lock.withLock(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5))
        return lock.held
      }),
    ).toBe(true)
    await expect(
      lock.withLock(async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(lock.locked).toBe(false)
    await expect(
      lock.withLock(() => {
        throw new Error('sync boom')
      }),
    ).rejects.toThrow('sync boom')
    expect(lock.locked).toBe(false)
  })

  it("rejects with core's TimeoutError when the lock is not taken in time", async () => {
    const seg = segment()
    const holder = new RobustLock(seg, seg.dataOffset)
    const other = new RobustLock(attach(seg), seg.dataOffset)
    holder.acquireSync()
    let ran = false
    await expect(
      other.withLock(
        () => {
          ran = true
        },
        { timeout: 20 },
      ),
    ).rejects.toBeInstanceOf(TimeoutError)
    expect(ran).toBe(false)
    holder.release()
  })
})

describe('RobustLock#withLockSync()', () => {
  it('releases after a sync fn, on throw, and when a returned promise settles', async () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    expect(lock.withLockSync(() => 7)).toBe(7)
    expect(lock.locked).toBe(false)
    expect(() =>
      lock.withLockSync(() => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(lock.locked).toBe(false)
    let finish = () => {}
    const result = lock.withLockSync(() => new Promise<string>((resolve) => (finish = () => resolve('done'))))
    expect(lock.held).toBe(true)
    finish()
    expect(await result).toBe('done')
    expect(lock.locked).toBe(false)
  })
})

describe('RobustLock [inspect.custom]', () => {
  it('shows whether it is held and by whom', () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    expect(inspect(lock)).toBe('RobustLock { held: false, locked: false }')
    lock.acquireSync()
    expect(inspect(lock)).toBe(
      `RobustLock { held: true, locked: true, owner: { pid: ${process.pid}, tid: ${lock.owner?.tid} } }`,
    )
    lock.release()
  })
})

describe('RobustLock with a corrupt owner word', () => {
  it('throws CorruptError when the owner names a slot outside the table, on every way in', async () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset)
    // Owner code = ((slot + 1) << 22) | tid: slot 499 does not exist (128 slots).
    Atomics.store(seg.i32, seg.dataOffset / 4, (500 << 22) | 12345)
    expect(thrown(() => lock.acquireSync({ timeout: 100 }))).toBeInstanceOf(CorruptError)
    await expect(lock.acquire({ timeout: 100 })).rejects.toThrow(CorruptError)
    expect(thrown(() => seg.slotOwner(128))).toBeInstanceOf(CorruptError)
    expect(thrown(() => seg.slotAlive(-1))).toBeInstanceOf(CorruptError)
  })
})

describe('RobustLock with ownCodeIsCorrupt', () => {
  it('throws CorruptError on every way in for a word naming this very owner, which it never holds outside a call', async () => {
    const seg = segment()
    const lock = new RobustLock(seg, seg.dataOffset, { ownCodeIsCorrupt: true })
    // Its sections still work: taken, then released within the call.
    expect(lock.tryAcquire()).toBe(true)
    lock.release()
    expect(await lock.acquireThen(undefined, () => lock.release(), 'busy')).toBeUndefined()
    // Another process writes this owner's code into the word.
    Atomics.store(seg.i32, seg.dataOffset / 4, ownerCode(seg.slot, threadId()))
    expect(thrown(() => lock.tryAcquire())).toBeInstanceOf(CorruptError)
    expect(thrown(() => lock.acquireSync({ timeout: 100 }))).toBeInstanceOf(CorruptError)
    await expect(lock.acquire({ timeout: 100 })).rejects.toThrow(CorruptError)
    await expect(lock.acquireThen({ timeout: 100 }, () => 1, 'busy')).rejects.toThrow(CorruptError)
    // Without the option, the same word is this thread holding the lock.
    const plain = new RobustLock(seg, seg.dataOffset)
    expect(plain.tryAcquire()).toBe(false)
    expect(thrown(() => plain.acquireSync({ timeout: 100 }))).toBeInstanceOf(ValueError)
    Atomics.store(seg.i32, seg.dataOffset / 4, 0)
  })

  it('refuses recursive: true', () => {
    const seg = segment()
    expect(
      thrown(() => new RobustLock(seg, seg.dataOffset, { recursive: true, ownCodeIsCorrupt: true })),
    ).toBeInstanceOf(TypeError)
  })
})
