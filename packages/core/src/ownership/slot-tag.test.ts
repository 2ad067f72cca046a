import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CorruptError, TimeoutError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { SlotTagWatch, TAG_STALL_MS } from './slot-tag.js'

const KIND = { kind: 'test-tag', version: 1 }
/** Tag bits of the test word: the low 8, as the semaphore's STATE uses. */
const TAG_MASK = 0xff

function setup(): { owner: Segment; reader: Segment; word: number; watch: SlotTagWatch } {
  const owner = Segment.create(KIND, 8, { name: uniqueName('tag') })
  const reader = Segment.open(KIND, owner.name)
  onTestFinished(() => {
    reader.close()
    owner.unlink()
    owner.close()
  })
  const word = owner.dataOffset / 4
  const watch = new SlotTagWatch(reader, word, TAG_MASK, reader.slot + 1, 'STATE', {
    corrupt: (detail) => new CorruptError(detail),
    stall: (slot) => new TimeoutError(`slot ${slot} stalled`),
  })
  return { owner, reader, word, watch }
}

// A dead owner reaped by the watch (its journal finishing the operation):
// packages/semaphore/test/corruption.test.ts, "under the dead holder's tag".
describe('SlotTagWatch', () => {
  it('returns true at once when the word no longer carries the owner’s tag', () => {
    const { owner, word, watch } = setup()
    Atomics.store(owner.i32, word, 5 << 8)
    expect(watch.awaitUntag((5 << 8) | (owner.slot + 1), 0)).toBe(true)
  })

  it('waits out a live owner until the deadline, then returns false', () => {
    const { owner, word, watch } = setup()
    const tagged = (5 << 8) | (owner.slot + 1)
    Atomics.store(owner.i32, word, tagged)
    const started = performance.now()
    expect(watch.awaitUntag(tagged, started + 30)).toBe(false)
    expect(performance.now() - started).toBeGreaterThanOrEqual(29)
    expect(watch.awaitUntag(tagged, 0, true)).toBe(false) // poll: one look
  })

  it('refuses a tag above the slot table and its own tag with CorruptError', () => {
    const { reader, watch } = setup()
    expect(() => watch.awaitUntag(200, 0)).toThrow(/STATE has tag 200, above 128/)
    expect(() => watch.awaitUntag(reader.slot + 1, 0)).toThrow(/this object's own tag/)
  })

  it('calls a tag whose slot nobody holds corruption once the liveness delay has passed', () => {
    const { owner, word, watch } = setup()
    const tagged = (1 << 8) | 100 // slot 99: never claimed
    Atomics.store(owner.i32, word, tagged)
    expect(() => watch.awaitUntag(tagged, performance.now() + 1000)).toThrow(/slot 99, which no object holds/)
  })

  it('throws TimeoutError when a live owner keeps the same value TAG_STALL_MS, across polls', () => {
    const { owner, word, watch } = setup()
    const tagged = (3 << 8) | (owner.slot + 1)
    Atomics.store(owner.i32, word, tagged)
    const started = performance.now()
    let error: unknown
    try {
      // A wait loop's polls, 10 ms apart: they continue one stall.
      for (;;) {
        expect(watch.awaitUntag(tagged, 0, true)).toBe(false)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
      }
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as Error).message).toBe(`slot ${owner.slot} stalled`)
    expect(performance.now() - started).toBeGreaterThanOrEqual(TAG_STALL_MS - 1)
  })

  it('measures the stall per owner: a value that keeps changing under one live tag still throws TimeoutError', () => {
    const { owner, word, watch } = setup()
    const tag = owner.slot + 1
    const started = performance.now()
    let error: unknown
    let flips = 0
    try {
      // Polls 10 ms apart, the value changed before each (a scribbler's flips).
      for (;;) {
        Atomics.store(owner.i32, word, ((1 + (flips++ & 1)) << 8) | tag)
        expect(watch.awaitUntag(Atomics.load(owner.i32, word), 0, true)).toBe(false)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
        if (performance.now() - started > 3 * TAG_STALL_MS) break
      }
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(TimeoutError)
    expect(performance.now() - started).toBeLessThan(TAG_STALL_MS + 500)
  })

  it('ends the wait when the word is untagged or another owner tags it, not when the same owner changes the value', () => {
    const { owner, word, watch } = setup()
    const tag = owner.slot + 1
    Atomics.store(owner.i32, word, (1 << 8) | tag)
    // Same owner, another value, before the call: still that owner's tag, the spin-only call gives up.
    expect(watch.awaitUntag((2 << 8) | tag, 0)).toBe(false)
    // Another owner's tag (not the reader's own: a third attachment's).
    const third = Segment.open(KIND, owner.name)
    try {
      Atomics.store(owner.i32, word, (1 << 8) | (third.slot + 1))
      expect(watch.awaitUntag((1 << 8) | tag, 0)).toBe(true)
    } finally {
      third.close()
    }
    Atomics.store(owner.i32, word, 1 << 8)
    expect(watch.awaitUntag((1 << 8) | tag, 0)).toBe(true)
  })
})
