import { MPMC_RING_HEADER_BYTES, mpmcRingBytes } from '@ipc/core/internal'
import { describe, expect, it } from 'vitest'
import {
  JOINABLE_QUEUE,
  LAYOUT_VERSION,
  QUEUE,
  RING_OFFSET,
  SIMPLE_QUEUE,
  W_JOIN_EVENT,
  W_JOIN_WAITERS,
  W_MAGIC,
  W_TASKS_DONE,
} from './layout.js'

describe('queue layout', () => {
  it('keeps the header words apart and inside the first 64 bytes', () => {
    const words = [W_MAGIC, W_TASKS_DONE, W_JOIN_EVENT, W_JOIN_WAITERS]
    expect(new Set(words).size).toBe(words.length)
    for (const word of words) expect(word * 4).toBeLessThan(RING_OFFSET)
  })

  it('puts the ring on a 64-byte boundary after the header', () => {
    expect(RING_OFFSET % 64).toBe(0)
    expect(mpmcRingBytes(1024)).toBe(MPMC_RING_HEADER_BYTES + 1024)
    expect(MPMC_RING_HEADER_BYTES % 64).toBe(0)
  })

  it('gives each class its own segment kind', () => {
    expect(new Set([QUEUE.segment.kind, JOINABLE_QUEUE.segment.kind, SIMPLE_QUEUE.segment.kind]).size).toBe(3)
    expect(LAYOUT_VERSION).toBe(4)
  })
})
