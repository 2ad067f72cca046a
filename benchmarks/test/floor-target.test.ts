import { describe, expect, it } from 'vitest'
import { peerOrFloor } from '../src/floor-target.ts'

const target = peerOrFloor({ name: 'python', text: 'Python' }, { name: 'node (floor)', text: 'the Node floor' }, 1.25)

describe('peerOrFloor()', () => {
  it('names the peer, the margin and the floor', () => {
    expect(target.text).toBe('≤ Python, or ≤ 1.25× the Node floor when that floor is above Python')
  })

  it('is met at or below the peer, whatever the floor', () => {
    expect(target.met(2, { python: 2, 'node (floor)': 1 })).toBe(true)
    expect(target.met(2, { python: 3 })).toBe(true)
  })

  it('judges against the peer while the floor is at or below it', () => {
    expect(target.met(2.1, { python: 2, 'node (floor)': 2 })).toBe(false)
    expect(target.met(2.1, { python: 2, 'node (floor)': 1.9 })).toBe(false)
  })

  it('allows the margin over the floor where the floor is above the peer, and no more', () => {
    expect(target.met(3.75, { python: 2, 'node (floor)': 3 })).toBe(true)
    expect(target.met(3.76, { python: 2, 'node (floor)': 3 })).toBe(false)
  })

  it('cannot tell without the peer, or above the peer without the floor', () => {
    expect(target.met(1, { 'node (floor)': 3 })).toBeUndefined()
    expect(target.met(3, { python: 2 })).toBeUndefined()
  })
})
