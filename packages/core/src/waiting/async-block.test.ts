import { describe, expect, it } from 'vitest'
import { AsyncBlock } from './async-block.js'

describe('AsyncBlock', () => {
  it('blocks the short time until the peer answers within it, then up to 1 ms', () => {
    const block = new AsyncBlock(0.05)
    expect(block.next(false)).toBe(0.05)
    block.record(true, 0.01)
    expect(block.next(false)).toBe(1)
    block.record(true, 0.02)
    expect(block.next(false)).toBe(1)
  })

  it('goes back to the short time after a block the peer did not answer, or answered late', () => {
    const block = new AsyncBlock(0.05)
    block.record(true, 0.01)
    block.record(false, 1)
    expect(block.next(false)).toBe(0.05)
    block.record(true, 0.01)
    block.record(true, 0.3) // answered, but later than the short time
    expect(block.next(false)).toBe(0.05)
  })

  it('never blocks long while another async wait of the thread is pending', () => {
    const block = new AsyncBlock(0.05)
    block.record(true, 0.01)
    expect(block.next(true)).toBe(0.05)
    expect(block.next(false)).toBe(1)
  })

  it('never blocks with a short time of 0, and keeps a short time above 1 ms', () => {
    const none = new AsyncBlock(0)
    none.record(true, 0)
    expect(none.next(false)).toBe(0)
    const long = new AsyncBlock(5)
    long.record(true, 1)
    expect(long.next(false)).toBe(5)
  })
})
