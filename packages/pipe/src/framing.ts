/**
 * Length-prefixed frames on a byte stream (TCP, or the Unix socket used to
 * meet a local listener). The header is Python's `multiprocessing.connection`
 * one: a big-endian int32 length, or -1 followed by a big-endian uint64
 * length for frames of 2 GiB and more.
 *
 * | bytes            | meaning                                   |
 * |------------------|-------------------------------------------|
 * | 0-3              | int32 BE: payload length, or -1           |
 * | 4-11 (when -1)   | uint64 BE: payload length                 |
 * | then             | payload                                   |
 *
 * Connection messages put the codec tag in the first payload byte; the
 * handshake frames (hello, challenge, handle) have no tag.
 */

import { MessageTooLongError } from './errors.js'

const INT32_MAX = 0x7fffffff

/** The header of a frame with `length` payload bytes. */
export function frameHeader(length: number): Buffer {
  if (length <= INT32_MAX) {
    const header = Buffer.allocUnsafe(4)
    header.writeInt32BE(length, 0)
    return header
  }
  const header = Buffer.allocUnsafe(12)
  header.writeInt32BE(-1, 0)
  header.writeBigUInt64BE(BigInt(length), 4)
  return header
}

/** A whole frame: header and payload in one buffer. */
export function frame(payload: Uint8Array): Buffer {
  const header = frameHeader(payload.byteLength)
  const out = Buffer.allocUnsafe(header.byteLength + payload.byteLength)
  header.copy(out, 0)
  out.set(payload, header.byteLength)
  return out
}

/** The first buffer of a frame's payload; it doubles as bytes arrive, up to the announced length. */
const FIRST_BODY_BYTES = 64 * 1024

/**
 * What a queued frame costs beyond its payload, in `bufferedBytes`: about
 * what V8 spends on a Buffer object and its slot in `frames` (~116 bytes).
 * Without it, empty frames would cost nothing and a reader that stops at a
 * byte count would queue them without bound.
 */
export const FRAME_COST = 128

/** The payload of every empty frame: nothing is allocated for one. */
const EMPTY = Buffer.alloc(0)

/**
 * Splits a byte stream into frames.
 *
 * A header that announces more than `maxLength` payload bytes throws
 * MessageTooLongError as soon as the header is complete, before anything is
 * allocated for the payload; the stream cannot be resynchronised after it.
 * A payload's buffer grows as its bytes arrive (from 64 KiB, doubling), so a
 * header alone never reserves memory: a peer that announces 128 MiB and
 * sends nothing more costs 64 KiB, not 128 MiB. `bufferedBytes` counts
 * FRAME_COST per queued frame besides its payload, so a reader that stops
 * at a byte count also stops for a flood of empty frames.
 */
export class FrameReader {
  /**
   * Complete frames (payloads only) from `#head` on, oldest first. A head
   * index, not `Array#shift`: shifting an array of 100,000 frames copies it
   * each time.
   */
  #frames: Buffer[] = []
  #head = 0
  /** What `frames` holds, in bytes: its payloads plus FRAME_COST per frame. */
  bufferedBytes = 0
  /** The longest payload accepted, in bytes; applies to headers not yet complete. */
  maxLength: number
  #header = Buffer.alloc(12)
  #headerFilled = 0
  #body: Buffer | undefined
  #bodyFilled = 0
  /** The announced payload length of the frame in `#body`. */
  #bodyLength = 0

  constructor(maxLength: number) {
    this.maxLength = maxLength
  }

  /**
   * Parses `chunk`, stopping early once `frames` holds `maxFrames` frames.
   * Returns how many bytes of `chunk` it consumed.
   *
   * @throws {MessageTooLongError} for a header over `maxLength`.
   * @throws {RangeError} for a negative length other than the -1 marker.
   */
  push(chunk: Uint8Array, maxFrames = Number.POSITIVE_INFINITY): number {
    let off = 0
    while (off < chunk.byteLength && this.length < maxFrames) {
      if (this.#body === undefined) {
        const want = this.#headerFilled >= 4 && this.#header.readInt32BE(0) === -1 ? 12 : 4
        const n = Math.min(want - this.#headerFilled, chunk.byteLength - off)
        this.#header.set(chunk.subarray(off, off + n), this.#headerFilled)
        this.#headerFilled += n
        off += n
        if (this.#headerFilled < want) continue
        const first = this.#header.readInt32BE(0)
        if (first === -1 && want === 4) continue // the uint64 length follows
        if (first < -1) throw new RangeError(`Cannot read a frame: bad length ${first}`)
        const big = first === -1 ? this.#header.readBigUInt64BE(4) : BigInt(first)
        if (big > BigInt(this.maxLength))
          throw new MessageTooLongError(`A frame announced ${big} bytes, more than the limit of ${this.maxLength}`, {
            length: Number(big),
            maxLength: this.maxLength,
          })
        const length = Number(big)
        this.#headerFilled = 0
        this.#body = length === 0 ? EMPTY : Buffer.allocUnsafe(Math.min(length, FIRST_BODY_BYTES))
        this.#bodyLength = length
        this.#bodyFilled = 0
        if (length === 0) this.#finish()
        continue
      }
      const n = Math.min(this.#bodyLength - this.#bodyFilled, chunk.byteLength - off)
      if (this.#bodyFilled + n > this.#body.byteLength) {
        // Grow to what has arrived, at least doubling, at most the announced length.
        const grown = Buffer.allocUnsafe(
          Math.min(this.#bodyLength, Math.max(this.#body.byteLength * 2, this.#bodyFilled + n)),
        )
        grown.set(this.#body.subarray(0, this.#bodyFilled))
        this.#body = grown
      }
      this.#body.set(chunk.subarray(off, off + n), this.#bodyFilled)
      this.#bodyFilled += n
      off += n
      if (this.#bodyFilled === this.#bodyLength) this.#finish()
    }
    return off
  }

  #finish(): void {
    const body = this.#body as Buffer
    this.#body = undefined
    this.#frames.push(body)
    this.bufferedBytes += body.byteLength + FRAME_COST
  }

  /** How many complete frames wait. */
  get length(): number {
    return this.#frames.length - this.#head
  }

  /** The oldest complete frame, left in place. */
  first(): Buffer | undefined {
    return this.#frames[this.#head]
  }

  /** Removes and returns the oldest complete frame. */
  shift(): Buffer | undefined {
    if (this.#head === this.#frames.length) return undefined
    const f = this.#frames[this.#head] as Buffer
    this.#frames[this.#head++] = EMPTY
    this.bufferedBytes -= f.byteLength + FRAME_COST
    if (this.#head === this.#frames.length) {
      this.#frames = []
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#frames.length) {
      // Drop the taken slots once they are half the array: amortised O(1) per frame.
      this.#frames = this.#frames.slice(this.#head)
      this.#head = 0
    }
    return f
  }
}
