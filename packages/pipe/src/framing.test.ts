import { describe, expect, it } from 'vitest'
import { FrameReader, frame, frameHeader } from './framing.js'

describe('FrameReader', () => {
  it('splits a stream into frames whatever the chunk boundaries', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(7_000, 7), Buffer.from('last')]
    const stream = Buffer.concat(payloads.map((p) => frame(p)))
    for (const step of [1, 3, 4, 5, 1000, stream.byteLength]) {
      const reader = new FrameReader()
      for (let i = 0; i < stream.byteLength; i += step) reader.push(stream.subarray(i, i + step))
      expect(reader.frames.map((f) => Buffer.from(f))).toEqual(payloads)
      expect(reader.bufferedBytes).toBe(7_005)
      expect(reader.shift()?.toString()).toBe('a')
      expect(reader.bufferedBytes).toBe(7_004)
    }
  })

  it('uses the 8-byte length of Python for frames of 2 GiB and more, and reads it back', () => {
    expect([...frameHeader(5)]).toEqual([0, 0, 0, 5])
    const big = frameHeader(2 ** 31)
    expect(big.readInt32BE(0)).toBe(-1)
    expect(big.readBigUInt64BE(4)).toBe(2n ** 31n)
    // A small frame announced the long way is read the same.
    const reader = new FrameReader()
    const header = Buffer.alloc(12)
    header.writeInt32BE(-1, 0)
    header.writeBigUInt64BE(3n, 4)
    reader.push(Buffer.concat([header, Buffer.from('xyz')]))
    expect(reader.shift()?.toString()).toBe('xyz')
  })
})
