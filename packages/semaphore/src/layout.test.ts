import { HEADER_BYTES } from '@ipc/core/internal'
import { describe, expect, it } from 'vitest'
import {
  COUNT_SHIFT,
  countOf,
  DATA_BYTES,
  HANDOFF,
  HEADER_WORDS,
  headerIndex,
  MAX_VALUE,
  ONE,
  SLOT_COUNT,
  SLOT_WORDS,
  slotIndex,
  TAG_MASK,
  W_STATE,
} from './layout.js'

describe('layout', () => {
  it('keeps the tag, HANDOFF and the count in separate bits of STATE', () => {
    expect(TAG_MASK & HANDOFF).toBe(0)
    expect(ONE).toBe(1 << COUNT_SHIFT)
    expect(TAG_MASK | HANDOFF).toBe(ONE - 1)
    // Slot + 1 must fit in the tag for every slot.
    expect(SLOT_COUNT).toBeLessThanOrEqual(TAG_MASK)
    // The largest count survives the Int32 round trip.
    const state = (MAX_VALUE * ONE) | HANDOFF | 7
    expect(countOf(new Int32Array([state])[0] as number)).toBe(MAX_VALUE)
  })

  it('gives every slot its own 64-byte record after a 64-byte header', () => {
    expect(HEADER_WORDS * 4).toBe(64)
    expect(SLOT_WORDS * 4).toBe(64)
    expect(DATA_BYTES).toBe(64 + SLOT_COUNT * 64)
    expect(headerIndex(HEADER_BYTES, W_STATE) * 4).toBe(HEADER_BYTES + 4)
    expect(slotIndex(HEADER_BYTES, 1, 0) * 4 - slotIndex(HEADER_BYTES, 0, 0) * 4).toBe(64)
    expect((slotIndex(HEADER_BYTES, 0, 0) * 4) % 64).toBe(0)
  })
})
