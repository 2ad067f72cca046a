import { describe, expect, it } from 'vitest'
import { MessageTooLongError } from './errors.js'
import { FRAME_COST, FrameReader, frame, frameHeader } from './framing.js'

describe('FrameReader', () => {
  it('splits a stream into frames whatever the chunk boundaries', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(7_000, 7), Buffer.from('last')]
    const stream = Buffer.concat(payloads.map((p) => frame(p)))
    for (const step of [1, 3, 4, 5, 1000, stream.byteLength]) {
      const reader = new FrameReader(1 << 20)
      for (let i = 0; i < stream.byteLength; i += step) reader.push(stream.subarray(i, i + step))
      expect(reader.length).toBe(payloads.length)
      expect(reader.bufferedBytes).toBe(7_005 + payloads.length * FRAME_COST)
      const got: Buffer[] = []
      for (let f = reader.shift(); f !== undefined; f = reader.shift()) got.push(Buffer.from(f))
      expect(got).toEqual(payloads)
      expect(reader.bufferedBytes).toBe(0)
      for (let i = 0; i < stream.byteLength; i += step) reader.push(stream.subarray(i, i + step))
      expect(reader.shift()?.toString()).toBe('a')
      expect(reader.bufferedBytes).toBe(7_004 + (payloads.length - 1) * FRAME_COST)
    }
  })

  it('uses the 8-byte length of Python for frames of 2 GiB and more, and reads it back', () => {
    expect([...frameHeader(5)]).toEqual([0, 0, 0, 5])
    const big = frameHeader(2 ** 31)
    expect(big.readInt32BE(0)).toBe(-1)
    expect(big.readBigUInt64BE(4)).toBe(2n ** 31n)
    // A small frame announced the long way is read the same.
    const reader = new FrameReader(1 << 20)
    const header = Buffer.alloc(12)
    header.writeInt32BE(-1, 0)
    header.writeBigUInt64BE(3n, 4)
    reader.push(Buffer.concat([header, Buffer.from('xyz')]))
    expect(reader.shift()?.toString()).toBe('xyz')
  })

  it('refuses a header over maxLength before allocating, in both header forms', () => {
    const reader = new FrameReader(256)
    const error = (() => {
      try {
        reader.push(frameHeader(2 ** 31 - 1))
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(MessageTooLongError)
    expect(error).toMatchObject({ length: 2 ** 31 - 1, maxLength: 256 })
    expect(() => new FrameReader(256).push(frameHeader(2 ** 40))).toThrow(MessageTooLongError)
    // Exactly the limit passes.
    const ok = new FrameReader(3)
    ok.push(frame(Buffer.from('abc')))
    expect(ok.shift()?.toString()).toBe('abc')
    expect(() => new FrameReader(256).push(Buffer.from([0xff, 0xff, 0xff, 0xfe]))).toThrow(RangeError)
  })

  it('grows a payload as its bytes arrive: a header alone reserves 64 KiB, not what it announces', () => {
    const reader = new FrameReader(128 * 1024 * 1024)
    const header = Buffer.alloc(4)
    header.writeInt32BE(100 * 1024 * 1024)
    const before = process.memoryUsage().arrayBuffers
    // 200 readers, each told of a 100 MiB frame: 20 GB if the header reserved it.
    const readers = Array.from({ length: 200 }, () => new FrameReader(128 * 1024 * 1024))
    for (const r of readers) r.push(header)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024)
    // A frame that does arrive is whole, however it is cut.
    const payload = Buffer.alloc(300 * 1024, 7)
    payload.writeUInt32BE(0xdeadbeef, payload.byteLength - 4)
    const small = Buffer.alloc(4)
    small.writeInt32BE(payload.byteLength)
    reader.push(small)
    for (let off = 0; off < payload.byteLength; off += 10_000) reader.push(payload.subarray(off, off + 10_000))
    expect(reader.shift()?.equals(payload)).toBe(true)
  })

  it('stops after maxFrames frames and says how many bytes it used', () => {
    const stream = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two'))])
    const reader = new FrameReader(16)
    expect(reader.push(stream, 1)).toBe(7)
    expect(reader.length).toBe(1)
    // The caller sets a new limit before the next frame is parsed.
    reader.maxLength = 2
    reader.shift()
    expect(() => reader.push(stream.subarray(7), 1)).toThrow(MessageTooLongError)
  })
})
