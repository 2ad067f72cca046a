import { describe, expect, it } from 'vitest'
import { arrayIndex, arrayIndexOfBytes, ElementStore, parsedElementsBytes } from './element-store.js'

describe('arrayIndex()', () => {
  it('reads canonical array indices 0 to 4294967294 and nothing else', () => {
    expect(['0', '7', '1023', '4294967294'].map(arrayIndex)).toEqual([0, 7, 1023, 4294967294])
    expect(['', '01', '-1', '1.5', '4294967295', '1e3', ' 1', '12345678901'].map(arrayIndex)).toEqual([
      -1, -1, -1, -1, -1, -1, -1, -1,
    ])
  })

  it('reads the same from bytes, one or two a char', () => {
    for (const key of ['0', '1023', '01', '4294967294', '4294967295', 'a1'])
      expect([
        arrayIndexOfBytes(Buffer.from(key, 'latin1'), 0, key.length, 1),
        arrayIndexOfBytes(Buffer.from(key, 'utf16le'), 0, key.length, 2),
      ]).toEqual([arrayIndex(key), arrayIndex(key)])
  })
})

describe('ElementStore#set()', () => {
  it('grows a fast store through gaps under 1,024 slots: 1023 then 2574 make 1,552 then 3,878 slots', () => {
    const store = new ElementStore()
    expect(store.set(1023)).toBe(16 + 8 * 1552)
    expect(store.set(2574)).toBe(16 + 10 * (3878 - 1552))
    expect(store.set(100)).toBe(0)
  })

  it('moves to a dictionary past the gap, and back to a fast store when that is at most twice the table', () => {
    const store = new ElementStore()
    expect(store.set(0)).toBe(16 + 8 * 17)
    const dictionary = store.set(5000) // 4,984 past 17 slots: a dictionary of 2 entries (a table of 4)
    expect(dictionary).toBe(16 + 10 * (3 * 4 + 4))
    expect(store.set(3000)).toBe(0) // a third entry: the table of 4 has room
    let fast = 0
    // Once the table reaches 1,024 entries (3 slots each), a store of 5,001 slots is at most twice it: fast again.
    for (let i = 1; i < 1000; i++) {
      const bytes = store.set(i)
      if (bytes === 16 + 10 * 5001) fast = i
    }
    expect(fast).toBe(340) // the 343rd entry: 342 had grown the table to 1,024
    expect(store.set(5001)).toBe(16 + 10 * (7519 - 5001))
  })

  it('charges the store an array length makes, and grows it from there', () => {
    const store = new ElementStore(100, 0, 100)
    expect(store.set(99)).toBe(0)
    expect(store.set(100)).toBe(16 + 10 * (167 - 100))
  })
})

describe('parsedElementsBytes()', () => {
  it('gives a fast store of max + 1 slots below 9 × the dictionary capacity, a dictionary from there (JSON.parse)', () => {
    expect(parsedElementsBytes(2, 2)).toBe(16 + 10 * 3)
    expect(parsedElementsBytes(1, 23)).toBe(16 + 10 * 24)
    expect(parsedElementsBytes(1, 1023)).toBe(16 + 10 * (3 * 4 + 4))
    expect(parsedElementsBytes(33, 574)).toBe(16 + 10 * 575)
    expect(parsedElementsBytes(33, 575)).toBe(16 + 10 * (3 * 64 + 4))
  })
})
